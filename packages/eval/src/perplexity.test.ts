// Perplexity against hand-computable logits: uniform logits give ppl = V; a one-hot-ish model gives ~1.
import { describe, it, expect } from 'vitest';
import { perplexity } from './perplexity.js';
import type { MoeModel } from '@mote/moe-runtime';

function model(V: number, logit: (prev: number, next: number) => number): MoeModel {
  return {
    tokenizer: { encode: (t: string) => [...t].map((c) => c.charCodeAt(0) - 97) },
    forward: async (batch: number[][]) => {
      const T = Math.max(...batch.map((b) => b.length));
      const data = new Float32Array(batch.length * T * V);
      batch.forEach((ids, b) =>
        ids.forEach((id, t) => {
          for (let v = 0; v < V; v++) data[(b * T + t) * V + v] = logit(id, v);
        }),
      );
      return { logits: { dtype: 'float32', shape: [batch.length, T, V], data } };
    },
  } as unknown as MoeModel;
}

describe('perplexity', () => {
  it('is V for uniform logits', async () => {
    const r = await perplexity(
      model(8, () => 0),
      ['abcd', 'hgfedcba'],
      { batchSize: 1 },
    );
    expect(r.tokens).toBe(3 + 7);
    expect(r.ppl).toBeCloseTo(8, 5);
    expect(r.nll).toBeCloseTo(Math.log(8), 6);
  });
  it('weights texts by tokens and approaches 1 for a confident correct model', async () => {
    const next = (p: number, v: number) => (v === (p + 1) % 4 ? 20 : 0);
    const r = await perplexity(model(4, next), ['abcd', 'ab'], { batchSize: 2 });
    expect(r.ppl).toBeCloseTo(1, 6);
    // log-softmax by hand for a two-way logit (2 vs 0) over V = 2: nll = log(1 + e^-2)
    const two = await perplexity(
      model(2, (p, v) => (v === p ? 2 : 0)),
      ['aaaa'],
    );
    expect(two.nll).toBeCloseTo(Math.log(1 + Math.exp(-2)), 6);
  });
});
