// Statistics that simple-statistics lacks: Fisher's exact test, Benjamini–Hochberg, Wilson, Katz and
// Woolf intervals, the one-sample Kolmogorov–Smirnov test, Jaccard, and seeded permutation / bootstrap
// helpers for users. The vectorised per-expert engine lives in contrast.ts; these are the scalar tools.

import { gammaln, quantileSorted, sampleVariance } from 'simple-statistics';
import { MoteError } from '@mote/tensor-core';
import { createRng, shuffleRange } from './rng.js';

export type Alternative = 'two-sided' | 'greater' | 'less';

/** z such that P(|Z| <= z) = conf for a standard normal Z (1.959964 for 0.95). */
export function zFor(conf: number): number {
  if (!(conf > 0 && conf < 1)) throw new MoteError('E_INPUT', `confidence level must be in (0, 1), got ${conf}`, { field: 'conf' });
  return normalQuantile(1 - (1 - conf) / 2);
}

/**
 * Upper tail P(Z > z) of the standard normal, accurate in relative terms far into the tail
 * (erfc by Numerical Recipes' Chebyshev fit, fractional error < 1.2e-7).
 */
export function normalTail(z: number): number {
  const x = z / Math.SQRT2;
  const ax = Math.abs(x), t = 1 / (1 + 0.5 * ax);
  const e = t * Math.exp(-ax * ax - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  const erfc = x >= 0 ? e : 2 - e;
  return erfc / 2;
}

/**
 * Standard normal quantile (Acklam's rational approximation, relative error < 1.2e-9). simple-statistics'
 * probit is only good to ~3e-3 (it gives 1.9572 for 0.975), too coarse for interval tests.
 */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) return p === 0 ? -Infinity : p === 1 ? Infinity : NaN;
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  if (p < lo) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - lo) return -normalQuantile(1 - p);
  const q = p - 0.5, r = q * q;
  return ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

/**
 * Fisher's exact test on the 2x2 table [[a, b], [c, d]] (rows: groups, columns: selected / not).
 * Two-sided p sums every table at most as probable as the observed one (R's fisher.test rule, relative
 * tolerance 1e-7). `oddsRatio` is the sample odds ratio ad/bc (Infinity or NaN when a margin is 0).
 */
export function fisherExact(a: number, b: number, c: number, d: number, alternative: Alternative = 'two-sided'): { p: number; oddsRatio: number } {
  for (const [k, v] of Object.entries({ a, b, c, d })) {
    if (!Number.isInteger(v) || v < 0) throw new MoteError('E_INPUT', `fisherExact: cell ${k} must be a non-negative integer, got ${v}`, { field: k });
  }
  const oddsRatio = (a * d) / (b * c);
  const r1 = a + b, r2 = c + d, c1 = a + c, n = r1 + r2;
  const lo = Math.max(0, c1 - r2), hi = Math.min(r1, c1);
  if (lo === hi) return { p: 1, oddsRatio };
  // pmf relative to the mode via the ratio recurrence f(x+1)/f(x) = (r1-x)(c1-x) / ((x+1)(r2-c1+x+1))
  const mode = Math.min(hi, Math.max(lo, Math.floor(((r1 + 1) * (c1 + 1)) / (n + 2))));
  const logMode = lchoose(r1, mode) + lchoose(r2, c1 - mode);
  const fObs = Math.exp(lchoose(r1, a) + lchoose(r2, c1 - a) - logMode);
  const thr = fObs * (1 + 1e-7);
  let total = 1, tail = 0;
  const inTail = (x: number, f: number): boolean =>
    alternative === 'two-sided' ? f <= thr : alternative === 'greater' ? x >= a : x <= a;
  if (inTail(mode, 1)) tail += 1;
  // walk up from the mode
  let f = 1;
  for (let x = mode; x < hi; x++) {
    f *= ((r1 - x) * (c1 - x)) / ((x + 1) * (r2 - c1 + x + 1));
    total += f;
    if (inTail(x + 1, f)) tail += f;
    if (f < 1e-20 && f < fObs * 1e-12) break; // terms only shrink from here; the rest is negligible
  }
  f = 1;
  for (let x = mode; x > lo; x--) {
    f *= (x * (r2 - c1 + x)) / ((r1 - x + 1) * (c1 - x + 1));
    total += f;
    if (inTail(x - 1, f)) tail += f;
    if (f < 1e-20 && f < fObs * 1e-12) break;
  }
  return { p: Math.min(1, tail / total), oddsRatio };
}

function lchoose(n: number, k: number): number {
  return gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1);
}

/**
 * Benjamini–Hochberg q-values (step-up, monotone, capped at 1), in input order. NaN p-values stay NaN and
 * do not count towards m.
 */
export function benjaminiHochberg(p: ArrayLike<number>): Float64Array {
  const q = new Float64Array(p.length).fill(NaN);
  const idx: number[] = [];
  for (let i = 0; i < p.length; i++) if (!Number.isNaN(p[i])) idx.push(i);
  idx.sort((x, y) => p[x] - p[y]);
  const m = idx.length;
  let run = 1;
  for (let r = m - 1; r >= 0; r--) {
    run = Math.min(run, (p[idx[r]] * m) / (r + 1));
    q[idx[r]] = run;
  }
  return q;
}

/** Wilson score interval for x successes out of n. */
export function wilsonInterval(x: number, n: number, conf = 0.95): [number, number] {
  if (n <= 0) return [NaN, NaN];
  const z = zFor(conf), p = x / n, z2 = z * z;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (z / (1 + z2 / n)) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

/** Risk ratio (a/(a+b)) / (c/(c+d)) with the Katz log interval; 0.5 is added to every cell when one is 0. */
export function riskRatio(a: number, b: number, c: number, d: number, conf = 0.95): { rr: number; low: number; high: number } {
  if (a === 0 || b === 0 || c === 0 || d === 0) (a += 0.5), (b += 0.5), (c += 0.5), (d += 0.5);
  const rr = a / (a + b) / (c / (c + d));
  const se = Math.sqrt(1 / a - 1 / (a + b) + 1 / c - 1 / (c + d));
  const z = zFor(conf);
  return { rr, low: rr * Math.exp(-z * se), high: rr * Math.exp(z * se) };
}

/** Log odds ratio ln(ad/bc) with the Woolf interval; Haldane–Anscombe 0.5 when a cell is 0. */
export function logOddsRatio(a: number, b: number, c: number, d: number, conf = 0.95): { logOr: number; low: number; high: number } {
  if (a === 0 || b === 0 || c === 0 || d === 0) (a += 0.5), (b += 0.5), (c += 0.5), (d += 0.5);
  const logOr = Math.log((a * d) / (b * c));
  const se = Math.sqrt(1 / a + 1 / b + 1 / c + 1 / d);
  const z = zFor(conf);
  return { logOr, low: logOr - z * se, high: logOr + z * se };
}

/** Kolmogorov's limiting survival function Q(λ) = 2 Σ_{k≥1} (-1)^{k-1} exp(-2 k² λ²). */
export function kolmogorovQ(lambda: number): number {
  if (lambda < 1e-3) return 1;
  let s = 0;
  for (let k = 1; k <= 100; k++) {
    const t = Math.exp(-2 * k * k * lambda * lambda);
    s += (k % 2 === 1 ? 1 : -1) * t;
    if (t < 1e-16) break;
  }
  return Math.max(0, Math.min(1, 2 * s));
}

/**
 * One-sample Kolmogorov–Smirnov test of `x` against a continuous CDF (default: uniform on [0, 1]).
 * p from the limiting distribution with Stephens' small-sample correction (good for n ≳ 20).
 */
export function ksTest(x: ArrayLike<number>, cdf: (v: number) => number = (v) => Math.min(1, Math.max(0, v))): { d: number; p: number } {
  const s = Float64Array.from(x).sort();
  const n = s.length;
  if (n === 0) throw new MoteError('E_INPUT', 'ksTest: sample is empty', { field: 'x' });
  let d = 0;
  for (let i = 0; i < n; i++) {
    const f = cdf(s[i]);
    d = Math.max(d, (i + 1) / n - f, f - i / n);
  }
  const sn = Math.sqrt(n);
  return { d, p: kolmogorovQ((sn + 0.12 + 0.11 / sn) * d) };
}

/** |A ∩ B| / |A ∪ B| (1 for two empty sets). */
export function jaccard<T>(a: Iterable<T>, b: Iterable<T>): number {
  const sa = new Set(a), sb = new Set(b);
  let inter = 0;
  for (const v of sa) if (sb.has(v)) inter++;
  const union = sa.size + sb.size - inter;
  return union === 0 ? 1 : inter / union;
}

/** Linear-interpolated quantile of an unsorted sample (simple-statistics' R-7 rule on a sorted copy). */
export function quantile(x: ArrayLike<number>, q: number): number {
  const s = Array.from(x).filter((v) => !Number.isNaN(v)).sort((u, v) => u - v);
  return s.length ? quantileSorted(s, q) : NaN;
}

export interface PermutationOptions {
  permutations?: number;
  seed?: number;
  alternative?: Alternative;
  /**
   * Pair/stratum ids, one per element of x then y (length x.length + y.length). Group labels are permuted
   * only within a stratum (a swap for a pair, i.e. a sign flip of the pair's difference); elements with
   * id null/undefined form one shared stratum.
   */
  strata?: Array<string | number | null | undefined>;
}

/**
 * Two-sample permutation test on the difference of means, mean(x) - mean(y), seeded and pair-aware.
 * p = (1 + #{|T*| >= |T|}) / (1 + M) (two-sided; one-sided compares signed values).
 */
export function permutationTest(x: ArrayLike<number>, y: ArrayLike<number>, opts: PermutationOptions = {}): { diff: number; p: number } {
  const M = opts.permutations ?? 9999;
  const alt = opts.alternative ?? 'two-sided';
  const all = Float64Array.from([...Array.from(x), ...Array.from(y)]);
  const n = all.length, nx = x.length;
  if (nx === 0 || nx === n) throw new MoteError('E_INPUT', 'permutationTest: both samples need at least one value', { field: 'x' });
  const side = new Uint8Array(n);
  for (let i = 0; i < nx; i++) side[i] = 1;
  const blocks = blocksFromStrata(opts.strata, n);
  const statOf = (s: Uint8Array): number => {
    let sa = 0, na = 0, sb = 0, nb = 0;
    for (let i = 0; i < n; i++) if (s[i]) (sa += all[i]), na++;
      else (sb += all[i]), nb++;
    return sa / na - sb / nb;
  };
  const obs = statOf(side);
  const rng = createRng(opts.seed ?? 0);
  const perm = new Uint8Array(n);
  let hits = 0;
  const eps = 1e-12 * Math.max(1, Math.abs(obs));
  for (let m = 0; m < M; m++) {
    permuteWithinBlocks(side, perm, blocks, rng);
    const t = statOf(perm);
    if (alt === 'two-sided' ? Math.abs(t) >= Math.abs(obs) - eps : alt === 'greater' ? t >= obs - eps : t <= obs + eps) hits++;
  }
  return { diff: obs, p: (1 + hits) / (1 + M) };
}

/** Member lists of the permutation blocks: one per distinct stratum id, plus one for all unstratified. */
export function blocksFromStrata(strata: ArrayLike<string | number | null | undefined> | undefined, n: number): Int32Array[] {
  if (!strata) return [Int32Array.from({ length: n }, (_, i) => i)];
  if (strata.length !== n) throw new MoteError('E_INPUT', `strata has ${strata.length} entries, expected ${n}`, { field: 'strata' });
  const map = new Map<string, number[]>();
  const loose: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = strata[i];
    if (s === null || s === undefined || s === '') loose.push(i);
    else {
      const k = String(s);
      const arr = map.get(k);
      if (arr) arr.push(i);
      else map.set(k, [i]);
    }
  }
  const out = [...map.values()].filter((m) => m.length > 1).map((m) => Int32Array.from(m));
  for (const m of map.values()) if (m.length === 1) loose.push(m[0]);
  if (loose.length > 1) out.push(Int32Array.from(loose.sort((a, b) => a - b)));
  return out;
}

/** `out` = `side` with its labels shuffled within each block (elements outside every block keep theirs). */
export function permuteWithinBlocks(side: Uint8Array, out: Uint8Array, blocks: Int32Array[], rng: ReturnType<typeof createRng>): void {
  out.set(side);
  const tmp: number[] = [];
  for (const b of blocks) {
    tmp.length = b.length;
    for (let j = 0; j < b.length; j++) tmp[j] = side[b[j]];
    shuffleRange(tmp, 0, tmp.length, rng);
    for (let j = 0; j < b.length; j++) out[b[j]] = tmp[j];
  }
}

/** Percentile bootstrap interval of stat(sample), resampling elements with replacement (seeded). */
export function bootstrapCI<T>(
  data: readonly T[],
  stat: (sample: T[]) => number,
  opts: { resamples?: number; seed?: number; conf?: number } = {},
): { estimate: number; low: number; high: number; se: number } {
  const B = opts.resamples ?? 2000, conf = opts.conf ?? 0.95;
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

