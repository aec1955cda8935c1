// The one seeded generator of mote (mulberry32) and the one shuffle. Every random choice (sampling, random
// baselines, permutations, bootstraps, prompt subsets) draws from here, so a seed repeats on every platform.
// Not cryptographic.

/** A seeded source of uniform numbers: call it (or `.next()`) for [0, 1), `.int(n)` for an integer in [0, n),
 *  `.normal()` for a standard normal draw (Box–Muller on two uniforms). */
export interface Rng {
  (): number;
  next(): number;
  int(n: number): number;
  normal(): number;
}

/**
 * mulberry32: a small 32-bit PRNG; the same seed gives the same stream on every platform and Node version.
 * @example
 *   const rng = createRng(7);
 *   const u = rng();            // uniform in [0, 1)
 *   const die = rng.int(6) + 1; // 1..6
 *   const z = rng.normal();     // N(0, 1)
 */
export function createRng(seed = 0): Rng {
  let a = (Math.floor(seed) ^ 0x9e3779b9) >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const normal = () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  return Object.assign(next, { next, int, normal });
}

/**
 * Fisher–Yates shuffle of `a[from..to)` in place (the whole array by default); returns `a`.
 * @example
 *   shuffle([1, 2, 3, 4], createRng(1)); // a seeded permutation of 1..4
 */
export function shuffle<T extends { [i: number]: unknown; length: number }>(a: T, rng: Rng, from = 0, to = a.length): T {
  for (let i = to - 1; i > from; i--) {
    const j = from + rng.int(i - from + 1);
    const t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
  return a;
}
