// Tests, intervals and the normal distribution against textbook values.
import { describe, expect, it } from 'vitest';
import { benjaminiHochberg, fisherExact, kolmogorovQ, ksTest, permutationTest } from './hypothesis.js';
import { normalQuantile, normalTail, zFor } from './normal.js';
import { wilson } from './proportions.js';
import { createRng } from './rng.js';
import { bootstrapCI } from './sample.js';

describe('fisherExact', () => {
  it("matches Fisher's lady tasting tea (3 of 4 right)", () => {
    // [[3,1],[1,3]]: one-sided P(X >= 3) = 17/70, two-sided 34/70
    expect(fisherExact(3, 1, 1, 3, 'greater').p).toBeCloseTo(17 / 70, 10);
    expect(fisherExact(3, 1, 1, 3).p).toBeCloseTo(34 / 70, 10);
    expect(fisherExact(3, 1, 1, 3, 'less').p).toBeCloseTo(69 / 70, 10);
  });
  it('matches the Wikipedia dieting example (one-sided 0.001380, two-sided 0.002759)', () => {
    // men: 1 dieting, 11 not; women: 9 dieting, 3 not; P(observed table) = 0.001346, plus the x = 0 table 0.0000336
    expect(fisherExact(1, 11, 9, 3, 'less').p).toBeCloseTo(0.001346 + 91 / 2704156, 6);
    expect(fisherExact(1, 11, 9, 3).p).toBeCloseTo(0.002759, 6);
  });
  it('is 1 for a degenerate table and symmetric in the rows', () => {
    expect(fisherExact(0, 0, 5, 5).p).toBe(1);
    expect(fisherExact(2, 7, 8, 2).p).toBeCloseTo(fisherExact(8, 2, 2, 7).p, 12);
  });
  it('stays finite for large token counts', () => {
    const r = fisherExact(5000, 45000, 4000, 46000);
    expect(r.p).toBeGreaterThan(0);
    expect(r.p).toBeLessThan(1e-20);
    expect(fisherExact(500, 4500, 500, 4500).p).toBeCloseTo(1, 6);
  });
  it('rejects non-integer cells', () => {
    expect(() => fisherExact(1.5, 1, 1, 1)).toThrow(/E_INPUT/);
  });
});

describe('benjaminiHochberg', () => {
  it('computes step-up q-values in input order', () => {
    // sorted 0.005, 0.01, 0.03, 0.04 -> 0.02, 0.02, 0.04, 0.04
    expect(Array.from(benjaminiHochberg([0.01, 0.04, 0.03, 0.005]))).toEqual([0.02, 0.04, 0.04, 0.02]);
  });
  it('enforces monotonicity and caps at 1, ignoring NaN', () => {
    const q = benjaminiHochberg([0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, NaN]);
    // m = 8: 0.008, 0.032, min(0.104, 0.082, 0.0672, ...) = 0.0672
    expect(q[0]).toBeCloseTo(0.008, 12);
    expect(q[1]).toBeCloseTo(0.032, 12);
    expect(q[2]).toBeCloseTo(0.0672, 12);
    expect(q[7]).toBeCloseTo(0.205, 12);
    expect(Number.isNaN(q[8])).toBe(true);
    expect(Math.max(...Array.from(benjaminiHochberg([0.9, 0.95, 0.99])))).toBeLessThanOrEqual(1);
  });
});

describe('intervals', () => {
  it('Wilson: 5/10 -> [0.2366, 0.7634], 0/10 -> [0, 0.2775]', () => {
    const [l, h] = wilson(5, 10);
    expect(l).toBeCloseTo(0.2366, 4);
    expect(h).toBeCloseTo(0.7634, 4);
    const [l0, h0] = wilson(0, 10);
    expect(l0).toBe(0);
    expect(h0).toBeCloseTo(0.2775, 4);
  });
  it('z for 95% is 1.959964, for 99% 2.575829', () => {
    expect(zFor(0.95)).toBeCloseTo(1.959964, 6);
    expect(zFor(0.99)).toBeCloseTo(2.575829, 6);
    expect(normalQuantile(0.001)).toBeCloseTo(-3.090232, 6);
  });
});

describe('Kolmogorov–Smirnov', () => {
  it("Kolmogorov's Q at the classic critical values", () => {
    expect(kolmogorovQ(1.358)).toBeCloseTo(0.05, 3);
    expect(kolmogorovQ(1.628)).toBeCloseTo(0.01, 3);
  });
  it('accepts uniform samples and rejects skewed ones', () => {
    const rng = createRng(3);
    const u = Array.from({ length: 2000 }, () => rng.next());
    expect(ksTest(u).p).toBeGreaterThan(0.01);
    expect(ksTest(u.map((x) => x * x)).p).toBeLessThan(1e-6);
  });
});

describe('permutation test and bootstrap', () => {
  it('complete separation of 10 vs 10 gives the smallest attainable p', () => {
    const x = Array.from({ length: 10 }, (_, i) => i + 11),
      y = Array.from({ length: 10 }, (_, i) => i);
    const r = permutationTest(x, y, { permutations: 999, seed: 1 });
    expect(r.diff).toBe(11);
    expect(r.p).toBeLessThanOrEqual(2 / 1000); // exact p = 2 / C(20,10) = 1.1e-5
  });
  it('pairs turn it into the sign-flip test (8 positive differences: exact p = 2/256)', () => {
    const base = [3, 9, 1, 14, 6, 2, 11, 5];
    const x = base.map((v, i) => v + 1 + i * 0.1),
      y = base;
    const strata = [...base.map((_, i) => `p${i}`), ...base.map((_, i) => `p${i}`)];
    const r = permutationTest(x, y, { permutations: 20000, seed: 2, strata });
    expect(Math.abs(r.p - 2 / 256)).toBeLessThan(0.003);
    // unpaired, the shift is small against the spread between pairs
    expect(permutationTest(x, y, { permutations: 2000, seed: 2 }).p).toBeGreaterThan(0.3);
  });
  it('bootstrap percentile interval covers the mean of a normal-ish sample', () => {
    const rng = createRng(5);
    const xs = Array.from({ length: 400 }, () => rng.next() + rng.next() + rng.next()); // mean 1.5, sd 0.5
    const ci = bootstrapCI(xs, (s) => s.reduce((a, b) => a + b, 0) / s.length, { resamples: 1000, seed: 1 });
    expect(ci.low).toBeLessThan(1.5 + 0.02);
    expect(ci.high).toBeGreaterThan(1.5 - 0.02);
    expect(ci.se).toBeCloseTo(0.5 / 20, 2);
  });
});

describe('normal tail', () => {
  it('matches textbook values of 1 - Φ(z)', () => {
    expect(normalTail(1.959964)).toBeCloseTo(0.025, 7);
    expect(normalTail(0)).toBeCloseTo(0.5, 7);
    expect(normalTail(-1)).toBeCloseTo(0.8413447, 6);
    expect(normalTail(5) / 2.866516e-7).toBeCloseTo(1, 5);
    expect(normalTail(10) / 7.619853e-24).toBeCloseTo(1, 5);
  });
});
