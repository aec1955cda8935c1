// The router on hand-computed rows: softmax/sigmoid/top-k-softmax formulas and the five interventions.
import { describe, expect, it } from 'vitest';
import { groupTopK, route, topK, type RouteArgs } from './routing.js';
import type { Intervention, TokenInfo } from './types.js';

const tok = (pos: number, generated = false, inThink = false): TokenInfo => ({ seq: 0, pos, tokenId: 9, generated, inThink });
// logits ln(1..4): softmax over all = [0.1, 0.2, 0.3, 0.4]
const LOGITS = Float32Array.from([1, 2, 3, 4].map(Math.log));

function run(o: Partial<RouteArgs> & { interventions?: Intervention[] }) {
  return route({
    spec: { scoring: 'softmax', normTopK: false, scaling: 1 },
    layer: 0,
    expertCount: 4,
    topK: 2,
    logits: LOGITS,
    tokens: [tok(0)],
    interventions: [],
    hooks: {},
    ...o,
  });
}
const close = (a: ArrayLike<number>, b: number[]) => b.forEach((v, i) => expect(a[i]).toBeCloseTo(v, 6));

describe('route', () => {
  it('softmax over all experts, then top-k (no renormalisation)', () => {
    const r = run({});
    expect(Array.from(r.ids)).toEqual([3, 2]);
    close(r.weights, [0.4, 0.3]);
  });
  it('norm_topk_prob renormalises over the chosen k; routed_scaling_factor multiplies', () => {
    const r = run({ spec: { scoring: 'softmax', normTopK: true, scaling: 2.5 } });
    close(r.weights, [(0.4 / 0.7) * 2.5, (0.3 / 0.7) * 2.5]);
  });
  it('exclude: softmax over the remaining experts, next-best fills the slot', () => {
    const r = run({ interventions: [{ mode: 'exclude', layer: 0, expert: 3 }] });
    expect(Array.from(r.ids)).toEqual([2, 1]);
    close(r.weights, [0.5, 1 / 3]); // softmax over [1,2,3]/6
  });
  it('drop: chosen, weight 0, no refill; renormalises only when the router normalises', () => {
    const a = run({ interventions: [{ mode: 'drop', layer: 0, expert: 3 }] });
    expect(Array.from(a.ids)).toEqual([3, 2]);
    close(a.weights, [0, 0.3]);
    const b = run({ spec: { scoring: 'softmax', normTopK: true, scaling: 1 }, interventions: [{ mode: 'drop', layer: 0, expert: 3 }] });
    close(b.weights, [0, 1]);
  });
  it('force: replaces the lowest-scoring choice, weights by the formula', () => {
    const r = run({ spec: { scoring: 'softmax', normTopK: true, scaling: 1 }, interventions: [{ mode: 'force', layer: 0, expert: 0 }] });
    expect(Array.from(r.ids).sort()).toEqual([0, 3]);
    close([r.weights[Array.from(r.ids).indexOf(0)]], [0.1 / 0.5]);
  });
  it('scale multiplies the applied weight; bias shifts the selection score only', () => {
    const s = run({ interventions: [{ mode: 'scale', layer: 0, expert: 2, value: 0.5 }] });
    close(s.weights, [0.4, 0.15]);
    const b = run({ interventions: [{ mode: 'bias', layer: 0, expert: 0, value: 1 }] });
    expect(Array.from(b.ids)).toEqual([0, 3]); // 0.1 + 1 beats 0.4
    close(b.weights, [0.1, 0.4]); // weight is still the probability
  });
  it('scopes select tokens: prompt, generated, think, position range', () => {
    const tokens = [tok(0), tok(1, true), tok(2, true, true)];
    const logits = new Float32Array([...LOGITS, ...LOGITS, ...LOGITS]);
    const ids = (scope: Intervention['scope']) =>
      Array.from(run({ logits, tokens, interventions: [{ mode: 'exclude', layer: 0, expert: 3, scope }] }).ids);
    expect(ids('prompt')).toEqual([2, 1, 3, 2, 3, 2]);
    expect(ids('generated')).toEqual([3, 2, 2, 1, 2, 1]);
    expect(ids('think')).toEqual([3, 2, 3, 2, 2, 1]);
    expect(ids({ from: 1, to: 2 })).toEqual([3, 2, 2, 1, 3, 2]);
  });
  it('sigmoid router: bias for selection, unbiased sigmoid for weights, / (sum + 1e-20)', () => {
    const logits = Float32Array.from([0, 1, -1, 2]);
    const sig = (x: number) => 1 / (1 + Math.exp(-x));
    const r = run({ spec: { scoring: 'sigmoid', normTopK: true, scaling: 1 }, logits, correctionBias: Float32Array.from([0.9, 0, 0, 0]) });
    expect(Array.from(r.ids)).toEqual([0, 3]); // 0.5 + 0.9 = 1.4 > sig(2) = 0.88
    close(r.weights, [sig(0) / (sig(0) + sig(2)), sig(2) / (sig(0) + sig(2))]);
  });
  it('top-k on raw logits then softmax over the k (gpt-oss)', () => {
    const r = run({ spec: { scoring: 'topk_softmax', normTopK: true, scaling: 1 } });
    close(r.weights, [4 / 7, 3 / 7]);
  });
  it('hooks observe and replace; replacing topk_ids recomputes weights by the formula', () => {
    const seen: number[][] = [];
    const r = run({
      hooks: {
        router_probs: [
          (t) => {
            seen.push(Array.from(t.data as Float32Array));
          },
        ],
        topk_ids: [(t) => ({ ...t, data: Int32Array.from([0, 1]) })],
      },
    });
    close(seen[0], [0.1, 0.2, 0.3, 0.4]);
    expect(Array.from(r.ids)).toEqual([0, 1]);
    close(r.weights, [0.1, 0.2]);
  });
  it('forcing more experts than top-k is a policy error', () => {
    expect(() => run({ interventions: [0, 1, 2].map((e) => ({ mode: 'force' as const, layer: 0, expert: e })) })).toThrow(/E_POLICY/);
  });
});

describe('top-k helpers', () => {
  it('topK is descending with ties to the lower index', () => {
    expect(topK([1, 3, 3, 2], 3)).toEqual([1, 2, 3]);
  });
  it('groupTopK keeps the groups with the best top-2 sums', () => {
    // groups of 2: [0.1,0.2]=0.3, [0.9,0.0]=0.9, [0.5,0.5]=1.0, [0.95,0.01]=0.96 ; keep 2 groups -> {2,3}
    const row = Float32Array.from([0.1, 0.2, 0.9, 0.0, 0.5, 0.5, 0.95, 0.01]);
    expect(groupTopK(row, 2, 4, 2)).toEqual([6, 4]);
  });
});
