// Agreement between two expert rankings (e.g. fTRI's routing contrast and a causal attribution): Spearman's rank
// correlation over the experts both rank and the overlap of their top N. Not a ranking itself.

import { rankCorrelation } from '@mote/stats';
import { MoteError } from '@mote/tensor-core';

/** An expert with a score; higher ranks first. */
export interface ScoredExpert {
  layer: number;
  expert: number;
  score: number;
}

export interface RankAgreement {
  /** experts scored by both rankings */
  n: number;
  /** Spearman's rho of the two scores over those experts (average ranks on ties) */
  spearman: number;
  topN: number;
  /** experts in both top-N lists, and their count */
  shared: { layer: number; expert: number }[];
  overlap: number;
}

const key = (e: { layer: number; expert: number }) => `${e.layer}:${e.expert}`;

/**
 * Compare two rankings of (layer, expert) cells.
 * @example
 * const a = rankAgreement(ftriRanking, attribution, 6);
 * console.log(a.spearman.toFixed(2), `${a.overlap}/6 shared`);
 */
export function rankAgreement(a: ScoredExpert[], b: ScoredExpert[], topN = 6): RankAgreement {
  const bs = new Map(b.map((e) => [key(e), e.score]));
  const both = a.filter((e) => bs.has(key(e)));
  if (both.length < 2) {
    const msg = `rankAgreement: the rankings share ${both.length} experts; give two rankings of the same model's experts`;
    throw new MoteError('E_INPUT', msg, { field: 'rankings' });
  }
  const spearman = rankCorrelation(
    both.map((e) => e.score),
    both.map((e) => bs.get(key(e))!),
  );
  const top = (r: ScoredExpert[]) => [...r].sort((x, y) => y.score - x.score).slice(0, topN);
  const topB = new Set(top(b).map(key));
  const shared = top(a)
    .filter((e) => topB.has(key(e)))
    .map(({ layer, expert }) => ({ layer, expert }));
  return { n: both.length, spearman, topN, shared, overlap: shared.length };
}
