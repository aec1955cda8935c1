// Seeded random numbers for random baselines: mulberry32 (32-bit state, uniform in [0, 1)).
// Not cryptographic; chosen so that a seed gives the same draw on every platform and Node version.

export { rng as mulberry32 } from '@mote/moe-runtime';

/** Fisher-Yates shuffle driven by `rand`. */
export function shuffleInPlace<T>(xs: T[], rand: () => number): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}
