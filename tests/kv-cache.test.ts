// The KV cache buffers (kv-cache.ts): slots with spare capacity that grow when full, rows leaving the batch,
// sliding windows. Decoding through the cache must give the logits of a one-shot forward of the whole
// sequence (a separate path: no cache is written there), step by step, across several growths.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type Model } from '@mote/moe-runtime';

const FIX = join(import.meta.dirname, 'fixtures', 'tiny-moe');

async function cachedVsForward(model: Model, prompts: number[][], steps: number, stopTokens: number[] = []): Promise<number> {
  const V = model.info.vocabSize;
  const got = new Map<number, Float32Array[]>();
  const gens = await model.generate(prompts, {
    maxNewTokens: steps,
    stopTokens,
    batchSize: prompts.length,
    onLogits: (seq, row) => {
      got.set(seq, [...(got.get(seq) ?? []), row.slice()]);
    },
  });
  let worst = 0;
  for (const [i, p] of prompts.entries()) {
    const full = [...p, ...gens[i].ids.slice(0, -1)]; // every token fed to the model
    const ref = (await model.forward([full], { logits: 'all' })).logits!.data as Float32Array;
    got.get(i)!.forEach((row, s) => {
      const at = (p.length - 1 + s) * V;
      for (let v = 0; v < V; v++) worst = Math.max(worst, Math.abs(row[v] - ref[at + v]));
    });
  }
  return worst;
}

describe.each(['olmoe', 'gpt_oss', 'deepseek_v3', 'deepseek_v2'])('KV cache, %s', (arch) => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(join(FIX, arch), { threads: 1, cache: false });
  });
  afterAll(async () => {
    await model.dispose();
  });

  it('decoding 80 tokens through a growing cache gives the one-shot forward logits', async () => {
    // prompt of 5: 37 slots after the prefill (32 spare), grown to 70 at position 38 and to 103 at 71
    expect(await cachedVsForward(model, [[1, 5, 9, 2, 7]], 80)).toBeLessThan(1e-4);
  });

  it('rows of different lengths in one batch (left-padded), one leaving early, each decoded as alone', async () => {
    const prompts = [
      [3, 4],
      [1, 5, 9, 2, 7, 6, 8, 3, 2],
      [11, 12, 13, 14],
    ];
    const [first] = await model.generate([prompts[0]], { maxNewTokens: 3, stopTokens: [] });
    expect(await cachedVsForward(model, prompts, 20, [first.ids[2]])).toBeLessThan(1e-4); // row 0 stops at its 3rd token
  });
});

describe.each(['deepseek_v3', 'deepseek_v2'])('MLA latent cache, %s', (arch) => {
  it('holds kv_lora_rank + qk_rope_head_dim float32 values per token and layer (not per-head K/V)', async () => {
    const cfg = JSON.parse(readFileSync(join(FIX, arch, 'config.json'), 'utf8'));
    const model = await loadModel(join(FIX, arch), { threads: 1, cache: false });
    try {
      expect(model.kvBytesPerToken()).toBe((cfg.kv_lora_rank + cfg.qk_rope_head_dim) * 4);
      const expanded = cfg.num_attention_heads * (cfg.qk_nope_head_dim + cfg.qk_rope_head_dim + cfg.v_head_dim) * 4;
      expect(model.kvBytesPerToken()).toBeLessThan(expanded);
    } finally {
      await model.dispose();
    }
  });
});
