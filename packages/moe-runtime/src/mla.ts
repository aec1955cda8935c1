// Multi-head latent attention (DeepSeek-V2/V3) as one ONNX graph per layer. The cache holds one latent per
// token, [kv_a_norm(c_kv) | rope(k_pe)] (kvr + rd values, shared by all heads), and attention to it uses the
// absorbed form of DeepSeek's reference code (inference/model.py, attn_impl "absorb") and the serving engines:
// kv_b folded into the query (q_nope W_UK -> scores against the latent) and the output (weighted latent W_UV).
// Steps of many new tokens (prefill) expand the latents to per-head keys and values instead, which is cheaper
// there (qd + vd per token pair against 2 L), as the serving engines do. Not a per-head K/V cache.
// Shapes: B batch, T new tokens, C cache slots, D hidden, H heads, qr q_lora_rank, kvr kv_lora_rank,
// nd qk_nope_head_dim, rd qk_rope_head_dim, qd = nd + rd, vd v_head_dim, L = kvr + rd latent width.

import { GraphBuilder, MoteError, type F32Tensor } from '@mote/tensor-core';
import { finishLayerHead, rmsNorm, rope, transpose2d, type AttentionGraphOptions } from './graphs.js';

/** eps of q_a_layernorm / kv_a_layernorm: HF builds them with the RMSNorm default, not rms_norm_eps */
const LORA_NORM_EPS = 1e-6;

/**
 * Output rows of a Linear [out, in] reordered so that each rope slice (rd rows at `starts`) goes from
 * interleaved pairs (x0, y0, x1, y1, ...) to halves (x0, x1, ..., y0, y1, ...). Rotate-half RoPE on the
 * reordered slice equals DeepSeek's complex-pair RoPE (V2) / rope_interleave (V3): q and k are permuted
 * alike, so every q.k product is unchanged, and the permutation costs nothing at run time.
 */
function deinterleaveRows(w: F32Tensor, starts: number[], rd: number): F32Tensor {
  const cols = w.shape.length === 2 ? w.shape[1] : 1;
  const out = w.data.slice();
  for (const s of starts) {
    for (let i = 0; i < rd / 2; i++) {
      out.set(w.data.subarray((s + 2 * i) * cols, (s + 2 * i + 1) * cols), (s + i) * cols);
      out.set(w.data.subarray((s + 2 * i + 1) * cols, (s + 2 * i + 2) * cols), (s + rd / 2 + i) * cols);
    }
  }
  return { ...w, data: out };
}

/** Cache dims of an MLA layer: one "head" of the latent width kvr + rd, and no separate values. */
export function mlaCacheDims(m: { kvLoraRank: number; qkRopeDim: number }): { heads: number; kd: number; vd: number } {
  return { heads: 1, kd: m.kvLoraRank + m.qkRopeDim, vd: 0 };
}

/** The graph inputs and the per-token part both MLA forms share: q (split into nope and RoPE'd parts), the new
 *  tokens' latent and RoPE'd k_pe, and the output new_k [B, 1, T, L] the runtime writes into its cache. */
function mlaFront({ spec, layer, w }: AttentionGraphOptions, form: string) {
  const m = spec.attention.mla;
  if (!m)
    throw new MoteError(
      'E_CONFIG_INVALID',
      `${spec.modelType} uses MLA attention but its spec has no mla dims (kv_lora_rank, qk_nope_head_dim, ...) in ${spec.file}`,
      { file: spec.file },
    );
  const { hidden: D, heads: H } = spec;
  const { qLoraRank: qr, kvLoraRank: kvr, qkNopeDim: nd, qkRopeDim: rd, vDim: vd } = m;
  const d = { D, H, kvr, nd, rd, vd, qd: nd + rd, L: kvr + rd };
  const lw = spec.weights.layer(layer);
  const a = lw.attn;
  const g = new GraphBuilder(`layer${layer}_mla_${form}`);
  g.input('h', 'float32', ['B', 'T', D]);
  g.input('cos', 'float32', ['B', 'T', 1, rd]);
  g.input('sin', 'float32', ['B', 'T', 1, rd]);
  g.input('mask', 'float32', ['B', 1, 1, 'T', 'CT']);
  g.input('past_k', 'float32', ['B', 1, 'C', d.L]);

  // rope rows of q (per head) and of kv_a_proj_with_mqa to de-interleave, when the checkpoint pairs them
  const perm = (t: F32Tensor, starts: number[]) => (m.ropeInterleave ? deinterleaveRows(t, starts, rd) : t);
  const qStarts = Array.from({ length: H }, (_, h) => h * d.qd + nd);
  /** x [B, T, in] @ W^T (+ b): W [out, in] from the checkpoint, rows optionally permuted */
  const linear = (x: string, name: string, wName: string, bName: string | undefined, out: number, inp: number, starts: number[] | null) => {
    const W = w.get(wName, [out, inp]);
    const y = g.matmul(x, g.init(name, transpose2d(starts ? perm(W, starts) : W))); // [B, T, out]
    if (!w.has(bName)) return y;
    const b = w.get(bName, [out]);
    return g.add(y, g.init(`${name}_bias`, starts ? perm(b, starts) : b));
  };

  const normed = rmsNorm(g, 'h', g.init('input_norm', w.get(lw.inputNorm, [D])), spec.rmsEps); // [B, T, D]
  let q: string;
  if (qr !== null) {
    const qa = linear(normed, 'q_a', a.qA!, a.qABias, qr, D, null); // [B, T, qr]
    const qan = rmsNorm(g, qa, g.init('q_a_norm', w.get(a.qANorm!, [qr])), LORA_NORM_EPS);
    q = linear(qan, 'q_b', a.qB!, a.qBBias, H * d.qd, qr, qStarts); // [B, T, H*qd]
  } else {
    q = linear(normed, 'q', a.q!, a.qBias, H * d.qd, D, qStarts); // [B, T, H*qd]
  }
  q = g.reshape(q, [0, 0, H, d.qd]); // [B, T, H, qd]
  const qNope = g.transpose(g.slice(q, [0], [nd], [3]), [0, 2, 1, 3]); // [B, H, T, nd]
  const qRot = g.transpose(rope(g, g.slice(q, [nd], [d.qd], [3]), 'cos', 'sin', rd), [0, 2, 1, 3]); // [B, H, T, rd]

  const ckv = linear(normed, 'kv_a', a.kvA!, a.kvABias, kvr + rd, D, [kvr]); // [B, T, L]
  const latent = rmsNorm(g, g.slice(ckv, [0], [kvr], [2]), g.init('kv_a_norm', w.get(a.kvANorm!, [kvr])), LORA_NORM_EPS); // [B, T, kvr]
  const kRot = g.reshape(rope(g, g.reshape(g.slice(ckv, [kvr], [d.L], [2]), [0, 0, 1, rd]), 'cos', 'sin', rd), [0, 0, rd]); // [B, T, rd]
  g.op1('Unsqueeze', [g.concat([latent, kRot], 2), g.constI64([1])], {}, undefined, 'new_k'); // [B, 1, T, L]
  g.output('new_k', 'float32', ['B', 1, 'T', d.L]);
  const kvb = w.get(a.kvB!, [H * (nd + vd), kvr]); // [H*(nd+vd), kvr]
  const scale = g.constF32([spec.attention.scale / Math.sqrt(d.qd)], []);
  const mask = g.op1('Squeeze', ['mask', g.constI64([1])]); // [B, 1, T, C+T]
  const probsOf = (scores: string) => g.softmax(g.add(g.mul(scores, scale), mask), 3); // [B, H, T, C+T]
  return { g, d, qNope, qRot, kvb, probsOf };
}

/** Attention output vals [B, H, T, vd] (+ the value half of a kv_b bias) -> o_proj, residual, layer head. */
function mlaFinish(g: GraphBuilder, o: AttentionGraphOptions, d: { D: number; H: number; nd: number; vd: number }, vals: string) {
  const a = o.spec.weights.layer(o.layer).attn;
  // a kv_b bias (left out of the keys and values above): its key half adds q.b_k to every score of a row (softmax
  // drops it), its value half adds b_v once (the probabilities sum to 1)
  if (o.w.has(a.kvBBias)) {
    const b = o.w.get(a.kvBBias, [d.H * (d.nd + d.vd)]).data;
    const bv = new Float32Array(d.H * d.vd);
    for (let h = 0; h < d.H; h++) bv.set(b.subarray(h * (d.nd + d.vd) + d.nd, (h + 1) * (d.nd + d.vd)), h * d.vd);
    vals = g.add(vals, g.init('kv_b_v_bias', { dtype: 'float32', shape: [d.H, 1, d.vd], data: bv }));
  }
  const out = g.reshape(g.transpose(vals, [0, 2, 1, 3]), [0, 0, d.H * d.vd]); // [B, T, H*vd]
  const y = g.matmul(out, g.init('o', o.w.getT(a.o!, [d.D, d.H * d.vd]))); // [B, T, D]
  const yB = o.w.has(a.oBias) ? g.add(y, g.init('o_bias', o.w.get(a.oBias, [d.D]))) : y;
  g.op1('Add', ['h', yB], {}, undefined, 'h_mid');
  finishLayerHead(g, o.spec, o.layer, o.w, o.moe);
  return g;
}

/**
 * The expanded form, for steps of many new tokens (prefill, one-shot forward): per-head keys and values from
 * kv_b for the cached latents and the new ones, then plain attention (qd + vd per token pair).
 * Inputs: h [B,T,D], cos/sin [B,T,1,rd], mask [B,1,1,T,C+T] (as every attention graph), past_k [B,1,C,L]: the
 * cached latents (no past_v). Outputs: h_mid [B,T,D], x [B,T,D], router_logits [N,E] (MoE layers), new_k
 * [B,1,T,L]: the new tokens' latents, which the runtime writes into its cache.
 */
export function buildMlaAttention(o: AttentionGraphOptions): GraphBuilder {
  const { g, d, qNope, qRot, kvb, probsOf } = mlaFront(o, 'expanded');
  const { H, kvr, nd, vd, L } = d;
  const kvbT = g.init('kv_b', transpose2d(kvb)); // [kvr, H*(nd+vd)]
  const all = g.concat([g.op1('Squeeze', ['past_k', g.constI64([1])]), g.op1('Squeeze', ['new_k', g.constI64([1])])], 1); // [B, C+T, L]
  const kv = g.transpose(g.reshape(g.matmul(g.slice(all, [0], [kvr], [2]), kvbT), [0, 0, H, nd + vd]), [0, 2, 1, 3]); // [B, H, C+T, nd+vd]
  const kRot1 = g.op1('Unsqueeze', [g.slice(all, [kvr], [L], [2]), g.constI64([1])]); // [B, 1, C+T, rd]
  const kRot = g.op1('Expand', [kRot1, g.constI64([1, H, 1, 1])]); // [B, H, C+T, rd]: one rope key for all heads
  const k = g.concat([g.slice(kv, [0], [nd], [3]), kRot], 3); // [B, H, C+T, qd]
  const probs = probsOf(g.matmul(g.concat([qNope, qRot], 3), g.transpose(k, [0, 1, 3, 2]))); // [B, H, T, C+T]
  return mlaFinish(g, o, d, g.matmul(probs, g.slice(kv, [nd], [nd + vd], [3]))); // [B, H, T, vd]
}

/**
 * The absorbed form, for decode steps (one new token a row): q_nope W_UK and q_pe score every cached latent
 * directly, and the weighted latents go through W_UV; nothing per head is built from the cache (2 L per
 * cached token). Inputs and outputs as buildMlaAttention.
 */
export function buildMlaDecodeAttention(o: AttentionGraphOptions): GraphBuilder {
  const { g, d, qNope, qRot, kvb, probsOf } = mlaFront(o, 'absorbed');
  const { H, kvr, nd, vd, L } = d;
  // kv_b [H*(nd+vd), kvr] as W_UK [H, nd, kvr] and W_UV^T [H, kvr, vd]
  const wuk = new Float32Array(H * nd * kvr);
  const wuv = new Float32Array(H * kvr * vd);
  for (let h = 0; h < H; h++) {
    wuk.set(kvb.data.subarray(h * (nd + vd) * kvr, (h * (nd + vd) + nd) * kvr), h * nd * kvr);
    const rows = kvb.data.subarray((h * (nd + vd) + nd) * kvr, (h + 1) * (nd + vd) * kvr); // [vd, kvr]
    const v = transpose2d({ dtype: 'float32', shape: [vd, kvr], data: rows });
    wuv.set(v.data, h * kvr * vd);
  }
  const qAbs = g.matmul(qNope, g.init('kv_b_k', { dtype: 'float32', shape: [H, nd, kvr], data: wuk })); // [B, H, T, kvr]
  // scores with the heads as columns: the small query is transposed, never the cache
  const qT = g.transpose(g.reshape(g.concat([qAbs, qRot], 3), [0, 1, -1, L]), [0, 1, 3, 2]); // [B, 1, L, H*T]
  const scoresOf = (k: string) => g.reshape(g.transpose(g.matmul(k, qT), [0, 1, 3, 2]), [0, H, -1, 0]); // [B, H, T, C|T]
  const probs = probsOf(g.concat([scoresOf('past_k'), scoresOf('new_k')], 3)); // [B, H, T, C+T]
  const C = g.op1('Shape', ['past_k'], { start: 2, end: 3 }); // [1]
  const flat = (p: string) => g.reshape(p, [0, 1, -1, 0]); // [B, 1, H*T, C|T]
  const pPast = flat(g.op1('Slice', [probs, g.constI64([0]), C, g.constI64([3])])); // [B, 1, H*T, C]
  const pNew = flat(g.op1('Slice', [probs, C, g.constI64([Number.MAX_SAFE_INTEGER]), g.constI64([3])])); // [B, 1, H*T, T]
  const ctxL = g.add(g.matmul(pPast, 'past_k'), g.matmul(pNew, 'new_k')); // [B, 1, H*T, L]: the rope part is dropped below
  const ctx = g.slice(g.reshape(ctxL, [0, H, -1, L]), [0], [kvr], [3]); // [B, H, T, kvr]
  return mlaFinish(g, o, d, g.matmul(ctx, g.init('kv_b_v', { dtype: 'float32', shape: [H, kvr, vd], data: wuv }))); // [B, H, T, vd]
}
