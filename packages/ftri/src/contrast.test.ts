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
function synth(o: {
  P: number;
  nA: number;
  L: number;
  E: number;
  planted: Array<[number, number, number]>;
  seed: number;
  pairs?: boolean;
  pairSpread?: number;
}): Synth {
  const rng = createRng(o.seed);
  const F = o.L * o.E;
  const base = Float64Array.from({ length: F }, () => 0.02 + 0.2 * rng.next());
  const counts = new Float32Array(o.P * F),
    weights = new Float32Array(o.P * F),
    tokens = new Float64Array(o.P);
  const pairBias = Float64Array.from({ length: o.P }, () => (rng.next() - 0.5) * (o.pairSpread ?? 0));
  for (let i = 0; i < o.P; i++) {
    const t = 12 + rng.int(25);
    tokens[i] = t;
    const inA = i < o.nA;
    const pairIdx = o.pairs ? i % o.nA : i;
    for (let f = 0; f < F; f++) {
      let r = base[f] * (0.6 + 0.8 * rng.next());
      const l = Math.floor(f / o.E),
        e = f % o.E;
      for (const [pl, pe, d] of o.planted) if (pl === l && pe === e) r += (inA ? d : 0) + pairBias[pairIdx];
      r = Math.min(0.95, Math.max(0, r));
      let c = 0,
        w = 0;
      for (let k = 0; k < t; k++) if (rng.next() < r) c++, (w += 0.3 + 0.4 * rng.next());
      counts[i * F + f] = c;
      weights[i * F + f] = w;
    }
  }
  const a = Array.from({ length: o.nA }, (_, i) => i),
    b = Array.from({ length: o.P - o.nA }, (_, i) => o.nA + i);
  const pairs = o.pairs ? Array.from({ length: o.P }, (_, i) => `pair${i % o.nA}`) : undefined;
  return {
    act: {
      promptIds: Array.from({ length: o.P }, (_, i) => `p${i}`),
      layers: Array.from({ length: o.L }, (_, l) => l + 1),
      expertCount: o.E,
      counts,
      weights,
      tokens,
    },
    a,
    b,
    pairs,
  };
}

const key = (e: { layer: number; expert: number }): string => `${e.layer}:${e.expert}`;

describe('contrastActivations: planted experts', () => {
  const planted: Array<[number, number, number]> = [
    [1, 5, 0.25],
    [3, 12, 0.2],
    [2, 0, 0.3],
  ];
  const s = synth({ P: 80, nA: 35, L: 4, E: 16, planted, seed: 11 });
  const want = new Set(planted.map(([l, e]) => `${l + 1}:${e}`)); // layers are numbered from 1 in synth

  // pinned to the former default (stat diff, the rate difference); the count default is checked below
  it('ranks the planted experts first with the rate difference', () => {
    const { ranking, summary } = contrastActivations(s.act, s.a, s.b, undefined, {
      stat: 'diff',
      permutations: 999,
      bootstrap: 100,
      topN: 3,
    });
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

  it.each(['count', 'weight', 'rr', 'logodds', 'gate'] as const)('stat %s recovers them too', (stat) => {
    const { ranking } = contrastActivations(s.act, s.a, s.b, undefined, { stat, permutations: 199, bootstrap: 0 });
    expect(new Set(ranking.slice(0, 3).map(key))).toEqual(want);
    expect(ranking[0].stat).toBe(stat);
    if (stat === 'rr') expect(ranking[0].score).toBeGreaterThan(1);
  });

  it('token level pools counts', () => {
    const { ranking } = contrastActivations(s.act, s.a, s.b, undefined, { stat: 'diff', level: 'token', permutations: 199, bootstrap: 0 });
    expect(new Set(ranking.slice(0, 3).map(key))).toEqual(want);
  });
});

describe('contrastActivations: definitions on a hand-made table', () => {
  // 1 layer x 2 experts; prompts: A = {p0: 10 tokens, e0 x4; p1: 30 tokens, e0 x6}, B = {p2: 20 tokens, e0 x2}
  const act: Activations = {
    promptIds: ['p0', 'p1', 'p2'],
    layers: [7],
    expertCount: 2,
    counts: Float32Array.from([4, 10, 6, 30, 2, 20]),
    weights: Float32Array.from([2, 5, 3, 15, 1, 10]),
    tokens: Float64Array.from([10, 30, 20]),
  };
  it('prompt level: rate = mean of per-prompt rates; count/weight = per-prompt means', () => {
    const e0 = contrastActivations(act, [0, 1], [2], undefined, { stat: 'diff', permutations: 0, bootstrap: 0 }).ranking.find(
      (e) => e.expert === 0,
    )!;
    expect(e0.layer).toBe(7);
    expect(e0.rate_a).toBeCloseTo((0.4 + 0.2) / 2, 12);
    expect(e0.rate_b).toBeCloseTo(0.1, 12);
    expect(e0.diff).toBeCloseTo(0.2, 12);
    expect(e0.score).toBeCloseTo(0.2, 6); // per-prompt values are float32
    expect(e0.count_a).toBeCloseTo(5, 12);
    expect(e0.weight_a).toBeCloseTo(2.5, 12);
    expect(e0.gate_a).toBeCloseTo((0.2 + 0.1) / 2, 12);
    // smoothed rates (rate*T + 0.5)/(T + 1), T = 40 and 20 tokens
    const pa = (0.3 * 40 + 0.5) / 41,
      pb = (0.1 * 20 + 0.5) / 21;
    expect(e0.rr).toBeCloseTo(pa / pb, 12);
    expect(e0.log_odds).toBeCloseTo(Math.log(pa / (1 - pa)) - Math.log(pb / (1 - pb)), 12);
  });
  it('token level: rate = pooled selections / pooled tokens', () => {
    const e0 = contrastActivations(act, [0, 1], [2], undefined, {
      stat: 'diff',
      level: 'token',
      permutations: 0,
      bootstrap: 0,
    }).ranking.find((e) => e.expert === 0)!;
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

describe("contrastActivations: the paper's count score vs the rate on unequal prompt lengths (by hand)", () => {
  // 1 layer (decoder index 3) x 3 experts. A has long prompts (40 and 20 scoped tokens), B short ones (10 and 10).
  //            counts A      counts B     weights A     weights B
  //   e0       12, 4         5, 3         3, 1          2.5, 1.5
  //   e1        4, 2         0, 0         2, 1          0, 0
  //   e2        2, 2         1, 1         1.9, 1.9      0.2, 0.2
  // count  (mean per-prompt sum, A − B): e0 8 − 4 = 4;  e1 3 − 0 = 3;  e2 2 − 1 = 1          -> e0, e1, e2
  // rate   (mean per-prompt count/tokens): e0 (.3+.2)/2 − (.5+.3)/2 = .25 − .4 = −.15;
  //        e1 (.1+.1)/2 − 0 = .1;  e2 (.05+.1)/2 − (.1+.1)/2 = .075 − .1 = −.025               -> e1, e2, e0
  // weight (mean per-prompt summed weight): e0 2 − 2 = 0;  e1 1.5 − 0 = 1.5;  e2 1.9 − .2 = 1.7 -> e2, e1, e0
  const counts = [12, 4, 2, 4, 2, 2, 5, 0, 1, 3, 0, 1]; // [P=4, F=3] prompt-major
  const weights = [3, 2, 1.9, 1, 1, 1.9, 2.5, 0, 0.2, 1.5, 0, 0.2];
  const act: Activations = {
    promptIds: ['a40', 'a20', 'b10', 'b10x'],
    layers: [3],
    expertCount: 3,
    counts: Float32Array.from(counts),
    weights: Float32Array.from(weights),
    tokens: Float64Array.from([40, 20, 10, 10]),
  };
  const run = (stat?: 'count' | 'weight' | 'diff') =>
    contrastActivations(act, [0, 1], [2, 3], undefined, { stat, permutations: 0, bootstrap: 0 });

  it('count is the default and ranks e0, e1, e2 with scores 4, 3, 1', () => {
    const { ranking, summary } = run();
    expect(summary.stat).toBe('count');
    expect(ranking.map((e) => e.expert)).toEqual([0, 1, 2]);
    expect(ranking.map((e) => e.score)).toEqual([4, 3, 1].map((v) => expect.closeTo(v, 6)));
    expect(ranking.every((e) => e.stat === 'count' && e.layer === 3)).toBe(true);
    expect(ranking[0].count_a).toBeCloseTo(8, 12);
    expect(ranking[0].count_b).toBeCloseTo(4, 12);
  });
  it('the rate ranks the same data e1, e2, e0 with scores .1, −.025, −.15', () => {
    const { ranking } = run('diff');
    expect(ranking.map((e) => e.expert)).toEqual([1, 2, 0]);
    expect(ranking.map((e) => e.score)).toEqual([0.1, -0.025, -0.15].map((v) => expect.closeTo(v, 6)));
  });
  it('the summed gate weight ranks e2, e1, e0 with scores 1.7, 1.5, 0', () => {
    const { ranking } = run('weight');
    expect(ranking.map((e) => e.expert)).toEqual([2, 1, 0]);
    expect(ranking.map((e) => e.score)).toEqual([1.7, 1.5, 0].map((v) => expect.closeTo(v, 5)));
  });
  it('count CI: difference of means ± z·sqrt(s²_A/n_A + s²_B/n_B)', () => {
    // e0: A = 12, 4 -> mean 8, s² = 32; B = 5, 3 -> mean 4, s² = 2; se = sqrt(32/2 + 2/2) = sqrt(17)
    const e0 = run('count').ranking.find((e) => e.expert === 0)!;
    const z = 1.959963984540054;
    expect(e0.ci_low).toBeCloseTo(4 - z * Math.sqrt(17), 6);
    expect(e0.ci_high).toBeCloseTo(4 + z * Math.sqrt(17), 6);
  });
  it('count permutation p: exact over the 6 splits of 4 prompts into 2 + 2', () => {
    // e1 counts per prompt 4, 2 | 0, 0: |A−B| of the 6 splits: {4,2}|{0,0} 3; {0,0}|{4,2} 3; the 4 mixed splits
    // ({4,0},{4,0},{2,0},{2,0} vs the rest) give |2 − 1| = 1 twice and |1 − 2| = 1 twice: P(|T*| >= 3) = 2/6
    const { ranking } = contrastActivations(act, [0, 1], [2, 3], undefined, { stat: 'count', permutations: 20000, bootstrap: 0, seed: 3 });
    expect(ranking.find((e) => e.expert === 1)!.p).toBeCloseTo(2 / 6, 1);
  });
});

describe('contrastActivations: calibration', () => {
  /** permutation p-values of every cell over 20 null replicates (labels permuted) */
  function nullPs(stat: 'diff' | 'count'): { ps: number[]; pn: number[] } {
    const ps: number[] = [],
      pn: number[] = [];
    for (let rep = 0; rep < 20; rep++) {
      const s = synth({ P: 40, nA: 20, L: 2, E: 25, planted: [[0, 3, 0.3]], seed: 100 + rep });
      // permute the labels: a random half is "A"
      const rng = createRng(500 + rep);
      const idx = Array.from({ length: 40 }, (_, i) => i);
      for (let i = idx.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [idx[i], idx[j]] = [idx[j], idx[i]];
      }
      const { ranking } = contrastActivations(s.act, idx.slice(0, 20), idx.slice(20), undefined, {
        stat,
        permutations: 499,
        bootstrap: 0,
        seed: rep,
      });
      for (const e of ranking) ps.push(e.p), pn.push(e.p_norm);
    }
    return { ps, pn };
  }
  // pinned to the rate statistic (the former default): its per-prompt values have almost no ties, so p is uniform
  it('under the null (labels permuted) p-values of the rate are uniform (KS)', () => {
    const { ps, pn } = nullPs('diff');
    expect(ps.length).toBe(1000);
    expect(ksTest(pn).p).toBeGreaterThan(0.01);
    const ks = ksTest(ps);
    expect(ks.p).toBeGreaterThan(0.01);
    // and the planted one is not special any more
    expect(ps.filter((p) => p < 0.05).length / ps.length).toBeLessThan(0.08);
  });

  it('count p-values are valid under the null: P(p <= alpha) <= alpha (integer counts tie, so p is conservative)', () => {
    const { ps, pn } = nullPs('count');
    for (const alpha of [0.05, 0.2, 0.5]) expect(ps.filter((p) => p <= alpha).length / ps.length).toBeLessThan(alpha + 0.02);
    expect(ksTest(pn).p).toBeGreaterThan(0.01); // the normal approximation has no lattice
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
    let fdpSum = 0,
      power = 0;
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
