// The contrast engine on synthetic prompt-level activations with planted experts: recovery, calibration
// under the null (KS on permutation p-values), BH's false discovery rate, pairs, and the definitions.
import { describe, expect, it } from 'vitest';
import { contrastActivations, type Activations } from './contrast.js';
import { createRng, ksTest } from '@mote/stats';

interface Synth {
  act: Activations;
  a: number[];
  b: number[];
  pairs?: string[];
}

/** P prompts (first nA in A), L x E features, counts ~ Binomial(tokens, rate); planted [layer, expert, +rate] in A. */
function synth(o: { P: number; nA: number; L: number; E: number; planted: Array<[number, number, number]>; seed: number; pairs?: boolean; pairSpread?: number }): Synth {
  const rng = createRng(o.seed);
  const F = o.L * o.E;
  const base = Float64Array.from({ length: F }, () => 0.02 + 0.2 * rng.next());
  const counts = new Float32Array(o.P * F), weights = new Float32Array(o.P * F), tokens = new Float64Array(o.P);
  const pairBias = Float64Array.from({ length: o.P }, () => (rng.next() - 0.5) * (o.pairSpread ?? 0));
  for (let i = 0; i < o.P; i++) {
    const t = 12 + rng.int(25);
    tokens[i] = t;
    const inA = i < o.nA;
    const pairIdx = o.pairs ? i % o.nA : i;
    for (let f = 0; f < F; f++) {
      let r = base[f] * (0.6 + 0.8 * rng.next());
      const l = Math.floor(f / o.E), e = f % o.E;
      for (const [pl, pe, d] of o.planted) if (pl === l && pe === e) r += (inA ? d : 0) + pairBias[pairIdx];
      r = Math.min(0.95, Math.max(0, r));
      let c = 0, w = 0;
      for (let k = 0; k < t; k++) if (rng.next() < r) (c++, (w += 0.3 + 0.4 * rng.next()));
      counts[i * F + f] = c;
      weights[i * F + f] = w;
    }
  }
  const a = Array.from({ length: o.nA }, (_, i) => i), b = Array.from({ length: o.P - o.nA }, (_, i) => o.nA + i);
  const pairs = o.pairs ? Array.from({ length: o.P }, (_, i) => `pair${i % o.nA}`) : undefined;
  return { act: { promptIds: Array.from({ length: o.P }, (_, i) => `p${i}`), layers: Array.from({ length: o.L }, (_, l) => l + 1), expertCount: o.E, counts, weights, tokens }, a, b, pairs };
}

const key = (e: { layer: number; expert: number }): string => `${e.layer}:${e.expert}`;

describe('contrastActivations: planted experts', () => {
  const planted: Array<[number, number, number]> = [[1, 5, 0.25], [3, 12, 0.2], [2, 0, 0.3]];
  const s = synth({ P: 80, nA: 35, L: 4, E: 16, planted, seed: 11 });
  const want = new Set(planted.map(([l, e]) => `${l + 1}:${e}`)); // layers are numbered from 1 in synth

  it('ranks the planted experts first with the default statistic (rate difference)', () => {
    const { ranking, summary } = contrastActivations(s.act, s.a, s.b, undefined, { permutations: 999, bootstrap: 100, topN: 3 });
    expect(new Set(ranking.slice(0, 3).map(key))).toEqual(want);
    for (const e of ranking.slice(0, 3)) {
      expect(e.p).toBeCloseTo(1 / 1000, 12); // no permutation reaches them: the smallest attainable p
      expect(e.q).toBeLessThan(0.05); // = 64 features * 0.001 / rank
      expect(e.z).toBeGreaterThan(5);
      expect(e.q_norm).toBeLessThan(1e-5);
      expect(e.stability).toBeGreaterThan(0.9);
      expect(e.ci_low).toBeGreaterThan(0);
      expect(e.rank_high).toBeLessThanOrEqual(3);
    }
    expect(summary.jaccard_mean).toBeGreaterThan(0.9);
    expect(summary.n_a).toBe(35);
    expect(summary.n_b).toBe(45);
    // the null features are mostly not discoveries
    expect(ranking.slice(3).filter((e) => e.q < 0.05).length).toBeLessThanOrEqual(3);
    expect(ranking.map((e) => e.rank)).toEqual(ranking.map((_, i) => i + 1));
  });

  it.each(['rr', 'logodds', 'gate'] as const)('stat %s recovers them too', (stat) => {
    const { ranking } = contrastActivations(s.act, s.a, s.b, undefined, { stat, permutations: 199, bootstrap: 0 });
    expect(new Set(ranking.slice(0, 3).map(key))).toEqual(want);
    expect(ranking[0].stat).toBe(stat);
    if (stat === 'rr') expect(ranking[0].score).toBeGreaterThan(1);
  });

  it('token level pools counts', () => {
    const { ranking } = contrastActivations(s.act, s.a, s.b, undefined, { level: 'token', permutations: 199, bootstrap: 0 });
    expect(new Set(ranking.slice(0, 3).map(key))).toEqual(want);
  });
});

describe('contrastActivations: definitions on a hand-made table', () => {
  // 1 layer x 2 experts; prompts: A = {p0: 10 tokens, e0 x4; p1: 30 tokens, e0 x6}, B = {p2: 20 tokens, e0 x2}
  const act: Activations = {
    promptIds: ['p0', 'p1', 'p2'], layers: [7], expertCount: 2,
    counts: Float32Array.from([4, 10, 6, 30, 2, 20]), weights: Float32Array.from([2, 5, 3, 15, 1, 10]), tokens: Float64Array.from([10, 30, 20]),
  };
  it('prompt level: rate = mean of per-prompt rates; count/weight = per-prompt means', () => {
    const e0 = contrastActivations(act, [0, 1], [2], undefined, { permutations: 0, bootstrap: 0 }).ranking.find((e) => e.expert === 0)!;
    expect(e0.layer).toBe(7);
    expect(e0.rate_a).toBeCloseTo((0.4 + 0.2) / 2, 12);
    expect(e0.rate_b).toBeCloseTo(0.1, 12);
    expect(e0.diff).toBeCloseTo(0.2, 12);
    expect(e0.score).toBeCloseTo(0.2, 6); // per-prompt values are float32
    expect(e0.count_a).toBeCloseTo(5, 12);
    expect(e0.weight_a).toBeCloseTo(2.5, 12);
    expect(e0.gate_a).toBeCloseTo((0.2 + 0.1) / 2, 12);
    // smoothed rates (rate*T + 0.5)/(T + 1), T = 40 and 20 tokens
    const pa = (0.3 * 40 + 0.5) / 41, pb = (0.1 * 20 + 0.5) / 21;
    expect(e0.rr).toBeCloseTo(pa / pb, 12);
    expect(e0.log_odds).toBeCloseTo(Math.log(pa / (1 - pa)) - Math.log(pb / (1 - pb)), 12);
  });
  it('token level: rate = pooled selections / pooled tokens', () => {
    const e0 = contrastActivations(act, [0, 1], [2], undefined, { level: 'token', permutations: 0, bootstrap: 0 }).ranking.find((e) => e.expert === 0)!;
    expect(e0.rate_a).toBeCloseTo(10 / 40, 12);
    expect(e0.rate_b).toBeCloseTo(2 / 20, 12);
  });
  it('rejects overlapping sides, unknown stats and a missing side', () => {
    expect(() => contrastActivations(act, [0, 1], [1, 2], undefined)).toThrow(/both sides/);
    expect(() => contrastActivations(act, [0], [2], undefined, { stat: 'nope' as never })).toThrow(/unknown statistic/);
    expect(() => contrastActivations(act, [0, 1], [], undefined)).toThrow(/both sides need/);
    expect(() => contrastActivations(act, [0, 1], [2], undefined, { stat: 'paired' })).toThrow(/pair_id/);
  });
});

describe('contrastActivations: calibration', () => {
  it('under the null (labels permuted) p-values are uniform (KS)', () => {
    const ps: number[] = [], pn: number[] = [];
    for (let rep = 0; rep < 20; rep++) {
      const s = synth({ P: 40, nA: 20, L: 2, E: 25, planted: [[0, 3, 0.3]], seed: 100 + rep });
      // permute the labels: a random half is "A"
      const rng = createRng(500 + rep);
      const idx = Array.from({ length: 40 }, (_, i) => i);
      for (let i = idx.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [idx[i], idx[j]] = [idx[j], idx[i]];
      }
      const { ranking } = contrastActivations(s.act, idx.slice(0, 20), idx.slice(20), undefined, { permutations: 499, bootstrap: 0, seed: rep });
      for (const e of ranking) ps.push(e.p), pn.push(e.p_norm);
    }
    expect(ps.length).toBe(1000);
    expect(ksTest(pn).p).toBeGreaterThan(0.01);
    const ks = ksTest(ps);
    expect(ks.p).toBeGreaterThan(0.01);
    // and the planted one is not special any more
    expect(ps.filter((p) => p < 0.05).length / ps.length).toBeLessThan(0.08);
  });

  it('paired permutations are uniform under the null too', () => {
    const ps: number[] = [];
    for (let rep = 0; rep < 10; rep++) {
      const s = synth({ P: 40, nA: 20, L: 2, E: 25, planted: [], seed: 300 + rep, pairs: true });
      const { ranking } = contrastActivations(s.act, s.a, s.b, s.pairs, { stat: 'paired', permutations: 499, bootstrap: 0, seed: rep });
      for (const e of ranking) ps.push(e.p);
    }
    expect(ksTest(ps).p).toBeGreaterThan(0.01);
  });

  it('BH keeps the false discovery rate at its level', () => {
    const alpha = 0.1;
    let fdpSum = 0, power = 0;
    const reps = 25;
    for (let rep = 0; rep < reps; rep++) {
      const planted: Array<[number, number, number]> = Array.from({ length: 10 }, (_, k) => [k % 4, k, 0.08 + 0.01 * k]);
      const s = synth({ P: 60, nA: 30, L: 4, E: 25, planted, seed: 900 + rep });
      const truth = new Set(planted.map(([l, e]) => `${l + 1}:${e}`));
      const { ranking } = contrastActivations(s.act, s.a, s.b, undefined, { permutations: 999, bootstrap: 0, seed: rep });
      const disc = ranking.filter((e) => e.q <= alpha);
      const falseD = disc.filter((e) => !truth.has(key(e))).length;
      fdpSum += falseD / Math.max(1, disc.length);
      power += (disc.length - falseD) / truth.size;
    }
    const fdr = fdpSum / reps;
    // m0/m * alpha = 0.09 expected; allow Monte Carlo slack
    expect(fdr).toBeLessThan(alpha + 0.04);
    expect(power / reps).toBeGreaterThan(0.3);
  });

  it('pairs: the paired statistic sees a within-pair shift that the spread between pairs hides', () => {
    const s = synth({ P: 60, nA: 30, L: 2, E: 8, planted: [[1, 2, 0.06]], seed: 77, pairs: true, pairSpread: 0.5 });
    const paired = contrastActivations(s.act, s.a, s.b, s.pairs, { stat: 'paired', permutations: 999, bootstrap: 50 });
    const top = paired.ranking[0];
    expect(key(top)).toBe('2:2');
    expect(top.p).toBeLessThan(0.01);
    expect(paired.summary.n_pairs).toBe(30);
    const unpaired = contrastActivations(s.act, s.a, s.b, undefined, { permutations: 999, bootstrap: 0 });
    expect(unpaired.ranking.find((e) => key(e) === '2:2')!.p).toBeGreaterThan(top.p);
  });
});
