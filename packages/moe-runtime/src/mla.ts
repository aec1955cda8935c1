// Multi-head latent attention (DeepSeek-V2/V3) as one ONNX graph per layer. The cache holds one latent per
// token, [kv_a_norm(c_kv) | rope(k_pe)] (kvr + rd values, shared by all heads), and attention to it uses the
// absorbed form of DeepSeek's reference code (inference/model.py, attn_impl "absorb") and the serving engines:
// kv_b folded into the query (q_nope W_UK -> scores against the latent) and the output (weighted latent W_UV).
// Among the new tokens themselves (a prefill's T x T block) keys and values are expanded per head, which is
// cheaper there; both parts share one softmax. Not a per-head K/V cache.
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

/**
 * Inputs: h [B,T,D], cos/sin [B,T,1,rd], mask [B,1,1,T,C+T] (as every attention graph), past_k [B,1,C,L]: the
 * cached latents (no past_v). Outputs: h_mid [B,T,D], x [B,T,D], router_logits [N,E] (MoE layers), new_k
 * [B,1,T,L]: the new tokens' latents, which the runtime writes into its cache.
 */
export function buildMlaAttention({ spec, layer, w, moe }: AttentionGraphOptions): GraphBuilder {
  const m = spec.attention.mla;
  if (!m) throw new MoteError('E_CONFIG_INVALID', `${spec.modelType} uses MLA attention but its spec has no mla dims (kv_lora_rank, qk_nope_head_dim, ...) in ${spec.file}`, { file: spec.file });
  const { hidden: D, heads: H } = spec;
  const { qLoraRank: qr, kvLoraRank: kvr, qkNopeDim: nd, qkRopeDim: rd, vDim: vd } = m;
  const qd = nd + rd;
  const L = kvr + rd;
  const lw = spec.weights.layer(layer);
  const a = lw.attn;
  const g = new GraphBuilder(`layer${layer}_mla`);
  g.input('h', 'float32', ['B', 'T', D]);
  g.input('cos', 'float32', ['B', 'T', 1, rd]);
  g.input('sin', 'float32', ['B', 'T', 1, rd]);
  g.input('mask', 'float32', ['B', 1, 1, 'T', 'CT']);
  g.input('past_k', 'float32', ['B', 1, 'C', L]);

  // rope rows of q (per head) and of kv_a_proj_with_mqa to de-interleave, when the checkpoint pairs them
  const perm = (t: F32Tensor, starts: number[]) => (m.ropeInterleave ? deinterleaveRows(t, starts, rd) : t);
  const qStarts = Array.from({ length: H }, (_, h) => h * qd + nd);
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
    q = linear(qan, 'q_b', a.qB!, a.qBBias, H * qd, qr, qStarts); // [B, T, H*qd]
  } else {
    q = linear(normed, 'q', a.q!, a.qBias, H * qd, D, qStarts); // [B, T, H*qd]
  }
  q = g.reshape(q, [0, 0, H, qd]); // [B, T, H, qd]
  const qNope = g.transpose(g.slice(q, [0], [nd], [3]), [0, 2, 1, 3]); // [B, H, T, nd]
  const qRot = rope(g, g.slice(q, [nd], [qd], [3]), 'cos', 'sin', rd); // [B, T, H, rd]

  const ckv = linear(normed, 'kv_a', a.kvA!, a.kvABias, kvr + rd, D, [kvr]); // [B, T, L]
  const latent = rmsNorm(g, g.slice(ckv, [0], [kvr], [2]), g.init('kv_a_norm', w.get(a.kvANorm!, [kvr])), LORA_NORM_EPS); // [B, T, kvr]
  const kRot = rope(g, g.reshape(g.slice(ckv, [kvr], [L], [2]), [0, 0, 1, rd]), 'cos', 'sin', rd); // [B, T, 1, rd]
  g.op1('Unsqueeze', [g.concat([latent, g.reshape(kRot, [0, 0, rd])], 2), g.constI64([1])], {}, undefined, 'new_k'); // [B, 1, T, L]
  g.output('new_k', 'float32', ['B', 1, 'T', L]);

  // kv_b [H*(nd+vd), kvr] as W_UK [H, nd, kvr] and W_UV^T [H, kvr, vd]
  const kvb = w.get(a.kvB!, [H * (nd + vd), kvr]).data;
  const wuk = new Float32Array(H * nd * kvr);
  const wuv = new Float32Array(H * kvr * vd);
  for (let h = 0; h < H; h++) {
    wuk.set(kvb.subarray(h * (nd + vd) * kvr, (h * (nd + vd) + nd) * kvr), h * nd * kvr);
    const v = transpose2d({ dtype: 'float32', shape: [vd, kvr], data: kvb.subarray((h * (nd + vd) + nd) * kvr, (h + 1) * (nd + vd) * kvr) });
    wuv.set(v.data, h * kvr * vd);
  }
  const scale = g.constF32([spec.attention.scale / Math.sqrt(qd)], []);
  // against the cache (absorbed): q_nope W_UK and q_pe against each cached latent, the heads as columns so
  // that the small query is transposed, never the cache
  const qAbs = g.matmul(qNope, g.init('kv_b_k', { dtype: 'float32', shape: [H, nd, kvr], data: wuk })); // [B, H, T, kvr]
  const qLat = g.concat([qAbs, g.transpose(qRot, [0, 2, 1, 3])], 3); // [B, H, T, L]
  const qT = g.transpose(g.reshape(qLat, [0, 1, -1, L]), [0, 1, 3, 2]); // [B, 1, L, H*T]
  const sPast = g.reshape(g.transpose(g.matmul('past_k', qT), [0, 1, 3, 2]), [0, H, -1, 0]); // [B, H, T, C]
  // among the new tokens (expanded, as the reference's "naive" form): per-head keys/values from kv_b; the
  // T x T block of a prefill costs qd + vd per pair here instead of 2 L absorbed
  const kvN = g.reshape(g.matmul(latent, g.init('kv_b', transpose2d(w.get(a.kvB!, [H * (nd + vd), kvr])))), [0, 0, H, nd + vd]); // [B, T, H, nd+vd]
  const kNopeN = g.transpose(g.slice(kvN, [0], [nd], [3]), [0, 2, 1, 3]); // [B, H, T, nd]
  const vN = g.transpose(g.slice(kvN, [nd], [nd + vd], [3]), [0, 2, 1, 3]); // [B, H, T, vd]
  const kRotH = g.op1('Expand', [g.transpose(kRot, [0, 2, 1, 3]), g.constI64([1, H, 1, 1])]); // [B, H, T, rd]: one rope key for all heads
  const qFull = g.concat([qNope, g.transpose(qRot, [0, 2, 1, 3])], 3); // [B, H, T, qd]
  const sNew = g.matmul(qFull, g.transpose(g.concat([kNopeN, kRotH], 3), [0, 1, 3, 2])); // [B, H, T, T]
  const scores = g.mul(g.concat([sPast, sNew], 3), scale); // [B, H, T, C+T]
  const probs = g.softmax(g.add(scores, g.op1('Squeeze', ['mask', g.constI64([1])])), 3); // [B, H, T, C+T]
  const C = g.op1('Shape', ['past_k'], { start: 2, end: 3 }); // [1]
  const pPast = g.reshape(g.op1('Slice', [probs, g.constI64([0]), C, g.constI64([3])]), [0, 1, -1, 0]); // [B, 1, H*T, C]
  const pNew = g.op1('Slice', [probs, C, g.constI64([Number.MAX_SAFE_INTEGER]), g.constI64([3])]); // [B, H, T, T]
  const ctxPast = g.slice(g.reshape(g.matmul(pPast, 'past_k'), [0, H, -1, L]), [0], [kvr], [3]); // [B, H, T, kvr]: rope part dropped
  const vPast = g.matmul(ctxPast, g.init('kv_b_v', { dtype: 'float32', shape: [H, kvr, vd], data: wuv })); // [B, H, T, vd]
  let vals = g.add(vPast, g.matmul(pNew, vN)); // [B, H, T, vd]
  // a kv_b bias (left out of both forms above): its key half adds q.b_k to every score of a row (softmax drops
  // it), its value half adds b_v once (the probabilities sum to 1)
  if (w.has(a.kvBBias)) {
    const b = w.get(a.kvBBias, [H * (nd + vd)]).data;
    const bv = new Float32Array(H * vd);
    for (let h = 0; h < H; h++) bv.set(b.subarray(h * (nd + vd) + nd, (h + 1) * (nd + vd)), h * vd);
    vals = g.add(vals, g.init('kv_b_v_bias', { dtype: 'float32', shape: [H, 1, vd], data: bv }));
  }
  const out = g.reshape(g.transpose(vals, [0, 2, 1, 3]), [0, 0, H * vd]); // [B, T, H*vd]
  const o = g.matmul(out, g.init('o', w.getT(a.o!, [D, H * vd]))); // [B, T, D]
  const oB = w.has(a.oBias) ? g.add(o, g.init('o_bias', w.get(a.oBias, [D]))) : o;
  g.op1('Add', ['h', oB], {}, undefined, 'h_mid');
  finishLayerHead(g, spec, layer, w, moe);
  return g;
}
