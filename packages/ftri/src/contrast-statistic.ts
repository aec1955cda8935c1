// The ranking statistic of a contrast: which prompts take part and on which side (pairs kept whole for the
// paired statistic), their per-prompt values, and the statistic of every feature under any side assignment
// (the observed one, permuted or resampled ones). Not the resampling loops (contrast-resample.ts), not the
// descriptive columns (contrast-describe.ts). Shapes: n prompts in the contrast, F = L*E features.

import { MoteError } from '@mote/tensor-core';
import { blocksFromStrata } from '@mote/stats';
import { SUM_STATS, type Activations, type Level, type Stat } from './contrast-types.js';

/** Smoothed rate: (m*T + 0.5) / (T + 1), a half pseudo-token in T scoped tokens (Haldane–Anscombe). */
export const smooth = (m: number, t: number): number => (m * t + 0.5) / (t + 1);

/** The prompts of a contrast, their sides and strata, and their per-prompt values of the statistic. */
export interface ContrastData {
  stat: Stat;
  level: Level;
  F: number;
  n: number;
  /** prompt indices of act taking part, ascending */
  members: number[]; // [n]
  /** 1 = A, 0 = B */
  side: Uint8Array; // [n]
  nA: number;
  nB: number;
  /** pairs/strata with prompts on both sides */
  nPairs: number;
  /** member indices grouped by stratum (labels are permuted only within a block) */
  blocks: Int32Array[];
  /** per-prompt numerator of the statistic (sums: the raw per-prompt sums) */
  num: Float32Array; // [n, F]
  /** per-prompt denominator (1 per prompt, or its scoped tokens at token level) */
  den: Float64Array; // [n]
  /** scoped tokens per prompt */
  tok: Float64Array; // [n]
}

/** Pick the prompts of the contrast (scoped tokens > 0; paired: strata with both sides) and their values. */
export function contrastData(
  act: Activations,
  a: readonly number[],
  b: readonly number[],
  strata: ReadonlyArray<string | undefined> | undefined,
  stat: Stat,
  level: Level,
): ContrastData {
  const F = act.layers.length * act.expertCount;
  const sumStat = SUM_STATS.includes(stat);
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
  return { stat, level, F, n, members, side, nA, nB, nPairs, blocks, num, den, tok };
}

/** The statistic of every feature under side assignments of the contrast's prompts. */
export interface Statistic {
  /** the statistic for every feature under side assignment s (into out) */
  statAll(s: Uint8Array, out: Float64Array): void;
  /** the statistic from side means mA, mB of tA, tB scoped tokens (not the paired statistic) */
  g(mA: number, mB: number, tA: number, tB: number): number;
  /** paired: weights per prompt that turn a signed sum into the mean of within-stratum differences */
  pairW(s: Uint8Array): Float64Array;
}

export function statistic(d: ContrastData): Statistic {
  const { stat, F, n, nA, nB, nPairs, blocks, num, den, tok } = d;
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
  return { statAll, g, pairW };
}
