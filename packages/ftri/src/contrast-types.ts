// The vocabulary of a contrast: the ranking statistics, the prompt-level activations a trace aggregates, a
// ranking row and the options and summary of a contrast. Types and names only; the computation is in
// contrast.ts and the files it calls.
// Shapes: P prompts, L MoE layers, E routed experts, F = L*E features (layer-major: f = l*E + e).

/**
 * Ranking statistics. `count` (default) is the paper's fTRI score (Dahlke et al. 2025, arXiv 2502.11096): per
 * prompt the expert's selections summed over the scoped tokens, averaged per class, A − B. `weight` is the same
 * with the summed applied gate weights. `diff` is the rate difference (count ÷ scoped tokens per prompt), `gate`
 * the gate-weight rate difference, `rr` / `logodds` ratios of the rates, `paired` the within-pair rate difference.
 */
export type Stat = 'count' | 'weight' | 'diff' | 'rr' | 'logodds' | 'gate' | 'paired';
export const STATS: readonly Stat[] = ['count', 'weight', 'diff', 'rr', 'logodds', 'gate', 'paired'];
/** The default statistic: the paper's count score. */
export const DEFAULT_STAT: Stat = 'count';
/** Statistics on per-prompt sums (no division by the prompt's scoped tokens; level does not apply). */
export const SUM_STATS: readonly Stat[] = ['count', 'weight'];
/** A one-line description of a statistic for reports and help. */
export function describeStat(stat: Stat): string {
  return {
    count: "count: mean per-prompt selection count over the scoped tokens, A − B (the paper's fTRI score, Dahlke et al. 2025)",
    weight: 'weight: mean per-prompt summed applied gate weight over the scoped tokens, A − B',
    diff: 'diff: rate difference, mean per-prompt selection rate (count ÷ scoped tokens), A − B',
    rr: 'rr: smoothed risk ratio of the selection rates',
    logodds: 'logodds: smoothed log odds ratio of the selection rates',
    gate: 'gate: difference of the mean applied gate weight per scoped token',
    paired: 'paired: mean within-pair rate difference (SteerMoE)',
  }[stat];
}
export type Level = 'prompt' | 'token';

/** What a trace aggregates per prompt over its scoped tokens. */
export interface Activations {
  promptIds: string[]; // [P]
  /** decoder-layer index of each MoE layer, as in the checkpoint */
  layers: number[]; // [L]
  expertCount: number; // E
  counts: Float32Array; // [P, F] times the expert was selected over the prompt's scoped tokens
  weights: Float32Array; // [P, F] summed applied top-k weight over the same tokens
  tokens: Float64Array; // [P] scoped tokens per prompt
}

/** One row of a ranking: a (layer, expert) and its contrast statistics. */
export interface RankingEntry {
  rank: number;
  layer: number;
  expert: number;
  /** the ranking statistic's name and value (sorted descending) */
  stat: Stat;
  score: number;
  /** activation rate in A and B: share of scoped tokens that select the expert (level-dependent mean) */
  rate_a: number;
  rate_b: number;
  /** rate_a - rate_b (the rate statistic; the paper's score is count_a - count_b) */
  diff: number;
  /** smoothed risk ratio and log odds ratio of the rates */
  rr: number;
  log_odds: number;
  /** mean applied gate weight per scoped token in A and B, and their difference */
  gate_a: number;
  gate_b: number;
  gate_diff: number;
  /** mean per-prompt selection count and summed weight (the paper's raw quantities); count_a - count_b is its score */
  count_a: number;
  count_b: number;
  weight_a: number;
  weight_b: number;
  /** confidence interval of `score` */
  ci_low: number;
  ci_high: number;
  /** permutation p over prompts (pair-aware, two-sided) and its BH q-value */
  p: number;
  q: number;
  /**
   * the score standardised by the permutation distribution's mean and SD, its two-sided normal tail p and
   * BH q: usable where F is so large that permutation p-values (>= 1/(M+1)) cannot pass BH
   */
  z: number;
  p_norm: number;
  q_norm: number;
  /** Fisher's exact test on pooled token counts (ignores that tokens of a prompt are dependent) */
  p_fisher: number;
  q_fisher: number;
  /** share of bootstrap resamples in which the expert is in the top N; bootstrap rank interval */
  stability: number;
  rank_low: number;
  rank_high: number;
  n_a: number;
  n_b: number;
}

export interface ContrastOptions {
  stat?: Stat;
  level?: Level;
  permutations?: number;
  bootstrap?: number;
  seed?: number;
  /** N of the top-N stability and Jaccard (default 10, the paper's switch-off count) */
  topN?: number;
  conf?: number;
  onProgress?: (done: number, total: number, phase: string) => void;
}

export interface ContrastSummary {
  stat: Stat;
  level: Level;
  n_a: number;
  n_b: number;
  /** pairs/strata with prompts on both sides (the units of the paired statistic) */
  n_pairs: number;
  permutations: number;
  bootstrap: number;
  top_n: number;
  seed: number;
  conf: number;
  /** mean (and 2.5%, 97.5% quantiles) of the Jaccard index between bootstrap top-N sets and the full-data top N */
  jaccard_mean: number;
  jaccard_low: number;
  jaccard_high: number;
}
