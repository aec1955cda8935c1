// Multi-head latent attention (DeepSeek-V2/V3) as one ONNX graph per layer, with the same inputs and
// outputs as buildGqaAttention. Not the absorbed-weights decode trick: the cache holds the expanded
// per-head K [B, H, S, nope+rope] and V [B, H, S, vd], which is simple and exact.
// Shapes: B batch, T new tokens, P past tokens, S = P + T, D hidden, H heads, qr q_lora_rank,
// kvr kv_lora_rank, nd qk_nope_head_dim, rd qk_rope_head_dim, qd = nd + rd, vd v_head_dim.

import { type GraphBuilder, MoteError, type F32Tensor } from '@mote/tensor-core';
import { attend, attentionInputs, finishLayerHead, newKvOutputs, rmsNorm, rope, transpose2d, type AttentionGraphOptions } from './graphs.js';

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

export function buildMlaAttention({ spec, layer, w, moe }: AttentionGraphOptions): GraphBuilder {
  const m = spec.attention.mla;
  if (!m) throw new MoteError('E_CONFIG_INVALID', `${spec.modelType} uses MLA attention but its spec has no mla dims (kv_lora_rank, qk_nope_head_dim, ...) in ${spec.file}`, { file: spec.file });
  const { hidden: D, heads: H } = spec;
  const { qLoraRank: qr, kvLoraRank: kvr, qkNopeDim: nd, qkRopeDim: rd, vDim: vd } = m;
  const qd = nd + rd;
  const lw = spec.weights.layer(layer);
  const a = lw.attn;
  const g = attentionInputs(`layer${layer}_mla`, { D, rd, kvHeads: H, kd: qd, vd });

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
  const qNope = g.slice(q, [0], [nd], [3]); // [B, T, H, nd]
  const qRot = rope(g, g.slice(q, [nd], [qd], [3]), 'cos', 'sin', rd); // [B, T, H, rd]

  const ckv = linear(normed, 'kv_a', a.kvA!, a.kvABias, kvr + rd, D, [kvr]); // [B, T, kvr+rd]
  const latent = rmsNorm(g, g.slice(ckv, [0], [kvr], [2]), g.init('kv_a_norm', w.get(a.kvANorm!, [kvr])), LORA_NORM_EPS); // [B, T, kvr]
  const kRot = rope(g, g.reshape(g.slice(ckv, [kvr], [kvr + rd], [2]), [0, 0, 1, rd]), 'cos', 'sin', rd); // [B, T, 1, rd]
  const kv = g.reshape(linear(latent, 'kv_b', a.kvB!, a.kvBBias, H * (nd + vd), kvr, null), [0, 0, H, nd + vd]); // [B, T, H, nd+vd]
  const kNope = g.slice(kv, [0], [nd], [3]); // [B, T, H, nd]
  const v = g.slice(kv, [nd], [nd + vd], [3]); // [B, T, H, vd]
  const kRotH = g.op1('Expand', [kRot, g.constI64([1, 1, H, 1])]); // [B, T, H, rd]: one rope key shared by all heads
  const qFull = g.concat([qNope, qRot], 3); // [B, T, H, qd]
  const kFull = g.concat([kNope, kRotH], 3); // [B, T, H, qd]

  const [kT, vT] = newKvOutputs(g, kFull, v, { kvHeads: H, kd: qd, vd }); // [B, H, T, qd], [B, H, T, vd]
  const out = attend(g, qFull, kT, vT, { H, Hkv: H, G: 1, hd: qd, vd, scale: spec.attention.scale / Math.sqrt(qd) }); // [B, T, H*vd]
  const o = g.matmul(out, g.init('o', w.getT(a.o!, [D, H * vd]))); // [B, T, D]
  const oB = w.has(a.oBias) ? g.add(o, g.init('o_bias', w.get(a.oBias, [D]))) : o;
  g.op1('Add', ['h', oB], {}, undefined, 'h_mid');
  finishLayerHead(g, spec, layer, w, moe);
  return g;
}
