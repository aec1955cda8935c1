// @mote/stats: the statistics of mote (proportion intervals, exact and permutation tests, multiple testing,
// bootstrap) and its one seeded generator. Pure functions on numbers; no I/O, no models.
export { createRng, shuffle, type Rng } from './rng.js';
export { Z95, zFor, normalTail, normalQuantile } from './normal.js';
export { wilson, diffCI, pairedDiffCI, pairedDiff, mcnemarExact, mcnemarPaired, binomCdfHalf } from './proportions.js';
export {
  fisherExact,
  benjaminiHochberg,
  empiricalP,
  permutationTest,
  blocksFromStrata,
  permuteWithinBlocks,
  ksTest,
  type Alternative,
  type Direction,
  type PermutationOptions,
} from './hypothesis.js';
export { quantile, describe, bootstrapCI, rankCorrelation } from './sample.js';
