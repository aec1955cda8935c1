// Summaries of a sample: quantiles, a five-number description, and the seeded percentile bootstrap.

import { mean, quantileSorted, sampleVariance, sampleRankCorrelation } from 'simple-statistics';
import { createRng } from './rng.js';

/**
 * Linear-interpolated quantile (R-7, numpy's default) of an unsorted sample; NaNs are ignored, empty gives NaN.
 * @example
 *   quantile([3, 1, 2, 4], 0.5); // 2.5
 */
export function quantile(x: ArrayLike<number>, q: number): number {
  const s = Array.from(x)
    .filter((v) => !Number.isNaN(v))
    .sort((u, v) => u - v);
  return s.length ? quantileSorted(s, q) : NaN;
}

/**
 * Mean, min, max and the 2.5% / 97.5% quantiles of a sample (for random-baseline summaries).
 * @example
 *   describe([1, 2, 3]).mean; // 2
 */
export function describe(xs: readonly number[]): { n: number; mean: number; min: number; max: number; q025: number; q975: number } {
  if (!xs.length) return { n: 0, mean: NaN, min: NaN, max: NaN, q025: NaN, q975: NaN };
  const arr = [...xs];
  return {
    n: xs.length,
    mean: mean(arr),
    min: Math.min(...arr),
    max: Math.max(...arr),
    q025: quantile(arr, 0.025),
    q975: quantile(arr, 0.975),
  };
}

/**
 * Percentile bootstrap interval of stat(sample), resampling elements with replacement (seeded).
 * @example
 *   bootstrapCI([1, 2, 3, 4], (s) => s.reduce((a, b) => a + b) / s.length, { seed: 1 }); // {estimate: 2.5, low, high, se}
 */
export function bootstrapCI<T>(
  data: readonly T[],
  stat: (sample: T[]) => number,
  opts: { resamples?: number; seed?: number; conf?: number } = {},
): { estimate: number; low: number; high: number; se: number } {
  const B = opts.resamples ?? 2000;
  const conf = opts.conf ?? 0.95;
  const rng = createRng(opts.seed ?? 0);
  const vals: number[] = [];
  const buf: T[] = new Array(data.length);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < data.length; i++) buf[i] = data[rng.int(data.length)];
    vals.push(stat(buf));
  }
  vals.sort((u, v) => u - v);
  return {
    estimate: stat([...data]),
    low: quantileSorted(vals, (1 - conf) / 2),
    high: quantileSorted(vals, 1 - (1 - conf) / 2),
    se: vals.length > 1 ? Math.sqrt(sampleVariance(vals)) : NaN,
  };
}

/**
 * Spearman's rank correlation of two paired samples (average ranks on ties).
 * @example rankCorrelation([1, 2, 3], [10, 30, 20]); // 0.5
 */
export function rankCorrelation(x: number[], y: number[]): number {
  return sampleRankCorrelation(x, y);
}
