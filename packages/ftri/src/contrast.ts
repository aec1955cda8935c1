// The contrast engine: per (layer, expert) statistics between two prompt sets from prompt-level
// activations, with a pair-aware permutation test, Fisher's exact test, BH q-values and a prompt bootstrap
// for ranking stability. Pure computation on typed arrays; no I/O, no model.
// Shapes: P prompts, L MoE layers, E routed experts, F = L*E features (layer-major: f = l*E + e),
// n prompts in the contrast, B bootstrap resamples.

import { MoteError } from '@mote/tensor-core';
import { benjaminiHochberg, blocksFromStrata, createRng, fisherExact, normalTail, permuteWithinBlocks, zFor } from '@mote/stats';

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

/** Smoothed rate: (m*T + 0.5) / (T + 1), a half pseudo-token in T scoped tokens (Haldane–Anscombe). */
const smooth = (m: number, t: number): number => (m * t + 0.5) / (t + 1);

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

  // the prompts of the contrast, side 1 = A, 0 = B
  let members: number[] = [];
  const sideOf = new Map<number, number>();
  for (const i of a) if (act.tokens[i] > 0) sideOf.set(i, 1);
  for (const i of b) {
    if (sideOf.has(i))
      throw new MoteError('E_INPUT', `prompt "${act.promptIds[i]}" is on both sides of the contrast; A and B must be disjoint`, {
        field: 'contrast',
      });
    if (act.tokens[i] > 0) sideOf.set(i, 0);
  }
  members = [...sideOf.keys()].sort((x, y) => x - y);
  let strataOf = members.map((i) => strata?.[i]);
  let nPairs = 0;
  if (stat === 'paired') {
    // keep only strata with prompts on both sides
    const bySide = new Map<string, [number, number]>();
    members.forEach((i, j) => {
      const s = strataOf[j];
      if (s === undefined) return;
      const c = bySide.get(s) ?? [0, 0];
      c[sideOf.get(i)!]++;
      bySide.set(s, c);
    });
    const keep = members.map((_, j) => {
      const c = strataOf[j] === undefined ? undefined : bySide.get(strataOf[j]!);
      return !!c && c[0] > 0 && c[1] > 0;
    });
    members = members.filter((_, j) => keep[j]);
    strataOf = strataOf.filter((_, j) => keep[j]);
    nPairs = new Set(strataOf).size;
    if (nPairs < 2)
      throw new MoteError(
        'E_INPUT',
        `stat "paired" needs at least 2 pairs (prompts sharing a pair_id, one on each side of the contrast); found ${nPairs}. Add pair_id to the prompt set (a grid adds it) or use --stat diff`,
        { field: 'pair_id' },
      );
  } else if (strata) {
    const bySide = new Map<string, Set<number>>();
    members.forEach((i, j) => {
      const s = strataOf[j];
      if (s !== undefined) bySide.set(s, (bySide.get(s) ?? new Set()).add(sideOf.get(i)!));
    });
    nPairs = [...bySide.values()].filter((s) => s.size === 2).length;
  }
  const n = members.length;
  const side = Uint8Array.from(members, (i) => sideOf.get(i)!);
  const nA = side.reduce((s, v) => s + v, 0),
    nB = n - nA;
  if (nA === 0 || nB === 0)
    throw new MoteError(
      'E_INPUT',
      `the contrast has ${nA} prompts in A and ${nB} in B (with scoped tokens); both sides need at least one`,
      { field: 'contrast' },
    );

  // per-prompt values of the ranking statistic: num [n, F], den [n] (sums: the raw per-prompt sums, den 1)
  const useWeights = stat === 'gate' || stat === 'weight';
  const src = useWeights ? act.weights : act.counts;
  const perPrompt = level === 'prompt' || stat === 'paired';
  const num = new Float32Array(n * F); // [n, F]
  const den = new Float64Array(n); // [n]
  const tok = new Float64Array(n); // [n]
  for (let j = 0; j < n; j++) {
    const i = members[j],
      t = act.tokens[i];
    tok[j] = t;
    den[j] = perPrompt ? 1 : t;
    const scale = perPrompt && !sumStat ? 1 / t : 1;
    for (let f = 0; f < F; f++) num[j * F + f] = src[i * F + f] * scale;
  }

  const blocks = blocksFromStrata(strataOf, n);
  // paired: weights per prompt that turn a signed sum into the mean of within-stratum differences
  const blockOf = new Int32Array(n).fill(-1);
  blocks.forEach((blk, k) => blk.forEach((j) => (blockOf[j] = k)));
  const pairW = (s: Uint8Array): Float64Array => {
    const cnt = blocks.map(() => [0, 0]);
    for (let j = 0; j < n; j++) cnt[blockOf[j]][s[j]]++;
    const w = new Float64Array(n);
    for (let j = 0; j < n; j++) {
      const c = cnt[blockOf[j]];
      w[j] = s[j] ? 1 / (c[1] * nPairs) : -1 / (c[0] * nPairs);
    }
    return w;
  };

  const total = new Float64Array(F);
  let denTot = 0,
    tokTot = 0;
  for (let j = 0; j < n; j++) {
    denTot += den[j];
    tokTot += tok[j];
    for (let f = 0; f < F; f++) total[f] += num[j * F + f];
  }
  const g = (mA: number, mB: number, tA: number, tB: number): number => {
    switch (stat) {
      case 'rr':
        return Math.log(smooth(mA, tA) / smooth(mB, tB));
      case 'logodds': {
        const pa = smooth(mA, tA),
          pb = smooth(mB, tB);
        return Math.log(pa / (1 - pa)) - Math.log(pb / (1 - pb));
      }
      default:
        return mA - mB;
    }
  };
  /** the statistic for every feature under side assignment s (into out) */
  const sA = new Float64Array(F);
  const statAll = (s: Uint8Array, out: Float64Array): void => {
    sA.fill(0);
    if (stat === 'paired') {
      const w = pairW(s);
      for (let j = 0; j < n; j++) {
        const wj = w[j],
          o = j * F;
        for (let f = 0; f < F; f++) sA[f] += wj * num[o + f];
      }
      out.set(sA);
      return;
    }
    // sum over the smaller side, derive the other from the totals
    const sumSide = nA <= nB ? 1 : 0;
    let dS = 0,
      tS = 0;
    for (let j = 0; j < n; j++) {
      if (s[j] !== sumSide) continue;
      dS += den[j];
      tS += tok[j];
      const o = j * F;
      for (let f = 0; f < F; f++) sA[f] += num[o + f];
    }
    const dA = sumSide ? dS : denTot - dS,
      tA = sumSide ? tS : tokTot - tS;
    const dB = denTot - dA,
      tB = tokTot - tA;
    for (let f = 0; f < F; f++) {
      const a1 = sumSide ? sA[f] : total[f] - sA[f];
      out[f] = g(a1 / dA, (total[f] - a1) / dB, tA, tB);
    }
  };

  const obs = new Float64Array(F);
  statAll(side, obs);

  // permutation test (labels shuffled within strata)
  const rng = createRng(seed);
  const perm = new Uint8Array(n);
  const tPerm = new Float64Array(F);
  const hits = new Float64Array(F);
  const pSum = new Float64Array(F),
    pSum2 = new Float64Array(F);
  const absObs = obs.map((v) => Math.abs(v) - 1e-12 * Math.max(1, Math.abs(v)));
  for (let m = 0; m < M; m++) {
    permuteWithinBlocks(side, perm, blocks, rng);
    statAll(perm, tPerm);
    for (let f = 0; f < F; f++) {
      const t = tPerm[f];
      if (Math.abs(t) >= absObs[f]) hits[f]++;
      pSum[f] += t;
      pSum2[f] += t * t;
    }
    if (opts.onProgress && (m % 50 === 49 || m === M - 1)) opts.onProgress(m + 1, M, 'permutation');
  }
  const p = new Float64Array(F);
  for (let f = 0; f < F; f++) p[f] = M > 0 ? (1 + hits[f]) / (1 + M) : NaN;
  const q = benjaminiHochberg(p);
  const zs = new Float64Array(F).fill(NaN),
    pNorm = new Float64Array(F).fill(NaN);
  if (M > 1)
    for (let f = 0; f < F; f++) {
      const mu = pSum[f] / M,
        sd = Math.sqrt(Math.max(0, (pSum2[f] - M * mu * mu) / (M - 1)));
      if (sd > 0) {
        zs[f] = (obs[f] - mu) / sd;
        pNorm[f] = Math.min(1, 2 * normalTail(Math.abs(zs[f])));
      } else if (obs[f] === mu) (zs[f] = 0), (pNorm[f] = 1);
    }
  const qNorm = benjaminiHochberg(pNorm);

  // descriptive per-feature numbers and the score's confidence interval
  const z = zFor(conf);
  const idxA: number[] = [],
    idxB: number[] = [];
  for (let j = 0; j < n; j++) (side[j] ? idxA : idxB).push(j);
  const desc = describe(act, members, idxA, idxB, F, level);
  const ci = scoreCI(stat, num, den, tok, idxA, idxB, F, z, blocks, side, nPairs);

  // bootstrap over prompts (within each side; strata resampled as units for the paired statistic)
  const order = rankOrder(obs, p);
  const obsTop = new Set(order.slice(0, topN));
  const rankOfB = new Int32Array(B * F); // [B, F]
  const jac = new Float64Array(B);
  const inTop = new Float64Array(F);
  const bootVals = new Float64Array(F);
  const bootP = new Float64Array(F);
  const rngB = createRng(seed + 7919);
  for (let r = 0; r < B; r++) {
    bootstrapStat(r);
    const ord = rankOrder(bootVals, bootP);
    let inter = 0;
    for (let k = 0; k < F; k++) {
      const f = ord[k];
      rankOfB[r * F + f] = k + 1;
      if (k < topN) {
        inTop[f]++;
        if (obsTop.has(f)) inter++;
      }
    }
    jac[r] = inter / (2 * topN - inter);
    if (opts.onProgress && (r % 20 === 19 || r === B - 1)) opts.onProgress(r + 1, B, 'bootstrap');
  }
  function bootstrapStat(_r: number): void {
    if (stat === 'paired') {
      // resample strata; within a drawn stratum keep its prompts
      const w = new Float64Array(n);
      const base = pairW(side);
      for (let k = 0; k < blocks.length; k++) {
        const blk = blocks[rngB.int(blocks.length)];
        for (const j of blk) w[j] += base[j];
      }
      bootVals.fill(0);
      for (let j = 0; j < n; j++) {
        if (w[j] === 0) continue;
        const o = j * F;
        for (let f = 0; f < F; f++) bootVals[f] += w[j] * num[o + f];
      }
      return;
    }
    const sa = new Float64Array(F),
      sb = new Float64Array(F);
    let dA = 0,
      dB = 0,
      tA = 0,
      tB = 0;
    for (const [idx, s, isA] of [
      [idxA, sa, true],
      [idxB, sb, false],
    ] as const) {
      for (let k = 0; k < idx.length; k++) {
        const j = idx[rngB.int(idx.length)];
        if (isA) (dA += den[j]), (tA += tok[j]);
        else (dB += den[j]), (tB += tok[j]);
        const o = j * F;
        for (let f = 0; f < F; f++) s[f] += num[o + f];
      }
    }
    for (let f = 0; f < F; f++) bootVals[f] = g(sa[f] / dA, sb[f] / dB, tA, tB);
  }

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

/** Feature order: score descending, then p ascending, then feature index. */
function rankOrder(score: Float64Array, p: Float64Array): number[] {
  const idx = Array.from({ length: score.length }, (_, f) => f);
  const s = (v: number): number => (Number.isNaN(v) ? -Infinity : v);
  idx.sort((x, y) => s(score[y]) - s(score[x]) || (p[x] || 0) - (p[y] || 0) || x - y);
  return idx;
}

function describe(act: Activations, members: number[], idxA: number[], idxB: number[], F: number, level: Level) {
  const out = {
    rateA: new Float64Array(F),
    rateB: new Float64Array(F),
    gateA: new Float64Array(F),
    gateB: new Float64Array(F),
    countA: new Float64Array(F),
    countB: new Float64Array(F),
    weightA: new Float64Array(F),
    weightB: new Float64Array(F),
    rr: new Float64Array(F),
    logOdds: new Float64Array(F),
    pFisher: new Float64Array(F),
  };
  const side = (idx: number[], rate: Float64Array, gate: Float64Array, cnt: Float64Array, wsum: Float64Array) => {
    const pooledC = new Float64Array(F);
    let tokSum = 0;
    for (const j of idx) {
      const i = members[j],
        t = act.tokens[i];
      tokSum += t;
      for (let f = 0; f < F; f++) {
        const c = act.counts[i * F + f],
          w = act.weights[i * F + f];
        cnt[f] += c;
        wsum[f] += w;
        if (level === 'prompt') (rate[f] += c / t), (gate[f] += w / t);
      }
    }
    for (let f = 0; f < F; f++) {
      pooledC[f] = cnt[f];
      if (level === 'token') (rate[f] = cnt[f] / tokSum), (gate[f] = wsum[f] / tokSum);
      else (rate[f] /= idx.length), (gate[f] /= idx.length);
      cnt[f] /= idx.length;
      wsum[f] /= idx.length;
    }
    return { pooledC, tokSum };
  };
  const A = side(idxA, out.rateA, out.gateA, out.countA, out.weightA);
  const Bs = side(idxB, out.rateB, out.gateB, out.countB, out.weightB);
  for (let f = 0; f < F; f++) {
    const pa = smooth(out.rateA[f], A.tokSum),
      pb = smooth(out.rateB[f], Bs.tokSum);
    out.rr[f] = pa / pb;
    out.logOdds[f] = Math.log(pa / (1 - pa)) - Math.log(pb / (1 - pb));
    const a = Math.round(A.pooledC[f]),
      c = Math.round(Bs.pooledC[f]);
    out.pFisher[f] = fisherExact(a, Math.max(0, A.tokSum - a), c, Math.max(0, Bs.tokSum - c)).p;
  }
  return out;
}

/**
 * Normal-approximation interval of the score, treating prompts (not tokens) as the sampling units:
 * the variance of a group mean Σnum/Σden is linearised (ratio estimator), then carried through the
 * statistic with the delta method. Paired: mean of within-stratum differences ± z·sd/√pairs.
 */
function scoreCI(
  stat: Stat,
  num: Float32Array,
  den: Float64Array,
  tok: Float64Array,
  idxA: number[],
  idxB: number[],
  F: number,
  z: number,
  blocks: Int32Array[],
  side: Uint8Array,
  nPairs: number,
): { low: Float64Array; high: Float64Array } {
  const low = new Float64Array(F),
    high = new Float64Array(F);
  if (stat === 'paired') {
    const d = new Float64Array(blocks.length * F); // [pairs, F]
    blocks.forEach((blk, k) => {
      let na = 0,
        nb = 0;
      for (const j of blk) side[j] ? na++ : nb++;
      for (const j of blk) {
        const w = side[j] ? 1 / na : -1 / nb;
        for (let f = 0; f < F; f++) d[k * F + f] += w * num[j * F + f];
      }
    });
    const K = blocks.length;
    for (let f = 0; f < F; f++) {
      let s = 0,
        s2 = 0;
      for (let k = 0; k < K; k++) s += d[k * F + f];
      const m = s / K;
      for (let k = 0; k < K; k++) s2 += (d[k * F + f] - m) ** 2;
      const se = K > 1 ? Math.sqrt(s2 / (K - 1) / K) : NaN;
      low[f] = m - z * se;
      high[f] = m + z * se;
    }
    void nPairs;
    return { low, high };
  }
  const mv = (idx: number[]) => {
    let D = 0,
      T = 0;
    for (const j of idx) (D += den[j]), (T += tok[j]);
    const m = new Float64Array(F),
      v = new Float64Array(F);
    for (const j of idx) for (let f = 0; f < F; f++) m[f] += num[j * F + f];
    for (let f = 0; f < F; f++) m[f] /= D;
    const k = idx.length;
    for (const j of idx) for (let f = 0; f < F; f++) v[f] += (num[j * F + f] - m[f] * den[j]) ** 2;
    for (let f = 0; f < F; f++) v[f] = k > 1 ? ((v[f] / (D * D)) * k) / (k - 1) : NaN;
    return { m, v, T };
  };
  const A = mv(idxA),
    Bq = mv(idxB);
  for (let f = 0; f < F; f++) {
    const ma = A.m[f],
      mb = Bq.m[f];
    if (stat === 'diff' || stat === 'gate' || stat === 'count' || stat === 'weight') {
      const se = Math.sqrt(A.v[f] + Bq.v[f]);
      low[f] = ma - mb - z * se;
      high[f] = ma - mb + z * se;
    } else {
      const pa = smooth(ma, A.T),
        pb = smooth(mb, Bq.T);
      const da = A.T / (A.T + 1),
        db = Bq.T / (Bq.T + 1); // d p̃ / d m
      if (stat === 'rr') {
        const se = Math.sqrt(A.v[f] * (da / pa) ** 2 + Bq.v[f] * (db / pb) ** 2);
        const c = Math.log(pa / pb);
        low[f] = Math.exp(c - z * se);
        high[f] = Math.exp(c + z * se);
      } else {
        const se = Math.sqrt(A.v[f] * (da / (pa * (1 - pa))) ** 2 + Bq.v[f] * (db / (pb * (1 - pb))) ** 2);
        const c = Math.log(pa / (1 - pa)) - Math.log(pb / (1 - pb));
        low[f] = c - z * se;
        high[f] = c + z * se;
      }
    }
  }
  return { low, high };
}
