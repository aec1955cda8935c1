// Parity harness: compares the runtime with a Hugging Face golden (tests/fixtures/goldens/<model_type>.json).
// Tolerances from tests/fixtures/README.md: logits 1e-4; router tensors 1e-5; ids exact.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hookName, loadModel, type Model, type Policy } from '@mote/moe-runtime';

export const FIXTURES = join(import.meta.dirname, 'fixtures');

export interface RouterGolden {
  layer: number;
  router_logits?: number[][];
  router_probs?: number[][] | null;
  selection_scores?: number[][];
  topk_ids: number[][];
  topk_weights: number[][];
}
export interface Golden {
  model_type: string;
  checkpoint: string;
  moe_layers: number[];
  cases: {
    name: string;
    input_ids: number[];
    logits: number[][];
    router: RouterGolden[];
    greedy: { new_ids: number[]; step_logits: number[][] };
  }[];
  interventions: {
    name: string;
    case: string;
    input_ids: number[];
    excluded: { layer: number; expert: number }[];
    logits: number[][];
    router: RouterGolden[];
    greedy: { new_ids: number[]; step_logits: number[][] };
  }[];
}

export function readGolden(modelType: string): Golden {
  return JSON.parse(readFileSync(join(FIXTURES, 'goldens', `${modelType}.json`), 'utf8'));
}

export async function loadGoldenModel(g: Golden): Promise<Model> {
  return loadModel(join(FIXTURES, g.checkpoint), { threads: 1 });
}

export function maxAbsDiff(want: number[][], got: ArrayLike<number>, width: number): number {
  let m = 0;
  want.forEach((row, t) =>
    row.forEach((v, j) => {
      m = Math.max(m, Math.abs(v - got[t * width + j]));
    }),
  );
  return m;
}

/** Rows sorted by descending weight, ties by ascending id: the goldens' order. */
function canonical(ids: ArrayLike<number>, w: ArrayLike<number>, K: number, t: number): { ids: number[]; w: number[] } {
  const slots = Array.from({ length: K }, (_, j) => ({ id: ids[t * K + j], w: w[t * K + j] }));
  slots.sort((a, b) => b.w - a.w || a.id - b.id);
  return { ids: slots.map((s) => s.id), w: slots.map((s) => s.w) };
}

const POINTS = ['router_logits', 'router_probs', 'selection_scores', 'topk_ids', 'topk_weights'] as const;

/** Forward the ids, compare logits and every router tensor the golden has. Returns the max errors. */
export async function checkForward(model: Model, ids: number[], logits: number[][], router: RouterGolden[], policy?: Policy) {
  const names = router.flatMap((r) => POINTS.map((p) => hookName(r.layer, p)));
  const res = await model.runWithCache([ids], { names, policy });
  const V = model.info.vocabSize;
  const E = model.info.expertCount;
  const K = model.info.topK;
  const err = { logits: maxAbsDiff(logits, res.logits!.data as Float32Array, V), router: 0, weights: 0 };
  expect(err.logits).toBeLessThan(1e-4);
  for (const r of router) {
    const get = (p: (typeof POINTS)[number]) => res.cache.get(hookName(r.layer, p))!.tensor.data as ArrayLike<number>;
    for (const p of ['router_logits', 'router_probs', 'selection_scores'] as const) {
      const want = r[p];
      if (!want) continue;
      const d = maxAbsDiff(
        want.map((row) => row.map((v) => (v === null ? -Infinity : v))),
        get(p),
        E,
      );
      err.router = Math.max(err.router, Number.isNaN(d) ? 0 : d);
      expect(d, `${p} of layer ${r.layer}`).toBeLessThan(1e-5);
    }
    r.topk_ids.forEach((wantIds, t) => {
      const got = canonical(get('topk_ids'), get('topk_weights'), K, t);
      expect(got.ids, `topk_ids layer ${r.layer} token ${t}`).toEqual(wantIds);
      got.w.forEach((w, j) => {
        err.weights = Math.max(err.weights, Math.abs(w - r.topk_weights[t][j]));
      });
    });
    expect(err.weights, `topk_weights layer ${r.layer}`).toBeLessThan(1e-5);
  }
  return err;
}

/** Greedy decoding with the KV cache: identical ids, step logits within 1e-4. */
export async function checkGreedy(model: Model, ids: number[], greedy: { new_ids: number[]; step_logits: number[][] }, policy?: Policy) {
  const V = model.info.vocabSize;
  const steps: Float32Array[] = [];
  const [r] = await model.generate([ids], {
    maxNewTokens: greedy.new_ids.length,
    stopTokens: [],
    policy,
    onLogits: (_, l) => steps.push(l.slice()),
  });
  expect(r.ids).toEqual(greedy.new_ids);
  let m = 0;
  greedy.step_logits.forEach((row, s) => {
    m = Math.max(m, maxAbsDiff([row], steps[s], V));
  });
  expect(m).toBeLessThan(1e-4);
  return m;
}

export function exclusionPolicy(excluded: { layer: number; expert: number }[]): Policy {
  return { name: 'golden-exclude', interventions: excluded.map((e) => ({ mode: 'exclude' as const, layer: e.layer, expert: e.expert })) };
}

/** The whole parity suite of one architecture's golden. */
export function paritySuite(modelType: string): void {
  describe(`${modelType} parity with HF transformers`, () => {
    const g = readGolden(modelType);
    let model: Model;
    beforeAll(async () => {
      model = await loadGoldenModel(g);
    });
    afterAll(async () => {
      await model.dispose();
    });

    it('has the golden architecture', () => {
      expect(model.info.moeLayers).toEqual(g.moe_layers);
    });
    for (const c of g.cases) {
      it(`case ${c.name}: logits, router tensors, top-k`, async () => {
        await checkForward(model, c.input_ids, c.logits, c.router);
      });
      it(`case ${c.name}: greedy decoding with the KV cache`, async () => {
        await checkGreedy(model, c.input_ids, c.greedy);
      });
    }
    for (const iv of g.interventions) {
      it(`intervention ${iv.name}: exclusion reproduced in prefill and decode`, async () => {
        const policy = exclusionPolicy(iv.excluded);
        await checkForward(model, iv.input_ids, iv.logits, iv.router, policy);
        await checkGreedy(model, iv.input_ids, iv.greedy, policy);
      });
    }
    it('batched forward equals one-by-one forward (padding is invisible)', async () => {
      const seqs = g.cases.map((c) => c.input_ids);
      const V = model.info.vocabSize;
      const batched = await model.forward(seqs);
      const T = Math.max(...seqs.map((s) => s.length));
      for (const [b, c] of g.cases.entries()) {
        const d = batched.logits!.data as Float32Array;
        let m = 0;
        c.logits.forEach((row, t) =>
          row.forEach((v, j) => {
            m = Math.max(m, Math.abs(v - d[(b * T + t) * V + j]));
          }),
        );
        expect(m).toBeLessThan(1e-4);
      }
    });
  });
}
