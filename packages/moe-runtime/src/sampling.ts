// Next-token choice: greedy argmax, or seeded sampling with temperature, top-k and top-p.

import { MoteError } from '@mote/tensor-core';
import type { SamplingOptions } from './types.js';

export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

/** Refuse sampling settings outside their domain (a negative temperature is not greedy, top-p 2 is not 1). */
export function checkSampling(o: SamplingOptions & { maxNewTokens?: number }): void {
  const bad = (field: string, v: unknown, want: string): never => {
    throw new MoteError('E_INPUT', `${field} must be ${want}, got ${JSON.stringify(v) ?? String(v)}`, { field });
  };
  if (o.temperature !== undefined && !(Number.isFinite(o.temperature) && o.temperature >= 0))
    bad('temperature', o.temperature, 'a finite number >= 0');
  if (o.topK !== undefined && !(Number.isSafeInteger(o.topK) && o.topK >= 1)) bad('topK', o.topK, 'a whole number >= 1');
  if (o.topP !== undefined && !(Number.isFinite(o.topP) && o.topP > 0 && o.topP <= 1)) bad('topP', o.topP, 'a number in (0, 1]');
  if (o.seed !== undefined && !Number.isSafeInteger(o.seed)) bad('seed', o.seed, 'a whole number');
  if (o.maxNewTokens !== undefined && !(Number.isSafeInteger(o.maxNewTokens) && o.maxNewTokens >= 0))
    bad('maxNewTokens', o.maxNewTokens, 'a whole number >= 0');
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
