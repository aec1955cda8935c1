// Direct logit attribution (DLA) of routed experts: each chosen expert's weighted output at one position, through
// the final norm frozen at that position's final residual and the target token's unembedding row, summed over a
// prompt set and ranked. A causal, linear ranking beside fTRI's routing contrast; public hooks and unembed() only.
// Shapes: T tokens, K top-k, D hidden, V vocab, L MoE layers, E experts.

import { MoteError } from '@mote/tensor-core';
import { hookName, type MoeModel } from '@mote/moe-runtime';
import type { ScoredExpert } from './agreement.js';

export interface AttributionItem {
  /** the token ids fed to the model (e.g. a rendered chat prompt) */
  ids: number[];
  /** the token whose logit is attributed (e.g. the first token of the model's refusal) */
  target: number;
  /** the position whose logits predict `target` (default: the last) */
  position?: number;
}

export interface AttributionEntry extends ScoredExpert {
  rank: number;
  /** summed direct logit attribution over the items (where the expert was chosen) */
  score: number;
  /** score / items */
  mean: number;
  /** items in which the expert was among the top-k at the position */
  chosen: number;
}

/**
 * Rank every (MoE layer, expert) by its direct contribution to the target logit: weight x expert_out at the
 * position, unembedded with the final norm's scale taken from the final residual there (so the contributions of
 * all components add up to the logit). One forward with expert_out (K extra expert passes) per item.
 * @example
 * const ranking = await expertAttribution(model, prompts.map((ids) => ({ ids, target: refusalId })));
 * console.log(ranking.slice(0, 6).map((e) => `L${e.layer}E${e.expert} ${e.score.toFixed(2)}`));
 */
export async function expertAttribution(
  model: MoeModel,
  items: AttributionItem[],
  opts: { onProgress?: (done: number, total: number) => void } = {},
): Promise<AttributionEntry[]> {
  const { moeLayers, topK: K, expertCount: E, hiddenSize: D, layerCount, vocabSize: V } = model.info;
  if (items.length === 0) throw new MoteError('E_INPUT', 'expertAttribution needs at least one item', { field: 'items' });
  const last = hookName(layerCount - 1, 'resid_post');
  const names = [last, ...moeLayers.flatMap((l) => [hookName(l, 'expert_out'), hookName(l, 'topk_ids'), hookName(l, 'topk_weights')])];
  const sum = new Float64Array(moeLayers.length * E); // [L, E]
  const chosen = new Int32Array(moeLayers.length * E); // [L, E]
  for (const [i, it] of items.entries()) {
    const p = it.position ?? it.ids.length - 1;
    if (!Number.isInteger(it.target) || it.target < 0 || it.target >= V) {
      const msg = `attribution item ${i}: target ${it.target} is outside the vocabulary [0, ${V}) of ${model.info.modelType}`;
      throw new MoteError('E_INPUT', msg, { field: `items[${i}].target` });
    }
    const { cache } = await model.runWithCache([it.ids], { names, logits: 'none' });
    const resid = cache.row(last, 0).data.subarray(p * D, (p + 1) * D); // [D]
    const M = moeLayers.length * K;
    const x = new Float32Array(M * D); // [L*K, D] weight x expert output of each chosen slot
    const scale = new Float32Array(M * D); // [L*K, D] the final residual, for the norm's scale
    moeLayers.forEach((l, li) => {
      const eo = cache.row(hookName(l, 'expert_out'), 0).data; // [T, K, D]
      const w = cache.row(hookName(l, 'topk_weights'), 0).data; // [T, K]
      for (let j = 0; j < K; j++) {
        const o = (li * K + j) * D;
        for (let d = 0; d < D; d++) x[o + d] = w[p * K + j] * eo[(p * K + j) * D + d];
        scale.set(resid, o);
      }
    });
    const scaleFrom = { dtype: 'float32' as const, shape: [M, D], data: scale };
    const lg = await model.unembed({ dtype: 'float32', shape: [M, D], data: x }, { scaleFrom }); // [L*K, V]
    moeLayers.forEach((l, li) => {
      const ids = cache.row(hookName(l, 'topk_ids'), 0).data; // [T, K]
      for (let j = 0; j < K; j++) {
        const e = ids[p * K + j];
        sum[li * E + e] += lg.data[(li * K + j) * V + it.target];
        chosen[li * E + e]++;
      }
    });
    opts.onProgress?.(i + 1, items.length);
  }
  const out = moeLayers.flatMap((layer, li) =>
    Array.from({ length: E }, (_, expert) => ({
      rank: 0,
      layer,
      expert,
      score: sum[li * E + expert],
      mean: sum[li * E + expert] / items.length,
      chosen: chosen[li * E + expert],
    })),
  );
  out.sort((a, b) => b.score - a.score || a.layer - b.layer || a.expert - b.expert);
  out.forEach((e, i) => {
    e.rank = i + 1;
  });
  return out;
}
