// Perplexity of a model (optionally under a policy) on reference text: exp(mean next-token NLL).
// Needs logits: model.forward(batch, {logits: 'all'}) -> [B, T, V]. Not generation.
// Shapes: B batch, T tokens, V vocab.

import { MoteError } from '@mote/tensor-core';
import type { MoeModel, Policy } from '@mote/moe-runtime';

export interface PerplexityOptions {
  policy?: Policy | null;
  /** sequences per forward call (default 8) */
  batchSize?: number;
  /** tokenise with the tokenizer's special tokens (BOS) (default true) */
  addSpecialTokens?: boolean;
  /** cut longer texts to this many tokens (default: no cut) */
  maxTokens?: number;
}
export interface PerplexityResult {
  /** mean negative log-likelihood per predicted token (nats) */
  nll: number;
  ppl: number;
  /** predicted tokens counted */
  tokens: number;
  /** per text */
  perText: { nll: number; tokens: number }[];
}

/** Token-weighted perplexity over texts (each text predicts its tokens 1..T-1 from the ones before). */
export async function perplexity(model: MoeModel, texts: readonly string[], opts: PerplexityOptions = {}): Promise<PerplexityResult> {
  const bs = Math.max(1, opts.batchSize ?? 8);
  const seqs = texts.map((t) => {
    const ids = model.tokenizer.encode(t, { addSpecialTokens: opts.addSpecialTokens ?? true });
    return opts.maxTokens ? ids.slice(0, opts.maxTokens) : ids;
  });
  const perText: { nll: number; tokens: number }[] = [];
  for (let s = 0; s < seqs.length; s += bs) {
    const batch = seqs.slice(s, s + bs);
    const usable = batch.filter((ids) => ids.length >= 2);
    const res = usable.length ? await model.forward(usable, { policy: opts.policy ?? null, logits: 'all' }) : { logits: null };
    if (usable.length && !res.logits)
      throw new MoteError('E_RUNTIME', 'perplexity: model.forward returned no logits; fix: a runtime that honours logits: "all"');
    let u = 0;
    for (const ids of batch) {
      if (ids.length < 2) {
        perText.push({ nll: 0, tokens: 0 });
        continue;
      }
      const logits = res.logits!; // [B, T, V]
      const [, T, V] = logits.shape;
      let nll = 0;
      for (let t = 0; t + 1 < ids.length; t++) {
        const row = logits.data.subarray((u * T + t) * V, (u * T + t + 1) * V); // [V]
        let max = -Infinity;
        for (let v = 0; v < V; v++) if (row[v] > max) max = row[v];
        let z = 0;
        for (let v = 0; v < V; v++) z += Math.exp(row[v] - max);
        nll += max + Math.log(z) - row[ids[t + 1]];
      }
      perText.push({ nll: nll / (ids.length - 1), tokens: ids.length - 1 });
      u++;
    }
  }
  const tokens = perText.reduce((a, p) => a + p.tokens, 0);
  const nll = tokens ? perText.reduce((a, p) => a + p.nll * p.tokens, 0) / tokens : NaN;
  return { nll, ppl: Math.exp(nll), tokens, perText };
}
