// Statistics against published values: Wilson (Newcombe 1998a, Table I), Newcombe's difference interval
// (Newcombe 1998b, Table II), McNemar exact (Fagerland, Lydersen & Laake 2013), empirical p-values.
import { describe, it, expect } from 'vitest';
import { empiricalP } from './hypothesis.js';
import { binomCdfHalf, diffCI, mcnemarExact, mcnemarPaired, pairedDiffCI, wilson } from './proportions.js';

const r4 = (x: number) => Math.round(x * 1e4) / 1e4;

describe('wilson', () => {
  // Newcombe RG (1998) Two-sided confidence intervals for the single proportion. Stat Med 17:857-872,
  // Table I, method 3 (score interval without continuity correction).
  it.each([
    [81, 263, 0.2553, 0.3662],
    [15, 148, 0.0624, 0.1605],
    [0, 20, 0, 0.1611],
    [1, 29, 0.0061, 0.1718],
  ])('%i/%i -> [%f, %f]', (k, n, lo, hi) => {
    const [l, h] = wilson(k, n);
    expect(r4(l)).toBeCloseTo(lo, 4);
    expect(r4(h)).toBeCloseTo(hi, 4);
  });
  it('is [0,1] for n = 0 and symmetric in k <-> n-k', () => {
    // n = 0: no information, the whole parameter space (the interval's limit as n -> 0); ftri's old copy gave NaN
    expect(wilson(0, 0)).toEqual([0, 1]);
    // k = 0: the upper end is z^2 / (n + z^2) by hand; n = 1 -> 3.8415 / 4.8415
    expect(wilson(0, 1)[1]).toBeCloseTo(1.959964 ** 2 / (1 + 1.959964 ** 2), 6);
    const [a, b] = wilson(3, 10);
    const [c, d] = wilson(7, 10);
    expect(a).toBeCloseTo(1 - d, 12);
    expect(b).toBeCloseTo(1 - c, 12);
    expect(() => wilson(5, 4)).toThrow();
  });
});

describe('diffCI (Newcombe hybrid score, independent samples)', () => {
  // Newcombe RG (1998) Interval estimation for the difference between independent proportions.
  // Stat Med 17:873-890, Table II, method 10.
  it.each([
    [56, 70, 48, 80, 0.0524, 0.3339],
    [9, 10, 3, 10, 0.1705, 0.809],
  ])('%i/%i - %i/%i', (k1, n1, k2, n2, lo, hi) => {
    const { ci } = diffCI(k1, n1, k2, n2);
    expect(r4(ci[0])).toBeCloseTo(lo, 4);
    expect(r4(ci[1])).toBeCloseTo(hi, 4);
  });
});

describe('pairedDiffCI (Newcombe, paired)', () => {
  it('contains the difference, is within [-1, 1], and is narrower than the unpaired interval for positively correlated data', () => {
    const a = 40,
      b = 5,
      c = 1,
      d = 54;
    const { diff, ci } = pairedDiffCI(a, b, c, d);
    expect(diff).toBeCloseTo(0.04, 12);
    expect(ci[0]).toBeLessThan(diff);
    expect(ci[1]).toBeGreaterThan(diff);
    const un = diffCI(a + b, 100, a + c, 100).ci;
    expect(ci[1] - ci[0]).toBeLessThan(un[1] - un[0]);
    // identical outcomes: difference 0 with an interval around 0
    const same = pairedDiffCI(77, 0, 0, 23);
    expect(same.diff).toBe(0);
    expect(same.ci[0]).toBeLessThan(0);
    expect(same.ci[1]).toBeGreaterThan(0);
  });
});

describe('mcnemarExact', () => {
  // Fagerland MW, Lydersen S, Laake P (2013) The McNemar test for binary matched-pairs data: mid-p and
  // asymptotic are better than exact conditional. BMC Med Res Methodol 13:91 — airway hyper-responsiveness
  // example (b = 1, c = 7): exact conditional p = 0.070.
  it('matches the published example', () => {
    expect(mcnemarExact(1, 7)).toBeCloseTo(0.0703125, 7); // 2 * (1 + 8) / 256
    expect(mcnemarExact(7, 1)).toBeCloseTo(0.0703125, 7);
  });
  it('edge cases: no discordant pairs, balanced tables, total separation', () => {
    expect(mcnemarExact(0, 0)).toBe(1);
    expect(mcnemarExact(5, 5)).toBe(1);
    expect(mcnemarExact(0, 10)).toBeCloseTo(2 / 1024, 12);
    expect(mcnemarExact(0, 48)).toBeCloseTo(2 * 0.5 ** 48, 20);
    expect(binomCdfHalf(2, 4)).toBeCloseTo(11 / 16, 12);
  });
  it('counts discordant pairs from vectors', () => {
    const r = mcnemarPaired([true, true, false, true, false], [false, true, false, false, true]);
    expect([r.b, r.c]).toEqual([2, 1]);
    expect(r.p).toBe(1);
  });
});

describe('empiricalP', () => {
  it('is (1 + #{random >= observed}) / (1 + n)', () => {
    const randoms = Array.from({ length: 20 }, (_, i) => i / 20); // 0, 0.05, ..., 0.95
    expect(empiricalP(1, randoms)).toBeCloseTo(1 / 21, 12);
    expect(empiricalP(0.9, randoms)).toBeCloseTo(3 / 21, 12); // 0.9 and 0.95 (ties count)
    expect(empiricalP(-1, randoms)).toBe(1);
    expect(empiricalP(0, randoms, 'less')).toBeCloseTo(2 / 21, 12);
    expect(empiricalP(0.5, [])).toBe(1);
  });
});
