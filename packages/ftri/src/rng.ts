// Seeded pseudo-random numbers for permutations and bootstraps (mulberry32); not cryptographic.
// Every random choice in ftri goes through one of these so that a run with the same seed repeats exactly.

import { rng } from '@mote/moe-runtime';

export interface Rng {
  /** uniform in [0, 1) */
  next(): number;
  /** uniform integer in [0, n) */
  int(n: number): number;
}

export function createRng(seed = 0): Rng {
  const next = rng(seed);
  return { next, int: (n: number) => Math.floor(next() * n) };
}

/** Fisher–Yates shuffle of `a[from..to)` in place. */
export function shuffleRange<T extends { [i: number]: number }>(a: T, from: number, to: number, rng: Rng): T {
  for (let i = to - 1; i > from; i--) {
    const j = from + rng.int(i - from + 1);
    const t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
  return a;
}
