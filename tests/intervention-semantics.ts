// The intervention semantics of docs/design.md checked on one architecture against its own weight formula: drop,
// force, scale and bias at the first MoE layer of the golden's `medium` prompt (exclude is in the goldens).
// Shapes: T tokens, E experts, K top-k.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hookName, type Intervention, type Model } from '@mote/moe-runtime';
import { loadGoldenModel, readGolden } from './parity.js';

/** The architecture's applied weights of a chosen set: `chosen` ids, rows of router_probs and router_logits. */
export type WeightFormula = (chosen: number[], probs: ArrayLike<number>, logits: ArrayLike<number>) => number[];

interface Routing {
  ids: number[][];
  w: number[][];
  probs: Float32Array;
  logits: Float32Array;
  sel: Float32Array;
}

export function interventionSuite(modelType: string, formula: WeightFormula): void {
  describe(`${modelType} interventions: drop, force, scale, bias`, () => {
    const g = readGolden(modelType);
    const ids = g.cases.find((c) => c.name === 'medium')!.input_ids;
    const L = g.moe_layers[0];
    let model: Model;
    beforeAll(async () => {
      model = await loadGoldenModel(g);
    });
    afterAll(async () => {
      await model.dispose();
    });

    const run = async (iv?: Omit<Intervention, 'layer'>): Promise<Routing> => {
      const names = (['router_logits', 'router_probs', 'selection_scores', 'topk_ids', 'topk_weights'] as const).map((p) => hookName(L, p));
      const policy = iv ? { name: 't', interventions: [{ ...iv, layer: L } as Intervention] } : undefined;
      const r = await model.runWithCache([ids], { names, policy, logits: 'none' });
      const get = (i: number) => r.cache.get(names[i])!.tensor.data as Float32Array | Int32Array;
      const K = model.info.topK;
      const rows = <T>(d: ArrayLike<number>, f: (x: number) => T) =>
        ids.map((_, t) => Array.from({ length: K }, (_, j) => f(d[t * K + j])));
      return {
        logits: get(0) as Float32Array,
        probs: get(1) as Float32Array,
        sel: get(2) as Float32Array,
        ids: rows(get(3), Number),
        w: rows(get(4), Number),
      };
    };
    const E = () => model.info.expertCount;
    const row = (a: Float32Array, t: number) => a.subarray(t * E(), (t + 1) * E());
    const close = (got: number[], want: number[]) => got.forEach((v, j) => expect(v).toBeCloseTo(want[j], 6));

    it('drop: same choices, the expert weighs 0, the rest follow the formula over the kept set', async () => {
      const base = await run();
      const e = base.ids[0][0];
      const r = await run({ mode: 'drop', expert: e });
      expect(r.ids).toEqual(base.ids);
      r.ids.forEach((chosen, t) => {
        if (!chosen.includes(e)) {
          close(r.w[t], base.w[t]);
          return;
        }
        const kept = chosen.filter((x) => x !== e);
        const want = formula(kept, row(base.probs, t), row(base.logits, t));
        chosen.forEach((x, j) => expect(r.w[t][j]).toBeCloseTo(x === e ? 0 : want[kept.indexOf(x)], 6));
      });
    });

    it('force: the expert is always chosen, replacing the lowest-scoring choice; weights by the formula', async () => {
      const base = await run();
      const e =
        [...Array(E()).keys()].find((x) => base.ids.every((c) => !c.includes(x))) ??
        [...Array(E()).keys()].find((x) => !base.ids[0].includes(x))!;
      const r = await run({ mode: 'force', expert: e });
      r.ids.forEach((chosen, t) => {
        expect(chosen).toContain(e);
        if (!base.ids[t].includes(e)) {
          const sel = row(base.sel, t);
          const lowest = base.ids[t].reduce((a, b) => (sel[b] < sel[a] ? b : a));
          expect([...chosen].sort()).toEqual(base.ids[t].map((x) => (x === lowest ? e : x)).sort());
        }
        close(r.w[t], formula(chosen, row(base.probs, t), row(base.logits, t)));
      });
    });

    it('scale: the applied weight is multiplied, nothing else moves', async () => {
      const base = await run();
      const e = base.ids[0][0];
      const r = await run({ mode: 'scale', expert: e, value: 0.25 });
      expect(r.ids).toEqual(base.ids);
      r.ids.forEach((chosen, t) => chosen.forEach((x, j) => expect(r.w[t][j]).toBeCloseTo(base.w[t][j] * (x === e ? 0.25 : 1), 6)));
    });

    it('bias: the selection score moves (and the choice), the weights stay the formula of unbiased scores', async () => {
      const base = await run();
      const e = [...Array(E()).keys()].find((x) => !base.ids[0].includes(x))!;
      const r = await run({ mode: 'bias', expert: e, value: 100 });
      for (let t = 0; t < ids.length; t++) {
        expect(r.sel[t * E() + e]).toBeCloseTo(base.sel[t * E() + e] + 100, 4);
        expect(r.ids[t]).toContain(e);
        close(r.w[t], formula(r.ids[t], row(base.probs, t), row(base.logits, t)));
      }
    });
  });
}
