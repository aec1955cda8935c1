// One pass of new tokens through every layer of a loaded model: embed, attention graph (router logits too),
// the router in TypeScript, the MoE or dense-MLP graph, with the hook points between them; and the lm_head on
// chosen rows. Not the loading (sessions.ts), the KV cache buffers and masks (kv-cache.ts), nor generation.
// Shapes: B rows, T new tokens per row, S cached + new positions, C cache slots, D hidden, E experts,
// K top-k, V vocab, N real (non-pad) tokens, M rows given to the lm_head.

import type { Tensor } from '@mote/tensor-core';
import { MoteError } from '@mote/tensor-core';
import { buildMidGraph, buildUnembed, moeKernelFeeds } from './graphs.js';
import { ropeCosSin } from './rope.js';
import { route } from './routing.js';
import type { HookMap, Intervention, Policy, TokenInfo } from './types.js';
import { validatePolicy } from './policy.js';
import { expertSlicesFeeds } from './experts.js';
import {
  groupHooks,
  gatherRows as gatherReal,
  hookPadded,
  hookPoint,
  scatterRows,
  wantsModelPoints,
  wantsMoeParts,
  type LayerHooks,
  type PointHooks,
  type RowsContext,
} from './hooks.js';
import { checkFinite } from './checks.js';
import { buildMask, reserve, windowMask, writeSlots, type KvCache } from './kv-cache.js';
import { lazySession, type LayerSessions, type ModelRuntime } from './sessions.js';

/** the FFN graph's output when no hook asks for its parts */
const FFN_OUT = ['h'];
/** attention outputs of a one-shot forward (no K/V back to JS) */
const NO_KV = ['h_mid', 'x'];
const NO_KV_MOE = [...NO_KV, 'router_logits'];

/** The hooks of a call by layer: those of the enclosing withHooks calls, then the call's own (names checked). */
export function layerHooks(rt: ModelRuntime, globalHooks: HookMap[], extra?: HookMap): LayerHooks {
  return groupHooks(rt.spec, extra ? [...globalHooks, extra] : globalHooks);
}

/** A call's policy, validated against the model, as interventions by layer. */
export function policyByLayer(rt: ModelRuntime, policy: Policy | null | undefined): Map<number, Intervention[]> {
  const m = new Map<number, Intervention[]>();
  if (!policy) return m;
  validatePolicy(policy, { info: rt.info });
  for (const iv of policy.interventions) m.set(iv.layer, [...(m.get(iv.layer) ?? []), iv]);
  return m;
}

/**
 * Feed T new tokens per row (rows padded on the left in prefill) through every layer. `fresh[b]` are row
 * b's new tokens (length <= T; shorter rows are left-padded). With `keep` the new K/V go into the KV
 * cache for later steps; without it (a one-shot forward) the KV cache is read but left as it is and the graphs
 * return no K/V. Returns h [B, T, D].
 */
export async function step(
  rt: ModelRuntime,
  kv: KvCache,
  fresh: number[][],
  hooks: LayerHooks,
  policy: Map<number, Intervention[]>,
  keep = true,
  rows?: { rc?: RowsContext },
): Promise<Float32Array> {
  const { hidden: D, expertCount: E, topK: K } = rt.spec;
  const B = kv.rows.length;
  const T = Math.max(...fresh.map((f) => f.length));
  const S = kv.len + T;
  // token info of the real (non-pad) rows, in row-major [b, t] order, and their flat indices
  const tokens: TokenInfo[] = [];
  const realIdx: number[] = [];
  const h = new Float32Array(B * T * D); // [B, T, D]
  const positions = new Float64Array(B * T);
  for (let b = 0; b < B; b++) {
    const r = kv.rows[b];
    const padNow = T - fresh[b].length;
    for (let t = 0; t < T; t++) {
      if (t < padNow) continue;
      const id = fresh[b][t - padNow];
      const pos = r.ids.length;
      let inThink = false;
      if (id === rt.thinkOpenId) r.thinkOpen = true;
      else if (id === rt.thinkCloseId) r.thinkOpen = false;
      else inThink = r.thinkOpen;
      r.ids.push(id);
      tokens.push({ seq: r.seq, pos, tokenId: id, generated: pos >= r.promptLen, inThink });
      realIdx.push(b * T + t);
      positions[b * T + t] = pos;
      h.set(rt.embed.row(id), (b * T + t) * D);
    }
  }
  const rd = rt.rope.invFreq.length * 2;
  const { cos, sin } = ropeCosSin(rt.rope, positions);
  if (keep) reserve(kv, S);
  const C = kv.cap;
  const mask = buildMask(kv, fresh, T);
  const feedsBase = {
    cos: { dtype: 'float32', shape: [B, T, 1, rd], data: cos } as Tensor,
    sin: { dtype: 'float32', shape: [B, T, 1, rd], data: sin } as Tensor,
  };
  let hT: Tensor = { dtype: 'float32', shape: [B, T, D], data: h };
  const rc: RowsContext = { tokens, realIdx, expertCount: E, topK: K, layerCount: rt.layers.length };
  if (rows) rows.rc = rc;
  for (let l = 0; l < rt.layers.length; l++) {
    const L = rt.layers[l];
    const dims = kv.kvDims[l];
    const LH = hooks.get(l);
    if (LH?.resid_pre) hT = { ...hT, data: hookPadded(LH.resid_pre, hT.data as Float32Array, D, l, 'resid_pre', rc) };
    const a = await (T === 1 && L.attnDecode ? L.attnDecode : L.attn).run(
      {
        h: hT,
        ...feedsBase,
        mask: { dtype: 'float32', shape: [B, 1, 1, T, C + T], data: windowMask(mask, rt.spec.attention.slidingWindow[l], kv, T) },
        past_k: { dtype: 'float32', shape: [B, dims.heads, C, dims.kd], data: kv.k[l] },
        // MLA caches no values (vd = 0): its graph has no past_v / new_v
        ...(dims.vd ? { past_v: { dtype: 'float32', shape: [B, dims.heads, C, dims.vd], data: kv.v[l] } as Tensor } : {}),
      },
      keep ? undefined : L.moe ? NO_KV_MOE : NO_KV,
    );
    if (keep) {
      writeSlots(kv.k[l], a.new_k.data as Float32Array, B * dims.heads, T, dims.kd, C, kv.len);
      if (dims.vd) writeSlots(kv.v[l], a.new_v.data as Float32Array, B * dims.heads, T, dims.vd, C, kv.len);
    }
    checkFinite(rt, a.h_mid.data as Float32Array, l, 'attention');
    const mid = LH && (LH.attn_out || LH.resid_mid) ? await hookMid(rt, l, LH, hT, a, rc) : a;
    if (!L.moe) {
      hT = (await L.ffn.run({ h_mid: mid.h_mid, x: mid.x }, FFN_OUT)).h;
      checkFinite(rt, hT.data as Float32Array, l, 'MLP');
      if (LH?.resid_post) hT = { ...hT, data: hookPadded(LH.resid_post, hT.data as Float32Array, D, l, 'resid_post', rc) };
      continue;
    }
    const all = mid.router_logits.data as Float32Array; // [B*T, E]
    const logits = new Float32Array(realIdx.length * E); // [N, E] real rows only
    realIdx.forEach((i, n) => logits.set(all.subarray(i * E, (i + 1) * E), n * E));
    const r = route({
      spec: rt.spec.router,
      layer: l,
      expertCount: E,
      topK: K,
      logits,
      correctionBias: L.correctionBias,
      tokens,
      interventions: policy.get(l) ?? [],
      hooks: hooks.get(l) ?? {},
    });
    checkFinite(rt, logits, l, 'router');
    r.weights.forEach((wt, j) => {
      if (wt < 0 || !Number.isFinite(wt)) {
        // the router logits are finite here: a non-finite or negative weight comes from the policy or a hook
        const by = [policy.has(l) ? 'the policy' : '', hooks.has(l) ? 'a router hook' : ''].filter(Boolean).join(' or ') || 'the router';
        throw new MoteError(
          by === 'the router' ? 'E_NONFINITE' : 'E_POLICY',
          `layer ${l}: expert ${r.ids[j]} got weight ${wt} from ${by}; applied expert weights must be finite and >= 0${by === 'the router' ? '' : ' (check scale values and topk_weights hooks)'}`,
          { field: `layer ${l}` },
        );
      }
    });
    const routed = routedFeeds(rt, L, r.ids, r.weights, realIdx, B * T);
    hT =
      LH && (LH.moe_out || wantsMoeParts(LH))
        ? await hookMoe(rt, l, LH, mid, routed, r, rc)
        : (await L.ffn.run({ h_mid: mid.h_mid, x: mid.x, ...routed }, FFN_OUT)).h;
    checkFinite(rt, hT.data as Float32Array, l, 'MoE');
    if (LH?.resid_post) hT = { ...hT, data: hookPadded(LH.resid_post, hT.data as Float32Array, D, l, 'resid_post', rc) };
  }
  if (keep) kv.len = S;
  return hT.data as Float32Array;
}

/** The routing feeds of layer L's MoE graph: expert-slice ids/weights, or the MoE kernel's [BT, E] probs. */
function routedFeeds(
  rt: ModelRuntime,
  L: LayerSessions,
  ids: Int32Array,
  weights: Float32Array,
  realIdx: number[],
  BT: number,
): Record<string, Tensor> {
  const { expertCount: E, topK: K } = rt.spec;
  return L.sliced ? expertSlicesFeeds(ids, weights, realIdx, BT, E, K, L.rowExpert) : moeKernelFeeds(ids, weights, realIdx, BT, E, K);
}

// ---- hook points beyond the router (hooks.ts) ------------------------------------------------------
/** attn_out / resid_mid hooks. A replacement re-runs the post-attention norm and router on the new h_mid. */
async function hookMid(
  rt: ModelRuntime,
  l: number,
  LH: PointHooks,
  hIn: Tensor,
  a: Record<string, Tensor>,
  rc: RowsContext,
): Promise<Record<string, Tensor>> {
  const D = rt.spec.hidden;
  const pre = gatherReal(hIn.data as Float32Array, rc.realIdx, D); // [N, D]
  const mid = gatherReal(a.h_mid.data as Float32Array, rc.realIdx, D); // [N, D]
  let changed = false;
  if (LH.attn_out) {
    const attn = mid.map((v, i) => v - pre[i]); // [N, D]
    const got = hookPoint(LH.attn_out, attn, [D], l, 'attn_out', rc);
    if (got !== attn) {
      changed = true;
      for (let i = 0; i < mid.length; i++) mid[i] = pre[i] + got[i];
    }
  }
  const got = hookPoint(LH.resid_mid, mid, [D], l, 'resid_mid', rc);
  if (!changed && got === mid) return a;
  const hMid: Tensor = { ...a.h_mid, data: scatterRows(a.h_mid.data as Float32Array, got, rc.realIdx, D) };
  const moe = rt.layers[l].moe;
  const session = await lazySession(rt, `layer${l}_mid`, (w) => buildMidGraph(rt.spec, l, w, moe));
  return { ...a, h_mid: hMid, ...(await session.run({ h_mid: hMid }, moe ? ['x', 'router_logits'] : ['x'])) };
}

/** moe_out / moe_routed / moe_shared / expert_out hooks around layer l's MoE block. expert_out runs the block
 *  once per top-k slot with that slot's expert alone at weight 1 (K extra passes); a replaced expert_out is
 *  mixed again with the applied weights. Returns h [B, T, D]. */
async function hookMoe(
  rt: ModelRuntime,
  l: number,
  LH: PointHooks,
  mid: Record<string, Tensor>,
  feeds: Record<string, Tensor>,
  r: { ids: Int32Array; weights: Float32Array },
  rc: RowsContext,
): Promise<Tensor> {
  const { hidden: D, topK: K } = rt.spec;
  const L = rt.layers[l];
  const N = rc.realIdx.length;
  const BT = mid.h_mid.shape[0] * mid.h_mid.shape[1];
  const parts = wantsMoeParts(LH);
  const shared = L.ffn.outputNames.includes('shared_out');
  const outputs = parts ? ['h', 'routed_out', ...(shared ? ['shared_out'] : [])] : FFN_OUT;
  const run = await L.ffn.run({ h_mid: mid.h_mid, x: mid.x, ...feeds }, outputs);
  const midRows = gatherReal(mid.h_mid.data as Float32Array, rc.realIdx, D); // [N, D]
  const hRows = gatherReal(run.h.data as Float32Array, rc.realIdx, D); // [N, D]
  const diff = () => hRows.map((v, i) => v - midRows[i]); // [N, D] the block's output as applied
  let moe: Float32Array;
  let changed = false;
  if (!parts) moe = diff();
  else {
    let routed = gatherReal(run.routed_out.data as Float32Array, rc.realIdx, D); // [N, D]
    const sharedRows = shared ? gatherReal(run.shared_out.data as Float32Array, rc.realIdx, D) : new Float32Array(N * D); // [N, D]
    if (LH.expert_out) {
      const eo = new Float32Array(N * K * D); // [N, K, D]
      for (let j = 0; j < K; j++) {
        const one = new Float32Array(N * K); // [N, K]: slot j alone, weight 1
        for (let n = 0; n < N; n++) one[n * K + j] = 1;
        const o = await L.ffn.run({ h_mid: mid.h_mid, x: mid.x, ...routedFeeds(rt, L, r.ids, one, rc.realIdx, BT) }, ['routed_out']);
        const rows = gatherReal(o.routed_out.data as Float32Array, rc.realIdx, D);
        for (let n = 0; n < N; n++) eo.set(rows.subarray(n * D, (n + 1) * D), (n * K + j) * D);
      }
      const got = hookPoint(LH.expert_out, eo, [K, D], l, 'expert_out', rc);
      if (got !== eo) {
        changed = true;
        routed = new Float32Array(N * D);
        for (let n = 0; n < N; n++)
          for (let j = 0; j < K; j++) {
            const wt = r.weights[n * K + j];
            for (let d = 0; d < D; d++) routed[n * D + d] += wt * got[(n * K + j) * D + d];
          }
      }
    }
    const gr = hookPoint(LH.moe_routed, routed, [D], l, 'moe_routed', rc);
    const gs = hookPoint(LH.moe_shared, sharedRows, [D], l, 'moe_shared', rc);
    changed ||= gr !== routed || gs !== sharedRows;
    moe = changed ? gr.map((v, i) => v + gs[i]) : diff();
  }
  const gm = hookPoint(LH.moe_out, moe, [D], l, 'moe_out', rc);
  if (!changed && gm === moe) return run.h;
  const out = midRows.map((v, i) => v + gm[i]); // [N, D]
  return { ...run.h, data: scatterRows(run.h.data as Float32Array, out, rc.realIdx, D) };
}

/** lm_head on chosen flat rows of h [B*T, D]: logits [M, V]. */
async function logitsOf(rt: ModelRuntime, h: Float32Array, rows: number[]): Promise<Float32Array> {
  const lg = (await headRun(rt, h, rows, 'logits')).data as Float32Array;
  checkFinite(rt, lg, -1, 'lm_head');
  return lg;
}

export async function headRun(rt: ModelRuntime, h: Float32Array, rows: number[], output: 'logits' | 'greedy'): Promise<Tensor> {
  const D = rt.spec.hidden;
  const x = new Float32Array(rows.length * D);
  rows.forEach((r, i) => x.set(h.subarray(r * D, (r + 1) * D), i * D));
  return (await rt.head.run({ h: { dtype: 'float32', shape: [rows.length, D], data: x } }, [output]))[output];
}

/** lm_head on flat rows of h with the final_norm / logits hooks of those rows: logits [M, V]. */
export async function headHooked(
  rt: ModelRuntime,
  h: Float32Array,
  rows: number[],
  MH: PointHooks | undefined,
  rc: RowsContext,
): Promise<Float32Array> {
  if (!MH || !wantsModelPoints(MH)) return logitsOf(rt, h, rows);
  const { hidden: D, vocab: V } = rt.spec;
  const at = new Map(rc.realIdx.map((i, n) => [i, n]));
  const sub: RowsContext = { ...rc, tokens: rows.map((i) => rc.tokens[at.get(i)!]), realIdx: rows };
  const x: Tensor = { dtype: 'float32', shape: [rows.length, D], data: gatherReal(h, rows, D) }; // [M, D]
  const out = await rt.head.run({ h: x }, ['logits', 'final_norm']);
  let logits = out.logits.data as Float32Array; // [M, V]
  const normed = out.final_norm.data as Float32Array; // [M, D]
  const got = hookPoint(MH.final_norm, normed, [D], null, 'final_norm', sub);
  if (got !== normed) {
    const unembed = await lazySession(rt, 'unembed', (w) => buildUnembed(rt.spec, w));
    const xn: Tensor = { dtype: 'float32', shape: [rows.length, D], data: got }; // [M, D]
    logits = (await unembed.run({ x: xn }, ['logits'])).logits.data as Float32Array;
  }
  return hookPoint(MH.logits, logits, [V], null, 'logits', sub);
}
