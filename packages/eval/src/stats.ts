// Statistics for evals: Wilson score intervals, McNemar's exact test, empirical p-values against random
// baselines, and Newcombe intervals for differences of proportions (unpaired and paired). No I/O.
// simple-statistics supplies quantiles and means; what it lacks (binomial tails, these intervals) is here.

import { quantile, mean } from 'simple-statistics';

/** 97.5% quantile of the standard normal: the z of a two-sided 95% interval. */
export const Z95 = 1.959963984540054;

/** Wilson score interval for k successes out of n (Wilson 1927; Newcombe 1998 method 3). n = 0 gives [0, 1]. */
export function wilson(k: number, n: number, z = Z95): [number, number] {
  if (!(n >= 0) || !(k >= 0) || k > n) throw new RangeError(`wilson: need 0 <= k <= n, got k=${k} n=${n}`);
  if (n === 0) return [0, 1];
  const p = k / n;
  const z2 = z * z;
  const den = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / den;
  const half = ((z / den) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n)));
  // clamp the rounding noise at the ends (k = 0 gives exactly 0, k = n exactly 1)
  return [k === 0 ? 0 : Math.max(0, centre - half), k === n ? 1 : Math.min(1, centre + half)];
}

/** log of n choose k via log-gamma-free summation (exact enough for n up to millions). */
function logChoose(n: number, k: number): number {
  k = Math.min(k, n - k);
  let s = 0;
  for (let i = 1; i <= k; i++) s += Math.log(n - k + i) - Math.log(i);
  return s;
}

/** P(X <= k) for X ~ Binomial(n, 1/2). */
export function binomCdfHalf(k: number, n: number): number {
  if (k < 0) return 0;
  if (k >= n) return 1;
  let total = 0;
  const ln2n = n * Math.LN2;
  for (let i = 0; i <= k; i++) total += Math.exp(logChoose(n, i) - ln2n);
  return Math.min(1, total);
}

/**
 * McNemar's exact (conditional binomial) test for paired binary outcomes. b and c are the discordant
 * counts (b: yes under A and no under B; c: the reverse). Two-sided p = min(1, 2 P(X <= min(b, c))),
 * X ~ Binomial(b + c, 1/2). No discordant pairs gives p = 1.
 */
export function mcnemarExact(b: number, c: number): number {
  if (!Number.isInteger(b) || !Number.isInteger(c) || b < 0 || c < 0) throw new RangeError(`mcnemarExact: counts must be integers >= 0, got b=${b} c=${c}`);
  const n = b + c;
  if (n === 0) return 1;
  return Math.min(1, 2 * binomCdfHalf(Math.min(b, c), n));
}

/** McNemar on two paired boolean vectors (same items, same order). */
export function mcnemarPaired(a: readonly boolean[], bVec: readonly boolean[]): { b: number; c: number; p: number } {
  if (a.length !== bVec.length) throw new RangeError(`mcnemarPaired: lengths differ (${a.length} vs ${bVec.length})`);
  let b = 0,
    c = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] && !bVec[i]) b++;
    else if (!a[i] && bVec[i]) c++;
  }
  return { b, c, p: mcnemarExact(b, c) };
}

export type Direction = 'greater' | 'less';

/**
 * Empirical (Monte Carlo) p-value of an observed statistic against statistics of random baselines:
 * (1 + #{random >= observed}) / (1 + n) for 'greater' (the observed effect is larger than chance), with <=
 * for 'less'. Never 0: with n draws the smallest p is 1 / (n + 1) (Davison & Hinkley 1997; North et al. 2002).
 */
export function empiricalP(observed: number, randoms: readonly number[], direction: Direction = 'greater'): number {
  if (!Number.isFinite(observed)) throw new RangeError(`empiricalP: observed must be finite, got ${observed}`);
  const eps = 1e-12; // ties count as "at least as extreme"
  const hits = randoms.filter((r) => (direction === 'greater' ? r >= observed - eps : r <= observed + eps)).length;
  return (1 + hits) / (1 + randoms.length);
}

/**
 * Newcombe's hybrid score interval (1998, method 10) for p1 - p2 of two independent proportions k1/n1 and
 * k2/n2, built from the two Wilson intervals.
 */
export function diffCI(k1: number, n1: number, k2: number, n2: number, z = Z95): { diff: number; ci: [number, number] } {
  const p1 = n1 ? k1 / n1 : 0,
    p2 = n2 ? k2 / n2 : 0;
  const [l1, u1] = wilson(k1, n1, z);
  const [l2, u2] = wilson(k2, n2, z);
  const d = p1 - p2;
  const lo = d - Math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2);
  const hi = d + Math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2);
  return { diff: d, ci: [Math.max(-1, lo), Math.min(1, hi)] };
}

/**
 * Newcombe's score interval for the difference of two paired proportions (1998b, method 10), from the 2x2
 * table of the same items under A and B: a = both yes, b = A yes B no, c = A no B yes, d = both no.
 * The difference is pA - pB = (b - c) / n. Uses the phi correlation with Newcombe's continuity adjustment.
 */
export function pairedDiffCI(a: number, b: number, c: number, d: number, z = Z95): { diff: number; ci: [number, number] } {
  const n = a + b + c + d;
  if (n === 0) return { diff: 0, ci: [-1, 1] };
  const p1 = (a + b) / n,
    p2 = (a + c) / n;
  const [l1, u1] = wilson(a + b, n, z);
  const [l2, u2] = wilson(a + c, n, z);
  const denom = Math.sqrt((a + b) * (c + d) * (a + c) * (b + d));
  let phi = 0;
  if (denom > 0) {
    const ad = a * d,
      bc = b * c;
    phi = ad > bc ? Math.max(ad - bc - n / 2, 0) / denom : (ad - bc) / denom;
  }
  const diff = p1 - p2;
  const dl = (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2;
  const du = (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2;
  return { diff, ci: [Math.max(-1, diff - Math.sqrt(Math.max(0, dl))), Math.min(1, diff + Math.sqrt(Math.max(0, du)))] };
}

/** Paired difference of two boolean vectors over the same items: pA - pB with Newcombe's paired interval. */
export function pairedDiff(aVec: readonly boolean[], bVec: readonly boolean[], z = Z95): { diff: number; ci: [number, number] } {
  let a = 0,
    b = 0,
    c = 0,
    d = 0;
  for (let i = 0; i < aVec.length; i++) {
    if (aVec[i] && bVec[i]) a++;
    else if (aVec[i]) b++;
    else if (bVec[i]) c++;
    else d++;
  }
  return pairedDiffCI(a, b, c, d, z);
}

/** Mean, min, max and the 2.5% / 97.5% quantiles of a sample (for random-baseline summaries). */
export function describe(xs: readonly number[]): { n: number; mean: number; min: number; max: number; q025: number; q975: number } {
  if (!xs.length) return { n: 0, mean: NaN, min: NaN, max: NaN, q025: NaN, q975: NaN };
  const arr = [...xs];
  return { n: xs.length, mean: mean(arr), min: Math.min(...arr), max: Math.max(...arr), q025: quantile(arr, 0.025), q975: quantile(arr, 0.975) };
}
