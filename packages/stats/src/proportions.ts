// Proportions: the Wilson score interval, Newcombe's intervals for differences (independent and paired),
// and McNemar's exact test for paired binary outcomes. Counts in, numbers out; no I/O.

import { MoteError } from '@mote/tensor-core';
import { gammaln } from 'simple-statistics';
import { Z95 } from './normal.js';

/**
 * Wilson score interval for k successes out of n (Wilson 1927; Newcombe 1998 method 3). n = 0 gives [0, 1]:
 * no trials say nothing about the rate (the interval's limit as n -> 0).
 * @example
 *   wilson(5, 10); // [0.2366, 0.7634]
 */
export function wilson(k: number, n: number, z = Z95): [number, number] {
  if (!(n >= 0) || !(k >= 0) || k > n) throw new MoteError('E_INPUT', `wilson: need 0 <= k <= n, got k=${k} n=${n}`, { field: 'k' });
  if (n === 0) return [0, 1];
  const p = k / n;
  const z2 = z * z;
  const den = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / den;
  const half = (z / den) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  // clamp the rounding noise at the ends (k = 0 gives exactly 0, k = n exactly 1)
  return [k === 0 ? 0 : Math.max(0, centre - half), k === n ? 1 : Math.min(1, centre + half)];
}

/** ln C(n, k) by log-gamma. */
export function logChoose(n: number, k: number): number {
  return gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1);
}

/**
 * P(X <= k) for X ~ Binomial(n, 1/2).
 * @example
 *   binomCdfHalf(2, 4); // 11/16
 */
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
 * @example
 *   mcnemarExact(1, 7); // 0.0703125
 */
export function mcnemarExact(b: number, c: number): number {
  if (!Number.isInteger(b) || !Number.isInteger(c) || b < 0 || c < 0) {
    throw new MoteError('E_INPUT', `mcnemarExact: counts must be integers >= 0, got b=${b} c=${c}`, { field: 'b' });
  }
  const n = b + c;
  if (n === 0) return 1;
  return Math.min(1, 2 * binomCdfHalf(Math.min(b, c), n));
}

/**
 * McNemar on two paired boolean vectors (same items, same order).
 * @example
 *   mcnemarPaired([true, true, false], [false, true, true]); // { b: 1, c: 1, p: 1 }
 */
export function mcnemarPaired(a: readonly boolean[], bVec: readonly boolean[]): { b: number; c: number; p: number } {
  if (a.length !== bVec.length)
    throw new MoteError('E_INPUT', `mcnemarPaired: lengths differ (${a.length} vs ${bVec.length})`, { field: 'b' });
  let b = 0;
  let c = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] && !bVec[i]) b++;
    else if (!a[i] && bVec[i]) c++;
  }
  return { b, c, p: mcnemarExact(b, c) };
}

/**
 * Newcombe's hybrid score interval (1998, method 10) for p1 - p2 of two independent proportions k1/n1 and
 * k2/n2, built from the two Wilson intervals.
 * @example
 *   diffCI(56, 70, 48, 80).ci; // [0.0524, 0.3339]
 */
export function diffCI(k1: number, n1: number, k2: number, n2: number, z = Z95): { diff: number; ci: [number, number] } {
  const p1 = n1 ? k1 / n1 : 0;
  const p2 = n2 ? k2 / n2 : 0;
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
 * @example
 *   pairedDiffCI(40, 5, 1, 54).diff; // 0.04
 */
export function pairedDiffCI(a: number, b: number, c: number, d: number, z = Z95): { diff: number; ci: [number, number] } {
  const n = a + b + c + d;
  if (n === 0) return { diff: 0, ci: [-1, 1] };
  const p1 = (a + b) / n;
  const p2 = (a + c) / n;
  const [l1, u1] = wilson(a + b, n, z);
  const [l2, u2] = wilson(a + c, n, z);
  const denom = Math.sqrt((a + b) * (c + d) * (a + c) * (b + d));
  let phi = 0;
  if (denom > 0) {
    const ad = a * d;
    const bc = b * c;
    phi = ad > bc ? Math.max(ad - bc - n / 2, 0) / denom : (ad - bc) / denom;
  }
  const diff = p1 - p2;
  const dl = (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2;
  const du = (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2;
  return { diff, ci: [Math.max(-1, diff - Math.sqrt(Math.max(0, dl))), Math.min(1, diff + Math.sqrt(Math.max(0, du)))] };
}

/**
 * Paired difference of two boolean vectors over the same items: pA - pB with Newcombe's paired interval.
 * @example
 *   pairedDiff([true, true, false], [false, true, false]).diff; // 1/3
 */
export function pairedDiff(aVec: readonly boolean[], bVec: readonly boolean[], z = Z95): { diff: number; ci: [number, number] } {
  let a = 0;
  let b = 0;
  let c = 0;
  let d = 0;
  for (let i = 0; i < aVec.length; i++) {
    if (aVec[i] && bVec[i]) a++;
    else if (aVec[i]) b++;
    else if (bVec[i]) c++;
    else d++;
  }
  return pairedDiffCI(a, b, c, d, z);
}
