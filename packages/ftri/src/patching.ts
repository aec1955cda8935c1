// Activation patching: run a clean input, then a corrupted one with one hook point's activation taken from the
// clean run, and measure a metric on the patched logits; and expert ablation (zero one expert's expert_out).
// Public hooks only. Shapes: T tokens, K top-k, D hidden, V vocab.

import { MoteError } from '@mote/tensor-core';
import { hookName, type F32Tensor, type HookMap, type MoeModel, type Tensor } from '@mote/moe-runtime';

/** A number computed from the logits [V] at the last position, e.g. a logit difference. */
export type LogitMetric = (logits: Float32Array) => number;

export interface PatchResult {
  name: string;
  metric: number;
  /** metric - the corrupted run's metric */
  effect: number;
  /** effect / (clean metric - corrupted metric): 1 = the patch restores the clean behaviour */
  recovered: number;
}

async function lastLogits(model: MoeModel, ids: number[], hooks?: HookMap): Promise<Float32Array> {
  return (await model.forward([ids], { hooks, logits: 'last' })).logits!.data;
}

/**
 * For each hook name, run `corrupt` with that point's activation from `clean` (all positions when the inputs have
 * the same length, else position 'last': the last token only) and report the metric.
 * @example
 * const names = Array.from({ length: model.info.layerCount }, (_, l) => hookName(l, 'resid_post'));
 * const r = await patchSweep(model, { clean, corrupt, names, metric: (lg) => lg[refusalId] - lg[otherId] });
 */
export async function patchSweep(
  model: MoeModel,
  o: { clean: number[]; corrupt: number[]; names: string[]; metric: LogitMetric; position?: 'all' | 'last' },
): Promise<PatchResult[]> {
  const position = o.position ?? (o.clean.length === o.corrupt.length ? 'all' : 'last');
  if (position === 'all' && o.clean.length !== o.corrupt.length) {
    const lengths = `clean ${o.clean.length}, corrupt ${o.corrupt.length}`;
    const msg = `patchSweep: position 'all' needs inputs of one length (${lengths}); use position 'last'`;
    throw new MoteError('E_INPUT', msg, { field: 'position' });
  }
  const { cache, logits } = await model.runWithCache([o.clean], { names: o.names, logits: 'last' });
  const clean = o.metric(logits!.data);
  const corrupt = o.metric(await lastLogits(model, o.corrupt));
  const out: PatchResult[] = [];
  for (const name of o.names) {
    const from = cache.get(name)!.tensor; // [T_clean, ...]
    const patch = (t: Tensor): Tensor => {
      if (position === 'all') return { ...t, data: from.data.slice() } as Tensor;
      const w = t.data.length / t.shape[0];
      const data = t.data.slice();
      (data as Float32Array).set((from.data as Float32Array).subarray(from.data.length - w), data.length - w);
      return { ...t, data } as Tensor;
    };
    const metric = o.metric(await lastLogits(model, o.corrupt, { [name]: patch }));
    out.push({ name, metric, effect: metric - corrupt, recovered: (metric - corrupt) / (clean - corrupt) });
  }
  return out;
}

export interface AblationResult {
  layer: number;
  expert: number;
  metric: number;
  /** metric - the unablated metric */
  effect: number;
}

/**
 * Zero one expert's output (expert_out, before mixing) wherever it is chosen, for every expert of the given MoE
 * layers, and report the metric on the last position's logits: the expert's causal effect with the other experts'
 * weights unchanged (the `drop` intervention without renormalisation).
 * @example
 * const r = await expertAblation(model, { ids, metric: (lg) => lg[refusalId], layers: [3] });
 * r.sort((a, b) => a.effect - b.effect); // most negative: the expert the refusal logit depends on most
 */
export async function expertAblation(
  model: MoeModel,
  o: { ids: number[]; metric: LogitMetric; layers?: number[]; experts?: number[] },
): Promise<AblationResult[]> {
  const { moeLayers, topK: K, hiddenSize: D, expertCount: E } = model.info;
  const layers = o.layers ?? moeLayers;
  const { cache, logits } = await model.runWithCache([o.ids], { names: layers.map((l) => hookName(l, 'topk_ids')), logits: 'last' });
  const base = o.metric(logits!.data);
  const out: AblationResult[] = [];
  for (const layer of layers) {
    const used = new Set(cache.get(hookName(layer, 'topk_ids'))!.tensor.data);
    for (const expert of o.experts ?? Array.from({ length: E }, (_, e) => e)) {
      if (!used.has(expert)) {
        out.push({ layer, expert, metric: base, effect: 0 });
        continue;
      } // never chosen: nothing to zero
      let ids: Int32Array | null = null;
      const hooks: HookMap = {
        [hookName(layer, 'topk_ids')]: (t) => {
          ids = t.data as Int32Array;
        },
        [hookName(layer, 'expert_out')]: (t) => {
          const data = t.data.slice() as Float32Array; // [N, K, D]
          for (let s = 0; s < t.shape[0] * K; s++) if (ids![s] === expert) data.fill(0, s * D, (s + 1) * D);
          return { ...t, data } as F32Tensor;
        },
      };
      const metric = o.metric(await lastLogits(model, o.ids, hooks));
      out.push({ layer, expert, metric, effect: metric - base });
    }
  }
  return out;
}
