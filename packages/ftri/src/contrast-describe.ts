// The descriptive columns of a ranking (rates, gate weights, counts, ratios and Fisher's exact test per side)
// and the confidence interval of the score, with prompts as the sampling units. Not the statistic's
// permutation p or bootstrap (contrast-resample.ts). Shapes: n prompts in the contrast, F features.

import { fisherExact } from '@mote/stats';
import type { Activations, Level } from './contrast-types.js';
import { smooth, type ContrastData } from './contrast-statistic.js';

/** Per-side means of every feature (at the contrast's level) and Fisher's exact p on pooled token counts. */
export function describeColumns(act: Activations, members: number[], idxA: number[], idxB: number[], F: number, level: Level) {
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
export function scoreCI(d: ContrastData, idxA: number[], idxB: number[], z: number): { low: Float64Array; high: Float64Array } {
  const { stat, num, den, tok, F, blocks, side } = d;
  const low = new Float64Array(F),
    high = new Float64Array(F);
  if (stat === 'paired') {
    const dk = new Float64Array(blocks.length * F); // [pairs, F]
    blocks.forEach((blk, k) => {
      let na = 0,
        nb = 0;
      for (const j of blk) side[j] ? na++ : nb++;
      for (const j of blk) {
        const w = side[j] ? 1 / na : -1 / nb;
        for (let f = 0; f < F; f++) dk[k * F + f] += w * num[j * F + f];
      }
    });
    const K = blocks.length;
    for (let f = 0; f < F; f++) {
      let s = 0,
        s2 = 0;
      for (let k = 0; k < K; k++) s += dk[k * F + f];
      const m = s / K;
      for (let k = 0; k < K; k++) s2 += (dk[k * F + f] - m) ** 2;
      const se = K > 1 ? Math.sqrt(s2 / (K - 1) / K) : NaN;
      low[f] = m - z * se;
      high[f] = m + z * se;
    }
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
