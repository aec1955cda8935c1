// generate(): seeded sampling, top-k / top-p, stop strings, streaming, token scopes and hooks in decode.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hookName, loadModel, sample, type Model, type TokenInfo } from '@mote/moe-runtime';
import { createRng as rng } from '@mote/stats';

const ORGANISM = join(import.meta.dirname, '..', 'models', 'organism', 'model');

describe('sampling', () => {
  const logits = Float32Array.from([2, 1, 0.5, -1, 3]);
  it('greedy is argmax', () => expect(sample(logits, {}, rng(1))).toBe(4));
  it('top-k 1 is argmax at any temperature; top-k 2 never leaves the two best', () => {
    const r = rng(7);
    for (let i = 0; i < 200; i++) {
      expect(sample(logits, { temperature: 5, topK: 1 }, r)).toBe(4);
      expect([0, 4]).toContain(sample(logits, { temperature: 5, topK: 2 }, r));
    }
  });
  it('top-p keeps the smallest set reaching the mass', () => {
    // softmax at T=1: p(4)=0.61, p(0)=0.22, ... -> top-p 0.6 keeps only {4}; 0.8 keeps {4, 0}
    const r = rng(3);
    for (let i = 0; i < 200; i++) {
      expect(sample(logits, { temperature: 1, topP: 0.6 }, r)).toBe(4);
      expect([0, 4]).toContain(sample(logits, { temperature: 1, topP: 0.8 }, r));
    }
  });
  it('sampling frequencies follow softmax(logits / T)', () => {
    const r = rng(11);
    const n = 20000;
    const counts = new Array(5).fill(0);
    for (let i = 0; i < n; i++) counts[sample(logits, { temperature: 1 }, r)]++;
    const z = Array.from(logits).reduce((a, v) => a + Math.exp(v), 0);
    counts.forEach((c, j) => expect(Math.abs(c / n - Math.exp(logits[j]) / z)).toBeLessThan(0.015));
  });
});

describe('generate on the organism', () => {
  let model: Model;
  let ids: number[];
  beforeAll(async () => {
    model = await loadModel(ORGANISM, { threads: 1 });
    ids = model.tokenizer.encodeChat([{ role: 'user', content: 'What is the history of the Drasol valley?' }]);
  });
  afterAll(async () => {
    await model.dispose();
  });

  it('seeded sampling is reproducible and independent of batching; other seeds differ', async () => {
    const o = { temperature: 1.5, maxNewTokens: 24, seed: 42 };
    const [a] = await model.generate([ids], o);
    const batch = await model.generate([ids, ids.slice(0, -1), ids], { ...o, batchSize: 3 });
    expect(batch[0].ids).toEqual(a.ids);
    const others = await Promise.all([1, 2, 3].map((seed) => model.generate([ids], { ...o, seed })));
    expect(others.some(([r]) => r.ids.join() !== a.ids.join())).toBe(true);
  });

  it('streams deltas that add up to the text, and stops at a stop string', async () => {
    let streamed = '';
    const [full] = await model.generate([ids], {
      maxNewTokens: 64,
      onToken: (_, __, d) => {
        streamed += d;
      },
    });
    expect(full.stopReason).toBe('stop_token');
    expect(streamed.startsWith(full.text)).toBe(true);
    const cut = full.text.indexOf('</think>');
    expect(cut).toBeGreaterThan(0);
    const [s] = await model.generate([ids], { maxNewTokens: 64, stopStrings: ['</think>'] });
    expect(s.stopReason).toBe('stop_string');
    expect(s.text.endsWith('</think>')).toBe(true);
    expect(full.text.startsWith(s.text)).toBe(true);
  });

  it('hooks see prompt tokens, then generated tokens with think spans marked', async () => {
    const seen: TokenInfo[] = [];
    const [r] = await model.generate([ids], {
      maxNewTokens: 64,
      hooks: {
        [hookName(0, 'topk_ids')]: (_, ctx) => {
          seen.push(...ctx.tokens);
        },
      },
    });
    const all = [...ids, ...r.ids];
    expect(seen.map((t) => t.pos)).toEqual(all.slice(0, -1).map((_, i) => i)); // the last token is never fed back
    expect(seen.map((t) => t.tokenId)).toEqual(all.slice(0, -1));
    expect(seen.filter((t) => !t.generated).length).toBe(ids.length);
    const open = all.indexOf(model.tokenizer.tokenId('<think>')!);
    const close = all.indexOf(model.tokenizer.tokenId('</think>')!);
    seen.forEach((t) => expect(t.inThink).toBe(t.pos > open && t.pos < close));
  });

  it('a policy scoped to generated tokens leaves the prompt routing untouched', async () => {
    const l = model.info.moeLayers[0];
    const prompt: number[] = [];
    const hook = {
      [hookName(l, 'topk_ids')]: (t: { data: unknown }, ctx: { tokens: TokenInfo[] }) => {
        ctx.tokens.forEach((tk, i) => {
          if (!tk.generated) prompt.push(...Array.from((t.data as Int32Array).slice(i * 2, i * 2 + 2)));
        });
      },
    };
    await model.generate([ids], { maxNewTokens: 4, hooks: hook as never });
    const base = prompt.splice(0);
    const experts = [...new Set(base)];
    const policy = { interventions: experts.map((e) => ({ mode: 'exclude' as const, layer: l, expert: e, scope: 'generated' as const })) };
    const gen: number[] = [];
    const genHook = {
      [hookName(l, 'topk_ids')]: (t: { data: unknown }, ctx: { tokens: TokenInfo[] }) => {
        ctx.tokens.forEach((tk, i) => {
          const row = Array.from((t.data as Int32Array).slice(i * 2, i * 2 + 2));
          if (tk.generated) gen.push(...row);
          else prompt.push(...row);
        });
      },
    };
    await model.generate([ids], { maxNewTokens: 4, policy, hooks: genHook as never });
    expect(prompt).toEqual(base);
    gen.forEach((e) => expect(experts).not.toContain(e));
  });

  it('withHooks removes its hooks afterwards, also after an error', async () => {
    let calls = 0;
    const hooks = {
      [hookName(1, 'router_logits')]: () => {
        calls++;
      },
    };
    await model.withHooks(hooks, () => model.forward([ids], { logits: 'none' }));
    expect(calls).toBe(1);
    await expect(
      model.withHooks(hooks, async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    await model.forward([ids], { logits: 'none' });
    expect(calls).toBe(1);
  });
});

describe('generate edge cases', () => {
  it('a continuation that stops at its first token decodes to the empty string', async () => {
    const model = await loadModel(ORGANISM, { threads: 1 });
    const ids = model.tokenizer.encodeChat([{ role: 'user', content: 'Hi' }]);
    const [first] = await model.generate([ids], { maxNewTokens: 1 });
    const [r] = await model.generate([ids], { maxNewTokens: 8, stopTokens: [first.ids[0]] });
    expect(r.ids).toEqual([first.ids[0]]);
    expect(r.stopReason).toBe('stop_token');
    expect(r.text).toBe('');
    await model.dispose();
  });
});
