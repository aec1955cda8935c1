// Next-token choice: greedy argmax, or seeded sampling with temperature, top-k and top-p.

import type { SamplingOptions } from './types.js';

export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

/** Whether `o` picks the argmax (no temperature above 0). */
export const isGreedy = (o: SamplingOptions): boolean => !((o.temperature ?? 0) > 0);

/** Pick a token from one row of logits [V]. */
export function sample(logits: Float32Array, o: SamplingOptions, random: () => number): number {
  if (isGreedy(o)) return argmax(logits);
  const temp = o.temperature!;
  const V = logits.length;
  let idx = Array.from({ length: V }, (_, i) => i).sort((a, b) => logits[b] - logits[a] || a - b);
  if (o.topK && o.topK > 0) idx = idx.slice(0, o.topK);
  const m = logits[idx[0]];
  let p = idx.map((i) => Math.exp((logits[i] - m) / temp));
  let z = p.reduce((a, b) => a + b, 0);
  p = p.map((x) => x / z);
  if (o.topP !== undefined && o.topP < 1) {
    let c = 0;
    let keep = 0;
    while (keep < p.length && (keep === 0 || c < o.topP)) c += p[keep++];
    idx = idx.slice(0, keep);
    p = p.slice(0, keep);
    z = p.reduce((a, b) => a + b, 0);
    p = p.map((x) => x / z);
  }
  let r = random();
  for (let j = 0; j < p.length; j++) {
    r -= p[j];
    if (r < 0) return idx[j];
  }
  return idx[idx.length - 1];
}
