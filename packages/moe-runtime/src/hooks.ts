// Hook points beyond the router, applied between the runtime's graphs: gather the real rows of a padded
// [B*T, w] activation, run the hooks, scatter a replacement back. Not the router (routing.ts), not the cache
// (activations.ts). Shapes: B rows, T tokens per row, N real tokens, D hidden, K top-k.

import { MoteError, type F32Tensor } from '@mote/tensor-core';
import { runHooks } from './routing.js';
import {
  hookName,
  MODEL_POINTS,
  MOE_POINTS,
  parseHookName,
  type BlockPoint,
  type Hook,
  type HookMap,
  type HookPoint,
  type ModelPoint,
  type TokenInfo,
} from './types.js';
import type { ModelSpec } from './spec.js';

export type PointHooks = Partial<Record<HookPoint, Hook[]>>;
/** per decoder layer, and MODEL_KEY for final_norm / logits */
export type LayerHooks = Map<number, PointHooks>;
export const MODEL_KEY = -1;

/** Group hook maps by layer and point; unknown names and MoE points of dense layers are errors. */
export function groupHooks(spec: ModelSpec, maps: HookMap[]): LayerHooks {
  const out: LayerHooks = new Map();
  for (const map of maps) {
    for (const [name, h] of Object.entries(map)) {
      const p = parseHookName(name);
      if (!p) {
        const msg = `unknown hook name ${JSON.stringify(name)}; build names with hookName(layer, point) or hookName('logits')`;
        throw new MoteError('E_INPUT', msg, { field: name });
      }
      const key = p.layer ?? MODEL_KEY;
      if (p.layer !== null && p.layer >= spec.layerCount) {
        throw new MoteError('E_INPUT', `hook ${name}: ${spec.modelType} has layers 0..${spec.layerCount - 1}`, { field: name });
      }
      const moePoint = !(['resid_pre', 'attn_out', 'resid_mid', 'resid_post'] as string[]).includes(p.point) && p.layer !== null;
      if (moePoint && !spec.moeLayers.includes(p.layer!)) {
        const msg = `hook ${name}: layer ${p.layer} of ${spec.modelType} has no router; MoE layers are ${spec.moeLayers.join(', ')}`;
        throw new MoteError('E_INPUT', msg, { field: name });
      }
      const per = out.get(key) ?? {};
      (per[p.point] ??= []).push(...(Array.isArray(h) ? h : [h]));
      out.set(key, per);
    }
  }
  return out;
}

/** Whether a layer's hooks need the MoE block's parts (routed/shared outputs, per-expert passes). */
export function wantsMoeParts(h: PointHooks): boolean {
  return MOE_POINTS.some((p) => p !== 'moe_out' && h[p]);
}
export function wantsModelPoints(h: PointHooks | undefined): boolean {
  return !!h && MODEL_POINTS.some((p) => h[p]);
}

export interface RowsContext {
  tokens: TokenInfo[];
  /** flat row (b * T + t) of each real token, N entries */
  realIdx: number[];
  expertCount: number;
  topK: number;
  layerCount: number;
}

/** Real rows of x [B*T, w] -> [N, w]. */
export function gatherRows(x: Float32Array, realIdx: number[], w: number): Float32Array {
  const out = new Float32Array(realIdx.length * w);
  realIdx.forEach((i, n) => out.set(x.subarray(i * w, (i + 1) * w), n * w));
  return out;
}
/** A copy of x [B*T, w] with its real rows set from rows [N, w]. */
export function scatterRows(x: Float32Array, rows: Float32Array, realIdx: number[], w: number): Float32Array {
  const out = x.slice();
  realIdx.forEach((i, n) => out.set(rows.subarray(n * w, (n + 1) * w), i * w));
  return out;
}

/** Run one point's hooks on rows [N, ...inner] (already gathered); returns the rows, replaced or not. */
export function hookPoint(
  hooks: Hook[] | undefined,
  rows: Float32Array,
  inner: number[],
  layer: number | null,
  point: HookPoint,
  rc: RowsContext,
): Float32Array {
  if (!hooks) return rows;
  const name = layer === null ? hookName(point as ModelPoint) : hookName(layer, point as BlockPoint);
  const t: F32Tensor = { dtype: 'float32', shape: [rc.tokens.length, ...inner], data: rows };
  const ctx = { layer: layer ?? rc.layerCount, point, name, tokens: rc.tokens, expertCount: rc.expertCount, topK: rc.topK };
  return runHooks(hooks, t, ctx).data as Float32Array;
}

/** hookPoint on the real rows of a padded x [B*T, w]: returns x itself when nothing was replaced. */
export function hookPadded(
  hooks: Hook[] | undefined,
  x: Float32Array,
  w: number,
  layer: number | null,
  point: HookPoint,
  rc: RowsContext,
): Float32Array {
  if (!hooks) return x;
  const rows = gatherRows(x, rc.realIdx, w);
  const got = hookPoint(hooks, rows, [w], layer, point, rc);
  return got === rows ? x : scatterRows(x, got, rc.realIdx, w);
}
