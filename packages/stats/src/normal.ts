// The standard normal: upper tail, quantile and the two-sided z of a confidence level. Not a general
// distributions library: only what the intervals and tests of this package use.

import { MoteError } from '@mote/tensor-core';

/** 97.5% quantile of the standard normal: the z of a two-sided 95% interval. */
export const Z95 = 1.959963984540054;

/**
 * z such that P(|Z| <= z) = conf for a standard normal Z.
 * @example
 *   zFor(0.95); // 1.959964
 */
export function zFor(conf: number): number {
  if (!(conf > 0 && conf < 1)) throw new MoteError('E_INPUT', `confidence level must be in (0, 1), got ${conf}`, { field: 'conf' });
  return normalQuantile(1 - (1 - conf) / 2);
}

/**
 * Upper tail P(Z > z) of the standard normal, accurate in relative terms far into the tail
 * (erfc by Numerical Recipes' Chebyshev fit, fractional error < 1.2e-7).
 * @example
 *   normalTail(1.959964); // 0.025
 */
export function normalTail(z: number): number {
  const x = z / Math.SQRT2;
  const ax = Math.abs(x);
  const t = 1 / (1 + 0.5 * ax);
  const poly = [1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277];
  let h = 0;
  for (let i = poly.length - 1; i >= 0; i--) h = t * (poly[i] + h);
  const e = t * Math.exp(-ax * ax - 1.26551223 + h);
  const erfc = x >= 0 ? e : 2 - e;
  return erfc / 2;
}

/**
 * Standard normal quantile (Acklam's rational approximation, relative error < 1.2e-9). simple-statistics'
 * probit is only good to ~3e-3 (it gives 1.9572 for 0.975), too coarse for interval tests.
 * @example
 *   normalQuantile(0.975); // 1.959964
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
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) /
    (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
  );
}
