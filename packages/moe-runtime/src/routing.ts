// The router in TypeScript: router logits -> probs -> selection scores -> top-k ids -> applied weights,
// with the five interventions and the user hooks at each point. One implementation for every
// architecture, parameterised by RouterSpec. Shapes: N tokens (rows), E experts, K top-k.

import { MoteError, type F32Tensor, type I32Tensor, type Tensor } from '@mote/tensor-core';
import type { RouterSpec } from './spec.js';
import { inScope } from './policy.js';
import { hookName, type Hook, type HookContext, type Intervention, type RouterPoint, type TokenInfo } from './types.js';

export interface LayerRouting {
  ids: Int32Array; // [N, K]
  weights: Float32Array; // [N, K]
}

/** Run a list of hooks on a tensor; a hook's returned tensor replaces it for the next hook. */
export function runHooks(hooks: Hook[] | undefined, t: Tensor, ctx: HookContext): Tensor {
  if (!hooks) return t;
  for (const h of hooks) {
    const r = h(t, ctx);
    if (r) {
      if (r.shape.length !== t.shape.length || r.shape.some((s, i) => s !== t.shape[i])) {
        throw new MoteError('E_SHAPE', `hook ${ctx.name} returned shape [${r.shape}] but must return [${t.shape}] (same as its input)`, {
          field: ctx.name,
        });
      }
      t = r;
    }
  }
  return t;
}

export interface RouteArgs {
  spec: RouterSpec;
  layer: number;
  expertCount: number;
  topK: number;
  logits: Float32Array; // [N, E]
  /** DeepSeek-V3 e_score_correction_bias [E] */
  correctionBias?: Float32Array | null;
  tokens: TokenInfo[];
  interventions: Intervention[];
  hooks: Partial<Record<RouterPoint, Hook[]>>;
}

const NEG_INF = -Infinity;

export function route(a: RouteArgs): LayerRouting {
  const { spec, layer, expertCount: E, topK: K, tokens } = a;
  const N = tokens.length;
  const ctx = (point: RouterPoint): HookContext => ({ layer, point, name: hookName(layer, point), tokens, expertCount: E, topK: K });
  const hooked = (point: RouterPoint, t: Tensor) => runHooks(a.hooks[point], t, ctx(point));

  // interventions of this layer, resolved once per row (only when there are any)
  const ivs = a.interventions;
  const perRow = ivs.length ? tokens.map((t) => ivs.filter((iv) => inScope(iv.scope, t))) : null;
  const rowIvs = (n: number) => (perRow ? perRow[n] : []);

  // 1. router_logits [N, E] (exclude masks logits for softmax-style routers)
  let logits = a.logits;
  if (spec.scoring !== 'sigmoid' && ivs.some((iv) => iv.mode === 'exclude')) {
    logits = logits.slice();
    for (let n = 0; n < N; n++) for (const iv of rowIvs(n)) if (iv.mode === 'exclude') logits[n * E + iv.expert] = NEG_INF;
  }
  logits = hooked('router_logits', f32t([N, E], logits)).data as Float32Array;

  // 2. router_probs [N, E]: the architecture's scoring over all experts
  const probs = new Float32Array(N * E);
  for (let n = 0; n < N; n++) {
    const o = n * E;
    if (spec.scoring === 'sigmoid') {
      for (let e = 0; e < E; e++) probs[o + e] = 1 / (1 + Math.exp(-logits[o + e]));
    } else {
      let m = NEG_INF;
      for (let e = 0; e < E; e++) m = Math.max(m, logits[o + e]);
      let s = 0;
      for (let e = 0; e < E; e++) s += Math.exp(logits[o + e] - m);
      for (let e = 0; e < E; e++) probs[o + e] = Math.exp(logits[o + e] - m) / s;
    }
  }
  const probsT = hooked('router_probs', f32t([N, E], probs));
  const p = probsT.data as Float32Array;

  // 3. selection_scores [N, E]: what top-k ranks (+ correction bias, + policy bias, exclude for sigmoid)
  const sel = spec.scoring === 'topk_softmax' ? logits.slice() : p.slice();
  if (a.correctionBias)
    for (let n = 0; n < N; n++) for (let e = 0; e < E; e++) sel[n * E + e] = Math.fround(sel[n * E + e] + a.correctionBias[e]);
  if (ivs.some((iv) => iv.mode === 'bias' || (iv.mode === 'exclude' && spec.scoring === 'sigmoid'))) {
    for (let n = 0; n < N; n++) {
      for (const iv of rowIvs(n)) {
        if (iv.mode === 'bias') sel[n * E + iv.expert] += iv.value ?? 0;
        else if (iv.mode === 'exclude' && spec.scoring === 'sigmoid') sel[n * E + iv.expert] = NEG_INF;
      }
    }
  }
  const s = hooked('selection_scores', f32t([N, E], sel)).data as Float32Array;

  // 4. topk_ids [N, K]
  let ids: Int32Array = new Int32Array(N * K);
  for (let n = 0; n < N; n++) {
    const row = s.subarray(n * E, (n + 1) * E);
    const forced = rowIvs(n)
      .filter((iv) => iv.mode === 'force')
      .map((iv) => iv.expert);
    if (forced.length > K) {
      throw new MoteError(
        'E_POLICY',
        `layer ${layer}: ${forced.length} experts forced on (${forced.join(', ')}) but top-k is ${K}; force at most ${K} experts per layer and token`,
        { field: `layer ${layer}` },
      );
    }
    const chosen = spec.groups ? groupTopK(row, K, spec.groups.count, spec.groups.topkGroup, spec.groups.score) : topK(row, K);
    for (const f of forced) {
      if (chosen.includes(f)) continue;
      // replace the lowest-scoring choice that is not itself forced
      let worst = -1;
      for (let j = 0; j < K; j++) if (!forced.includes(chosen[j]) && (worst < 0 || row[chosen[j]] <= row[chosen[worst]])) worst = j;
      chosen[worst] = f;
    }
    ids.set(chosen, n * K);
  }
  const idsT = hooked('topk_ids', { dtype: 'int32', shape: [N, K], data: ids } as I32Tensor);
  ids = idsT.data as Int32Array;

  // 5. topk_weights [N, K]: the architecture's formula over the chosen (minus dropped) set, then scale
  const w = new Float32Array(N * K);
  for (let n = 0; n < N; n++) {
    const my = rowIvs(n);
    const dropped = (e: number) => my.some((iv) => iv.mode === 'drop' && iv.expert === e);
    const o = n * K;
    const kept: number[] = [];
    for (let j = 0; j < K; j++) if (!dropped(ids[o + j])) kept.push(j);
    const raw = new Float64Array(K);
    if (spec.scoring === 'topk_softmax') {
      let m = NEG_INF;
      for (const j of kept) m = Math.max(m, logits[n * E + ids[o + j]]);
      let z = 0;
      for (const j of kept) z += raw[j] = Math.exp(logits[n * E + ids[o + j]] - m);
      for (const j of kept) raw[j] /= z;
    } else {
      for (const j of kept) raw[j] = p[n * E + ids[o + j]];
      if (spec.normTopK) {
        let z = 0;
        for (const j of kept) z += raw[j];
        if (spec.scoring === 'sigmoid') z += 1e-20;
        if (z > 0) for (const j of kept) raw[j] /= z;
      }
    }
    for (let j = 0; j < K; j++) {
      let v = raw[j] * spec.scaling;
      for (const iv of my) if (iv.mode === 'scale' && iv.expert === ids[o + j]) v *= iv.value ?? 1;
      w[o + j] = v;
    }
  }
  const weights = hooked('topk_weights', f32t([N, K], w)).data as Float32Array;
  return { ids, weights };
}

function f32t(shape: number[], data: Float32Array): F32Tensor {
  return { dtype: 'float32', shape, data };
}

/** Indices of the k largest values, descending; ties broken by the lower index (stable). */
export function topK(row: ArrayLike<number>, k: number): number[] {
  const idx: number[] = [];
  for (let e = 0; e < row.length; e++) {
    const v = row[e];
    if (idx.length < k) {
      idx.push(e);
      for (let j = idx.length - 1; j > 0 && row[idx[j]] > row[idx[j - 1]]; j--) [idx[j], idx[j - 1]] = [idx[j - 1], idx[j]];
    } else if (v > row[idx[k - 1]]) {
      idx[k - 1] = e;
      for (let j = k - 1; j > 0 && row[idx[j]] > row[idx[j - 1]]; j--) [idx[j], idx[j - 1]] = [idx[j - 1], idx[j]];
    }
  }
  return idx;
}

/** DeepSeek group-limited top-k: group score = sum of the two best scores of the group (V3) or its best
 *  score ('max', V2 group_limited_greedy); keep the topkGroup best groups; experts of dropped groups score
 *  0 (as HF does); top-k over the rest. */
export function groupTopK(row: Float32Array, k: number, groups: number, topkGroup: number, score: 'top2sum' | 'max' = 'top2sum'): number[] {
  const E = row.length;
  const per = E / groups;
  const gScore = new Float64Array(groups);
  for (let g = 0; g < groups; g++) {
    const best = topK(row.subarray(g * per, (g + 1) * per), score === 'max' ? 1 : Math.min(2, per));
    gScore[g] = best.reduce((acc, j) => Math.fround(acc + row[g * per + j]), 0);
  }
  const keep = new Set(topK(gScore, topkGroup));
  const masked = new Float32Array(E);
  for (let e = 0; e < E; e++) masked[e] = keep.has(Math.floor(e / per)) ? row[e] : 0;
  return topK(masked, k);
}
