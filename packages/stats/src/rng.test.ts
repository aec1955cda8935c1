// The seeded generator repeats per seed and is uniform; the shuffle is Fisher–Yates over a range.
import { describe, expect, it } from 'vitest';
import { ksTest } from './hypothesis.js';
import { createRng, shuffle } from './rng.js';

describe('createRng', () => {
  it('repeats a stream per seed, differs between seeds, and agrees between call forms', () => {
    const a = createRng(42);
    const b = createRng(42);
    const xs = Array.from({ length: 5 }, () => a());
    expect(Array.from({ length: 5 }, () => b.next())).toEqual(xs);
    expect(Array.from({ length: 5 }, createRng(43))).not.toEqual(xs);
    // fractional seeds are floored
    expect(createRng(42.9)()).toBe(xs[0]);
  });
  it('is uniform on [0, 1) and int(n) covers 0..n-1', () => {
    const r = createRng(9);
    const u = Array.from({ length: 5000 }, () => r());
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
    expect(ksTest(u).p).toBeGreaterThan(0.01);
    const counts = new Array(6).fill(0);
    for (let i = 0; i < 6000; i++) counts[r.int(6)]++;
    for (const c of counts) expect(Math.abs(c - 1000)).toBeLessThan(150); // 6 sd of Binomial(6000, 1/6) is 173
  });
});

describe('shuffle', () => {
  it('permutes, touches only [from, to), and gives every order of 3 about equally often', () => {
    const xs = shuffle(
      Array.from({ length: 20 }, (_, i) => i),
      createRng(1),
    );
    expect([...xs].sort((p, q) => p - q)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    const part = shuffle([0, 1, 2, 3, 4, 5, 6, 7], createRng(2), 2, 6);
    expect([part[0], part[1], part[6], part[7]]).toEqual([0, 1, 6, 7]);
    expect(part.slice(2, 6).sort()).toEqual([2, 3, 4, 5]);
    const r = createRng(3);
    const seen = new Map<string, number>();
    for (let i = 0; i < 6000; i++) {
      const k = shuffle([0, 1, 2], r).join('');
      seen.set(k, (seen.get(k) ?? 0) + 1);
    }
    expect(seen.size).toBe(6);
    for (const c of seen.values()) expect(Math.abs(c - 1000)).toBeLessThan(150);
  });
});
