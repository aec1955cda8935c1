// Seeded pseudo-random numbers for permutations and bootstraps (mulberry32); not cryptographic.
// Every random choice in ftri goes through one of these so that a run with the same seed repeats exactly.

export interface Rng {
  /** uniform in [0, 1) */
  next(): number;
  /** uniform integer in [0, n) */
  int(n: number): number;
}

export function createRng(seed = 0): Rng {
  let a = (Math.floor(seed) ^ 0x9e3779b9) >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
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
