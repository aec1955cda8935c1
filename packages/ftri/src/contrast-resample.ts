// Resampling for a contrast: the permutation test (labels shuffled within strata: p, its normal-approximation
// z / p / q, BH q) and the prompt bootstrap (per-resample ranks, top-N membership, Jaccard to the observed top
// N). Not the statistic itself (contrast-statistic.ts). Shapes: n prompts, F features, M permutations,
// B bootstrap resamples.

import { benjaminiHochberg, createRng, normalTail, permuteWithinBlocks } from '@mote/stats';
import type { ContrastData, Statistic } from './contrast-statistic.js';

type OnProgress = ((done: number, total: number, phase: string) => void) | undefined;

/** Two-sided permutation p-values of the observed statistic `obs` [F] over M relabellings within strata. */
export function permutationPValues(
  d: ContrastData,
  st: Statistic,
  obs: Float64Array,
  M: number,
  seed: number,
  onProgress: OnProgress,
): { p: Float64Array; q: Float64Array; zs: Float64Array; pNorm: Float64Array; qNorm: Float64Array } {
  const { F, n, side, blocks } = d;
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
    st.statAll(perm, tPerm);
    for (let f = 0; f < F; f++) {
      const t = tPerm[f];
      if (Math.abs(t) >= absObs[f]) hits[f]++;
      pSum[f] += t;
      pSum2[f] += t * t;
    }
    if (onProgress && (m % 50 === 49 || m === M - 1)) onProgress(m + 1, M, 'permutation');
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
  return { p, q, zs, pNorm, qNorm };
}

/**
 * Bootstrap over prompts (within each side; strata resampled as units for the paired statistic): the rank of
 * every feature in each of B resamples, how often it is in the top N, and each resample's Jaccard index
 * against the observed top N (`order`: the observed feature order).
 */
export function bootstrapRanks(
  d: ContrastData,
  st: Statistic,
  order: number[],
  B: number,
  topN: number,
  seed: number,
  onProgress: OnProgress,
): { rankOfB: Int32Array; inTop: Float64Array; jac: Float64Array } {
  const { stat, F, n, side, blocks, num, den, tok } = d;
  const { g, pairW } = st;
  const idxA: number[] = [],
    idxB: number[] = [];
  for (let j = 0; j < n; j++) (side[j] ? idxA : idxB).push(j);
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
    if (onProgress && (r % 20 === 19 || r === B - 1)) onProgress(r + 1, B, 'bootstrap');
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
  return { rankOfB, inTop, jac };
}

/** Feature order: score descending, then p ascending, then feature index. */
export function rankOrder(score: Float64Array, p: Float64Array): number[] {
  const idx = Array.from({ length: score.length }, (_, f) => f);
  const s = (v: number): number => (Number.isNaN(v) ? -Infinity : v);
  idx.sort((x, y) => s(score[y]) - s(score[x]) || (p[x] || 0) - (p[y] || 0) || x - y);
  return idx;
}
