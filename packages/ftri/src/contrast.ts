// The contrast engine: per (layer, expert) statistics between two prompt sets from prompt-level
// activations, with a pair-aware permutation test, Fisher's exact test, BH q-values and a prompt bootstrap
// for ranking stability. Pure computation on typed arrays; no I/O, no model. This file checks the options
// and assembles the ranking; the statistic, resampling and descriptive columns live in contrast-*.ts.
// Shapes: P prompts, L MoE layers, E routed experts, F = L*E features (layer-major: f = l*E + e),
// n prompts in the contrast, B bootstrap resamples.

import { MoteError } from '@mote/tensor-core';
import { benjaminiHochberg, zFor } from '@mote/stats';
import { describeColumns, scoreCI } from './contrast-describe.js';
import { bootstrapRanks, permutationPValues, rankOrder } from './contrast-resample.js';
import { contrastData, statistic } from './contrast-statistic.js';
import {
  DEFAULT_STAT,
  STATS,
  SUM_STATS,
  type Activations,
  type ContrastOptions,
  type ContrastSummary,
  type RankingEntry,
} from './contrast-types.js';

export type { Activations, ContrastOptions, ContrastSummary, RankingEntry } from './contrast-types.js';

/**
 * Contrast prompts `a` against prompts `b` (indices into act.promptIds) for every (layer, expert).
 * `strata[i]` (per prompt of act, optional) is the pair/stratum id: labels are permuted only within a
 * stratum and the paired statistic compares within strata. Prompts with 0 scoped tokens are left out.
 */
export function contrastActivations(
  act: Activations,
  a: readonly number[],
  b: readonly number[],
  strata: ReadonlyArray<string | undefined> | undefined,
  opts: ContrastOptions = {},
): { ranking: RankingEntry[]; summary: ContrastSummary } {
  const stat = opts.stat ?? DEFAULT_STAT;
  const sumStat = SUM_STATS.includes(stat);
  const level = sumStat ? 'prompt' : (opts.level ?? 'prompt');
  const M = opts.permutations ?? 2000,
    B = opts.bootstrap ?? 200,
    seed = opts.seed ?? 0,
    conf = opts.conf ?? 0.95;
  const L = act.layers.length,
    E = act.expertCount,
    F = L * E;
  const topN = Math.min(opts.topN ?? 10, F);
  if (!STATS.includes(stat))
    throw new MoteError('E_INPUT', `unknown statistic "${stat}"; use one of ${STATS.join(', ')}`, { field: 'stat' });
  if (opts.level !== undefined && opts.level !== 'prompt' && opts.level !== 'token')
    throw new MoteError('E_INPUT', `unknown level "${opts.level}"; use prompt or token`, { field: 'level' });
  if (act.counts.length !== act.promptIds.length * F)
    throw new MoteError('E_SHAPE', `activations: counts has ${act.counts.length} values, expected P*L*E = ${act.promptIds.length * F}`, {
      field: 'counts',
    });

  const d = contrastData(act, a, b, strata, stat, level);
  const { n, members, side, nA, nB, nPairs } = d;
  const st = statistic(d);
  const obs = new Float64Array(F);
  st.statAll(side, obs);

  const { p, q, zs, pNorm, qNorm } = permutationPValues(d, st, obs, M, seed, opts.onProgress);

  // descriptive per-feature numbers and the score's confidence interval
  const z = zFor(conf);
  const idxA: number[] = [],
    idxB: number[] = [];
  for (let j = 0; j < n; j++) (side[j] ? idxA : idxB).push(j);
  const desc = describeColumns(act, members, idxA, idxB, F, level);
  const ci = scoreCI(d, idxA, idxB, z);

  // bootstrap over prompts (within each side; strata resampled as units for the paired statistic)
  const order = rankOrder(obs, p);
  const { rankOfB, inTop, jac } = bootstrapRanks(d, st, order, B, topN, seed, opts.onProgress);

  const entries: RankingEntry[] = order.map((f, k) => {
    const ranks = B > 0 ? Array.from({ length: B }, (_, r) => rankOfB[r * F + f]).sort((x, y) => x - y) : [];
    const qt = (x: number): number =>
      ranks.length ? ranks[Math.min(ranks.length - 1, Math.max(0, Math.round(x * (ranks.length - 1))))] : NaN;
    const score = stat === 'rr' ? Math.exp(obs[f]) : obs[f];
    return {
      rank: k + 1,
      layer: act.layers[Math.floor(f / E)],
      expert: f % E,
      stat,
      score,
      rate_a: desc.rateA[f],
      rate_b: desc.rateB[f],
      diff: desc.rateA[f] - desc.rateB[f],
      rr: desc.rr[f],
      log_odds: desc.logOdds[f],
      gate_a: desc.gateA[f],
      gate_b: desc.gateB[f],
      gate_diff: desc.gateA[f] - desc.gateB[f],
      count_a: desc.countA[f],
      count_b: desc.countB[f],
      weight_a: desc.weightA[f],
      weight_b: desc.weightB[f],
      ci_low: ci.low[f],
      ci_high: ci.high[f],
      p: p[f],
      q: q[f],
      z: zs[f],
      p_norm: pNorm[f],
      q_norm: qNorm[f],
      p_fisher: desc.pFisher[f],
      q_fisher: NaN,
      stability: B > 0 ? inTop[f] / B : NaN,
      rank_low: qt(0.025),
      rank_high: qt(0.975),
      n_a: nA,
      n_b: nB,
    };
  });
  const qf = benjaminiHochberg(entries.map((e) => e.p_fisher));
  entries.forEach((e, k) => (e.q_fisher = qf[k]));
  const jacSorted = Array.from(jac).sort((x, y) => x - y);
  const jq = (x: number): number => (B ? jacSorted[Math.round(x * (B - 1))] : NaN);
  return {
    ranking: entries,
    summary: {
      stat,
      level,
      n_a: nA,
      n_b: nB,
      n_pairs: nPairs,
      permutations: M,
      bootstrap: B,
      top_n: topN,
      seed,
      conf,
      jaccard_mean: B ? jac.reduce((s, v) => s + v, 0) / B : NaN,
      jaccard_low: jq(0.025),
      jaccard_high: jq(0.975),
    },
  };
}
