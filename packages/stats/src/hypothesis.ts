// Hypothesis tests and multiple testing: Fisher's exact test, Benjamini–Hochberg, seeded permutation tests
// (with the within-stratum shuffle that contrast engines reuse), empirical p-values against random
// baselines, and the one-sample Kolmogorov–Smirnov test. Proportion intervals and McNemar live in proportions.ts.

import { MoteError } from '@mote/tensor-core';
import { logChoose } from './proportions.js';
import { createRng, type Rng, shuffle } from './rng.js';

export type Alternative = 'two-sided' | 'greater' | 'less';

/**
 * Fisher's exact test on the 2x2 table [[a, b], [c, d]] (rows: groups, columns: selected / not).
 * Two-sided p sums every table at most as probable as the observed one (R's fisher.test rule, relative
 * tolerance 1e-7). `oddsRatio` is the sample odds ratio ad/bc (Infinity or NaN when a margin is 0).
 * @example
 *   fisherExact(3, 1, 1, 3).p; // 34/70 (the lady tasting tea)
 */
export function fisherExact(
  a: number,
  b: number,
  c: number,
  d: number,
  alternative: Alternative = 'two-sided',
): { p: number; oddsRatio: number } {
  for (const [k, v] of Object.entries({ a, b, c, d })) {
    if (!Number.isInteger(v) || v < 0)
      throw new MoteError('E_INPUT', `fisherExact: cell ${k} must be a non-negative integer, got ${v}`, { field: k });
  }
  const oddsRatio = (a * d) / (b * c);
  const r1 = a + b;
  const r2 = c + d;
  const c1 = a + c;
  const n = r1 + r2;
  const lo = Math.max(0, c1 - r2);
  const hi = Math.min(r1, c1);
  if (lo === hi) return { p: 1, oddsRatio };
  // pmf relative to the mode via the ratio recurrence f(x+1)/f(x) = (r1-x)(c1-x) / ((x+1)(r2-c1+x+1))
  const mode = Math.min(hi, Math.max(lo, Math.floor(((r1 + 1) * (c1 + 1)) / (n + 2))));
  const logMode = logChoose(r1, mode) + logChoose(r2, c1 - mode);
  const fObs = Math.exp(logChoose(r1, a) + logChoose(r2, c1 - a) - logMode);
  const thr = fObs * (1 + 1e-7);
  let total = 1;
  let tail = 0;
  const inTail = (x: number, f: number): boolean => (alternative === 'two-sided' ? f <= thr : alternative === 'greater' ? x >= a : x <= a);
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

/**
 * Benjamini–Hochberg q-values (step-up, monotone, capped at 1), in input order. NaN p-values stay NaN and
 * do not count towards m.
 * @example
 *   benjaminiHochberg([0.01, 0.04, 0.03, 0.005]); // [0.02, 0.04, 0.04, 0.02]
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

export type Direction = 'greater' | 'less';

/**
 * Empirical (Monte Carlo) p-value of an observed statistic against statistics of random baselines:
 * (1 + #{random >= observed}) / (1 + n) for 'greater' (the observed effect is larger than chance), with <=
 * for 'less'. Never 0: with n draws the smallest p is 1 / (n + 1) (Davison & Hinkley 1997; North et al. 2002).
 * @example
 *   empiricalP(0.9, [0.1, 0.2, 0.95]); // (1 + 1) / 4 = 0.5
 */
export function empiricalP(observed: number, randoms: readonly number[], direction: Direction = 'greater'): number {
  if (!Number.isFinite(observed))
    throw new MoteError('E_INPUT', `empiricalP: observed must be finite, got ${observed}`, { field: 'observed' });
  const eps = 1e-12; // ties count as "at least as extreme"
  const hits = randoms.filter((r) => (direction === 'greater' ? r >= observed - eps : r <= observed + eps)).length;
  return (1 + hits) / (1 + randoms.length);
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
 * @example
 *   permutationTest([11, 12, 13], [1, 2, 3], { permutations: 999, seed: 1 }); // { diff: 10, p: ~0.1 }
 */
export function permutationTest(x: ArrayLike<number>, y: ArrayLike<number>, opts: PermutationOptions = {}): { diff: number; p: number } {
  const M = opts.permutations ?? 9999;
  const alt = opts.alternative ?? 'two-sided';
  const all = Float64Array.from([...Array.from(x), ...Array.from(y)]);
  const n = all.length;
  const nx = x.length;
  if (nx === 0 || nx === n) throw new MoteError('E_INPUT', 'permutationTest: both samples need at least one value', { field: 'x' });
  const side = new Uint8Array(n);
  for (let i = 0; i < nx; i++) side[i] = 1;
  const blocks = blocksFromStrata(opts.strata, n);
  const statOf = (s: Uint8Array): number => {
    let sa = 0;
    let na = 0;
    let sb = 0;
    let nb = 0;
    for (let i = 0; i < n; i++) {
      if (s[i]) (sa += all[i]), na++;
      else (sb += all[i]), nb++;
    }
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

/**
 * Member lists of the permutation blocks: one per distinct stratum id, plus one for all unstratified.
 * @example
 *   blocksFromStrata(['p0', 'p1', 'p0', 'p1'], 4); // [[0, 2], [1, 3]]
 */
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

/**
 * `out` = `side` with its labels shuffled within each block (elements outside every block keep theirs).
 * @example
 *   permuteWithinBlocks(Uint8Array.of(1, 1, 0, 0), out, blocksFromStrata(undefined, 4), createRng(0));
 */
export function permuteWithinBlocks(side: Uint8Array, out: Uint8Array, blocks: Int32Array[], rng: Rng): void {
  out.set(side);
  const tmp: number[] = [];
  for (const b of blocks) {
    tmp.length = b.length;
    for (let j = 0; j < b.length; j++) tmp[j] = side[b[j]];
    shuffle(tmp, rng);
    for (let j = 0; j < b.length; j++) out[b[j]] = tmp[j];
  }
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
 * One-sample Kolmogorov–Smirnov test of `x` against a continuous CDF (default: uniform on [0, 1]), e.g. to
 * check that null p-values are calibrated. p from the limiting distribution with Stephens' small-sample
 * correction (good for n ≳ 20).
 * @example
 *   ksTest(Array.from({ length: 100 }, createRng(1))).p; // large: the draws are uniform
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
