// The logit lens: a residual-stream point of every layer, or each chosen expert's output, through the final norm
// and the unembedding, read as next-token predictions. Public hooks and unembed() only; one prompt at a time.
// Shapes: T tokens, K top-k, D hidden, V vocab.

import { hookName, type MoeModel } from '@mote/moe-runtime';

export interface LensToken {
  id: number;
  logit: number;
}
export interface LensRow {
  layer: number;
  /** the hook name read (e.g. blocks.3.resid_post) */
  name: string;
  /** the N highest logits, descending */
  top: LensToken[];
  /** the target token's logit and rank (1 = top), when a target was given */
  target?: { logit: number; rank: number };
}
export interface ExpertLensRow extends LensRow {
  expert: number;
  /** the applied top-k weight of the expert at the position */
  weight: number;
}
export interface LensOptions {
  /** which position to read (default: the last) */
  position?: number;
  /** how many top tokens per row (default 5) */
  topN?: number;
  target?: number;
}

function readRow(logits: Float32Array, r: number, V: number, topN: number, target?: number): Pick<LensRow, 'top' | 'target'> {
  const row = logits.subarray(r * V, (r + 1) * V);
  const top = Array.from(row, (logit, id) => ({ id, logit }))
    .sort((a, b) => b.logit - a.logit || a.id - b.id)
    .slice(0, topN);
  if (target === undefined) return { top };
  let rank = 1;
  for (let v = 0; v < V; v++) if (row[v] > row[target]) rank++;
  return { top, target: { logit: row[target], rank } };
}

/**
 * The logit lens on the residual stream: `point` (default resid_post) of every layer at one position through the
 * final norm and lm_head.
 * @example
 * const rows = await logitLens(model, ids, { target: refusalId });
 * for (const r of rows) console.log(r.name, r.target!.rank, r.top.map((t) => model.tokenizer.decode([t.id])));
 */
export async function logitLens(
  model: MoeModel,
  ids: number[],
  opts: LensOptions & { point?: 'resid_pre' | 'resid_mid' | 'resid_post' } = {},
): Promise<LensRow[]> {
  const { layerCount, hiddenSize: D, vocabSize: V } = model.info;
  const p = opts.position ?? ids.length - 1;
  const names = Array.from({ length: layerCount }, (_, l) => hookName(l, opts.point ?? 'resid_post'));
  const { cache } = await model.runWithCache([ids], { names, logits: 'none' });
  const x = new Float32Array(layerCount * D); // [L, D]
  names.forEach((n, l) => x.set(cache.row(n, 0).data.subarray(p * D, (p + 1) * D), l * D));
  const lg = await model.unembed({ dtype: 'float32', shape: [layerCount, D], data: x });
  return names.map((name, layer) => ({ layer, name, ...readRow(lg.data, layer, V, opts.topN ?? 5, opts.target) }));
}

/**
 * The logit lens on each chosen expert's output (before mixing) at one position, every MoE layer: what each expert
 * writes, read through the final norm (its own scale) and lm_head.
 * @example
 * const rows = await expertLens(model, ids, { target: refusalId });
 * rows.filter((r) => r.target!.rank <= 3).forEach((r) => console.log(`L${r.layer}E${r.expert}`, r.weight));
 */
export async function expertLens(model: MoeModel, ids: number[], opts: LensOptions = {}): Promise<ExpertLensRow[]> {
  const { moeLayers, topK: K, hiddenSize: D, vocabSize: V } = model.info;
  const p = opts.position ?? ids.length - 1;
  const names = moeLayers.flatMap((l) => [hookName(l, 'expert_out'), hookName(l, 'topk_ids'), hookName(l, 'topk_weights')]);
  const { cache } = await model.runWithCache([ids], { names, logits: 'none' });
  const x = new Float32Array(moeLayers.length * K * D); // [L*K, D]
  moeLayers.forEach((l, li) => x.set(cache.row(hookName(l, 'expert_out'), 0).data.subarray(p * K * D, (p + 1) * K * D), li * K * D));
  const lg = await model.unembed({ dtype: 'float32', shape: [moeLayers.length * K, D], data: x });
  return moeLayers.flatMap((layer, li) => {
    const ids = cache.row(hookName(layer, 'topk_ids'), 0).data;
    const w = cache.row(hookName(layer, 'topk_weights'), 0).data;
    return Array.from({ length: K }, (_, j) => ({
      layer,
      name: hookName(layer, 'expert_out'),
      expert: ids[p * K + j],
      weight: w[p * K + j],
      ...readRow(lg.data, li * K + j, V, opts.topN ?? 5, opts.target),
    }));
  });
}
