// The organism (tiny trained qwen3_moe with an R1-style chat template): chat rendering, last-position
// logits and greedy continuations from models/organism/golden.json, and batched generation agreeing.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type Model } from '@mote/moe-runtime';

const ROOT = join(import.meta.dirname, '..', 'models', 'organism');
const golden = JSON.parse(readFileSync(join(ROOT, 'golden.json'), 'utf8')) as {
  cases: { name: string; prompt: string; rendered_prompt: string; prompt_ids: number[]; last_logits: number[]; greedy_ids: number[] }[];
};

describe('organism', () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(join(ROOT, 'model'), { threads: 1 });
  });
  afterAll(async () => {
    await model.dispose();
  });

  for (const c of golden.cases) {
    it(`${c.name}: chat template renders and encodes as the golden`, () => {
      const msgs = [{ role: 'user', content: c.prompt }];
      expect(model.tokenizer.applyChatTemplate(msgs)).toBe(c.rendered_prompt);
      expect(model.tokenizer.encodeChat(msgs)).toEqual(c.prompt_ids);
    });
    it(`${c.name}: last-position logits and greedy continuation`, async () => {
      const r = await model.forward([c.prompt_ids], { logits: 'last' });
      const got = r.logits!.data as Float32Array;
      const err = c.last_logits.reduce((m, v, j) => Math.max(m, Math.abs(v - got[j])), 0);
      expect(err).toBeLessThan(1e-4);
      const [g] = await model.generate([c.prompt_ids], { maxNewTokens: 64 });
      expect(g.ids).toEqual(c.greedy_ids);
    });
  }

  it('batched greedy generation equals one-by-one', async () => {
    const batch = await model.generate(
      golden.cases.map((c) => c.prompt_ids),
      { maxNewTokens: 64, batchSize: 8 },
    );
    batch.forEach((g, i) => expect(g.ids).toEqual(golden.cases[i].greedy_ids));
  });
});
