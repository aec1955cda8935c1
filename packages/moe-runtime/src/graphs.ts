// ONNX graphs of one decoder layer, built from a ModelSpec and checkpoint weights: the attention graph
// (which also emits the router logits) and the MoE / dense-MLP graph that takes the routing decided in
// TypeScript. Shapes: B batch, T new tokens, P past tokens, S = P + T, D hidden, H heads, Hkv kv heads,
// G = H / Hkv, hd head dim, E experts, K top-k, I expert ffn width, N = B * T.

import {
  GraphBuilder,
  MoteError,
  readMxfp4F32,
  readScaledF32,
  type F32Tensor,
  type SafetensorsCheckpoint,
  type Tensor,
} from '@mote/tensor-core';
import type { ModelSpec } from './spec.js';

/** the log-weight of an expert a token does not use (exp underflows to exactly 0) */
const MASKED = -1e30;

export class Weights {
  constructor(
    readonly ckpt: SafetensorsCheckpoint,
    readonly file: string,
  ) {}
  has(name: string | undefined): name is string {
    return name !== undefined && this.ckpt.has(name);
  }
  /** float32 weights; fp8 with a `<name>_scale_inv` block scale is dequantised (R1's release format). */
  get(name: string, shape?: number[]): F32Tensor {
    return readScaledF32(this.ckpt, name, shape);
  }
  /** [out, in] Linear weight transposed to [in, out] for MatMul. */
  getT(name: string, shape: [number, number]): F32Tensor {
    const w = this.get(name, shape);
    return transpose2d(w);
  }
}

export function transpose2d(w: F32Tensor): F32Tensor {
  const [r, c] = w.shape;
  const out = new Float32Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = w.data[i * c + j];
  return { dtype: 'float32', shape: [c, r], data: out };
}

/** RMSNorm over the last axis: x * rsqrt(mean(x^2) + eps) * w (computed in float32 like HF). */
export function rmsNorm(g: GraphBuilder, x: string, w: string, eps: number): string {
  const ms = g.op1('ReduceMean', [g.mul(x, x)], { axes: [-1], keepdims: 1 });
  const inv = g.op1('Reciprocal', [g.op1('Sqrt', [g.add(ms, g.constF32([eps], []))])]);
  return g.mul(g.mul(x, inv), w);
}

/** rotate-half RoPE on x [B, T, heads, rd] with cos/sin [B, T, 1, rd]. */
export function rope(g: GraphBuilder, x: string, cos: string, sin: string, rd: number): string {
  const x1 = g.slice(x, [0], [rd / 2], [3]);
  const x2 = g.slice(x, [rd / 2], [rd], [3]);
  const rot = g.concat([g.op1('Neg', [x2]), x1], 3);
  return g.add(g.mul(x, cos), g.mul(rot, sin));
}

export interface AttentionGraphOptions {
  spec: ModelSpec;
  layer: number;
  w: Weights;
  moe: boolean;
}

/** A new attention graph with the inputs every attention builder takes (the runtime feeds all kinds alike):
 *  h [B,T,D], cos/sin [B,T,1,rd], mask [B,1,1,T,C+T] additive (C cache slots, then the T new tokens),
 *  past_k [B,kvHeads,C,kd], past_v [B,kvHeads,C,vd]: the runtime's cache buffers as they are, spare
 *  capacity included (masked). Builders output only the new tokens' new_k/new_v [B,kvHeads,T,kd|vd],
 *  which the runtime writes into its buffers: no step copies the cache. */
export function attentionInputs(name: string, d: { D: number; rd: number; kvHeads: number; kd: number; vd: number }): GraphBuilder {
  const g = new GraphBuilder(name);
  g.input('h', 'float32', ['B', 'T', d.D]);
  g.input('cos', 'float32', ['B', 'T', 1, d.rd]);
  g.input('sin', 'float32', ['B', 'T', 1, d.rd]);
  g.input('mask', 'float32', ['B', 1, 1, 'T', 'CT']);
  g.input('past_k', 'float32', ['B', d.kvHeads, 'C', d.kd]);
  g.input('past_v', 'float32', ['B', d.kvHeads, 'C', d.vd]);
  return g;
}

/** The new tokens' keys/values k [B,T,kvHeads,kd], v [B,T,kvHeads,vd] transposed to the graph's outputs
 *  new_k [B,kvHeads,T,kd], new_v [B,kvHeads,T,vd]; returns their names for the attention to use. */
export function newKvOutputs(g: GraphBuilder, k: string, v: string, d: { kvHeads: number; kd: number; vd: number }): [string, string] {
  g.op1('Transpose', [k], { perm: [0, 2, 1, 3] }, undefined, 'new_k');
  g.op1('Transpose', [v], { perm: [0, 2, 1, 3] }, undefined, 'new_v');
  g.output('new_k', 'float32', ['B', d.kvHeads, 'T', d.kd]);
  g.output('new_v', 'float32', ['B', d.kvHeads, 'T', d.vd]);
  return ['new_k', 'new_v'];
}

/**
 * Inputs: see attentionInputs (kd = vd = hd). Outputs: h_mid [B,T,D] (h + attention), x [B,T,D]
 * (post-attention norm), router_logits [N,E] (MoE layers), new_k/new_v [B,Hkv,T,hd].
 */
export function buildGqaAttention({ spec, layer, w, moe }: AttentionGraphOptions): GraphBuilder {
  const { hidden: D, heads: H, kvHeads: Hkv, headDim: hd } = spec;
  const G = H / Hkv;
  const lw = spec.weights.layer(layer);
  const a = lw.attn;
  const g = attentionInputs(`layer${layer}_attention`, { D, rd: hd, kvHeads: Hkv, kd: hd, vd: hd });

  const normed = rmsNorm(g, 'h', g.init('input_norm', w.get(lw.inputNorm, [D])), spec.rmsEps);
  const proj = (name: string, bias: string | undefined, out: number) => {
    const y = g.matmul(normed, g.init(name, w.getT(a[name]!, [out, D]))); // [B, T, out]
    return w.has(bias) ? g.add(y, g.init(`${name}_bias`, w.get(bias, [out]))) : y;
  };
  let q = proj('q', a.qBias, H * hd);
  let k = proj('k', a.kBias, Hkv * hd);
  let v = proj('v', a.vBias, Hkv * hd);
  if (spec.attention.qkNorm === 'full') {
    q = rmsNorm(g, q, g.init('q_norm', w.get(a.qNorm!, [H * hd])), spec.rmsEps);
    k = rmsNorm(g, k, g.init('k_norm', w.get(a.kNorm!, [Hkv * hd])), spec.rmsEps);
  }
  const clip = spec.attention.clipQkv;
  if (clip !== null) {
    const lo = g.constF32([-clip], []);
    const hi = g.constF32([clip], []);
    [q, k, v] = [q, k, v].map((t) => g.op1('Clip', [t, lo, hi]));
  }
  q = g.reshape(q, [0, 0, H, hd]); // [B, T, H, hd]
  k = g.reshape(k, [0, 0, Hkv, hd]); // [B, T, Hkv, hd]
  v = g.reshape(v, [0, 0, Hkv, hd]);
  if (spec.attention.qkNorm === 'head') {
    q = rmsNorm(g, q, g.init('q_norm', w.get(a.qNorm!, [hd])), spec.rmsEps);
    k = rmsNorm(g, k, g.init('k_norm', w.get(a.kNorm!, [hd])), spec.rmsEps);
  }
  q = rope(g, q, 'cos', 'sin', hd);
  k = rope(g, k, 'cos', 'sin', hd);
  const [kT, vT] = newKvOutputs(g, k, v, { kvHeads: Hkv, kd: hd, vd: hd }); // [B, Hkv, T, hd]
  const sinks = spec.attention.sinks ? g.init('sinks', { ...w.get(a.sinks!, [H]), shape: [Hkv, G, 1, 1] }) : undefined; // [Hkv, G, 1, 1]
  const out = attend(g, q, kT, vT, { H, Hkv, G, hd, vd: hd, scale: spec.attention.scale / Math.sqrt(hd), sinks });
  const o = g.matmul(out, g.init('o', w.getT(a.o!, [D, H * hd]))); // [B, T, D]
  const oB = w.has(a.oBias) ? g.add(o, g.init('o_bias', w.get(a.oBias, [D]))) : o;
  g.op1('Add', ['h', oB], {}, undefined, 'h_mid');
  finishLayerHead(g, spec, layer, w, moe);
  return g;
}

/**
 * Scaled dot-product attention with grouped kv heads and an additive mask over the cache slots and the new
 * tokens. q [B, T, H, qd]; new keys/values kNew [B, Hkv, T, qd], vNew [B, Hkv, T, vd]; the cache past_k
 * [B, Hkv, C, qd], past_v [B, Hkv, C, vd] -> [B, T, H*vd]. The scores against the cache and against the
 * new tokens are computed apart and joined before the softmax, so the cache is read in place, never
 * concatenated with the new tokens.
 */
export function attend(
  g: GraphBuilder,
  q: string,
  kNew: string,
  vNew: string,
  d: { H: number; Hkv: number; G: number; hd: number; vd: number; scale: number; sinks?: string },
): string {
  const q5 = g.reshape(g.transpose(q, [0, 2, 1, 3]), [0, d.Hkv, d.G, -1, d.hd]); // [B, Hkv, G, T, qd]
  const u5 = (x: string) => g.op1('Unsqueeze', [x, g.constI64([2])]); // [B, Hkv, 1, *, *]
  const scoresOf = (k: string) => g.matmul(q5, g.transpose(u5(k), [0, 1, 2, 4, 3])); // [B, Hkv, G, T, C|T]
  const scores = g.mul(g.concat([scoresOf('past_k'), scoresOf(kNew)], 4), g.constF32([d.scale], [])); // [B, Hkv, G, T, C+T]
  const masked = g.add(scores, 'mask');
  let probs: string;
  if (d.sinks) {
    // a per-head sink logit joins each row's softmax and is dropped after it
    const sink = g.op1('Expand', [
      d.sinks,
      g.op1('Concat', [g.slice(g.op1('Shape', [masked]), [0], [4], [0]), g.constI64([1])], { axis: 0 }),
    ]);
    const all = g.concat([masked, sink], 4);
    const sm = g.softmax(all, 4);
    probs = g.op1('Slice', [sm, g.constI64([0]), g.op1('Shape', [masked], { start: 4 }), g.constI64([4])]);
  } else {
    probs = g.softmax(masked, 4);
  }
  const C = g.op1('Shape', ['past_k'], { start: 2, end: 3 }); // [1]
  const pPast = g.op1('Slice', [probs, g.constI64([0]), C, g.constI64([4])]); // [B, Hkv, G, T, C]
  const pNew = g.op1('Slice', [probs, C, g.constI64([Number.MAX_SAFE_INTEGER]), g.constI64([4])]); // [B, Hkv, G, T, T]
  const ctx = g.add(g.matmul(pPast, u5('past_v')), g.matmul(pNew, u5(vNew))); // [B, Hkv, G, T, vd]
  const ctx4 = g.reshape(ctx, [0, d.H, -1, d.vd]); // [B, H, T, vd]
  return g.reshape(g.transpose(ctx4, [0, 2, 1, 3]), [0, 0, d.H * d.vd]); // [B, T, H*vd]
}

/** Post-attention norm output `x` and (MoE layers) the router logits, shared by every attention kind. */
export function finishLayerHead(g: GraphBuilder, spec: ModelSpec, layer: number, w: Weights, moe: boolean): void {
  g.output('h_mid', 'float32', ['B', 'T', spec.hidden]);
  normAndRouter(g, spec, layer, w, moe);
}

/** The part of a layer between the residual h_mid and the FFN: x (post-attention norm), router_logits. */
function normAndRouter(g: GraphBuilder, spec: ModelSpec, layer: number, w: Weights, moe: boolean): void {
  const { hidden: D, expertCount: E } = spec;
  const lw = spec.weights.layer(layer);
  rmsNormTo(g, 'h_mid', g.init('post_norm', w.get(lw.postNorm, [D])), spec.rmsEps, 'x');
  g.output('x', 'float32', ['B', 'T', D]);
  if (moe) {
    const x2 = g.reshape('x', [-1, D]); // [N, D]
    const gate = g.matmul(x2, g.init('router', w.getT(lw.router!, [E, D])));
    if (w.has(lw.routerBias)) g.op1('Add', [gate, g.init('router_bias', w.get(lw.routerBias, [E]))], {}, undefined, 'router_logits');
    else g.op1('Identity', [gate], {}, undefined, 'router_logits');
    g.output('router_logits', 'float32', ['N', E]);
  }
}

function rmsNormTo(g: GraphBuilder, x: string, w: string, eps: number, out: string): void {
  g.op1('Identity', [rmsNorm(g, x, w, eps)], {}, undefined, out);
}

/**
 * The MoE block: inputs h_mid [B,T,D], x [B,T,D], logw [N,E] (log of the applied weight of each chosen
 * expert, -1e30 elsewhere), wsum [N,1] (sum of applied weights). onnxruntime's MoE kernel takes
 * softmax(logw) over the chosen experts = w / wsum; multiplying by wsum restores the exact weights.
 * Output h [B,T,D] = h_mid + routed (+ shared expert).
 */
export function buildMoeBlock(spec: ModelSpec, layer: number, w: Weights): GraphBuilder {
  const { hidden: D, expertCount: E, topK: K, moeIntermediate: I } = spec;
  const lw = spec.weights.layer(layer);
  const g = new GraphBuilder(`layer${layer}_moe`).useDomain('com.microsoft', 1);
  g.input('h_mid', 'float32', ['B', 'T', D]);
  g.input('x', 'float32', ['B', 'T', D]);
  g.input('logw', 'float32', ['N', E]);
  g.input('wsum', 'float32', ['N', 1]);
  const fused = lw.fusedExperts;
  const fc1 = fused ? fusedExpertWeights(w, fused.gateUp, [E, D, 2 * I]) : new Float32Array(E * 2 * I * D); // [E, 2I, D] gate/up rows interleaved
  const fc2 = fused ? fusedExpertWeights(w, fused.down, [E, I, D]) : new Float32Array(E * D * I); // [E, D, I]
  for (let e = 0; e < E && !fused; e++) {
    const n = lw.expert!(e);
    const gate = w.get(n.gate, [I, D]).data;
    const up = w.get(n.up, [I, D]).data;
    for (let j = 0; j < I; j++) {
      fc1.set(gate.subarray(j * D, (j + 1) * D), (e * 2 * I + 2 * j) * D);
      fc1.set(up.subarray(j * D, (j + 1) * D), (e * 2 * I + 2 * j + 1) * D);
    }
    fc2.set(w.get(n.down, [D, I]).data, e * D * I);
  }
  const x2 = g.reshape('x', [-1, D]); // [N, D]
  const act = spec.activation;
  const bias = (name: string | undefined, shape: number[], label: string) =>
    fused && w.has(name) ? g.init(label, w.get(name, shape)) : '';
  const fc1Bias = bias(fused?.gateUpBias, [E, 2 * I], 'fc1_bias'); // [E, 2I] interleaved like fc1's rows
  const fc2Bias = bias(fused?.downBias, [E, D], 'fc2_bias'); // [E, D]
  const routed = g.op1(
    'MoE',
    [
      x2,
      'logw',
      g.init('fc1', { dtype: 'float32', shape: [E, 2 * I, D], data: fc1 }),
      fc1Bias,
      g.init('fc2', { dtype: 'float32', shape: [E, D, I], data: fc2 }),
      fc2Bias,
    ],
    {
      k: K,
      activation_type: 'swiglu',
      swiglu_fusion: 1,
      normalize_routing_weights: 1,
      activation_alpha: { float: act.kind === 'gptoss' ? act.alpha : 1 },
      activation_beta: { float: act.kind === 'gptoss' ? 1 : 0 },
      ...(act.kind === 'gptoss' ? { swiglu_limit: { float: act.limit } } : {}),
    },
    'com.microsoft',
  ); // [N, D]
  return finishMoeBlock(g, spec, layer, w, x2, g.mul(routed, 'wsum'));
}

/** Feeds of buildMoeBlock for real rows realIdx of N: logw [N, E] = log of each chosen expert's applied
 *  weight (duplicate ids from a replacing hook add up), -1e30 elsewhere; wsum [N, 1] = their sum. */
export function moeKernelFeeds(
  ids: ArrayLike<number>,
  weights: ArrayLike<number>,
  realIdx: number[],
  N: number,
  E: number,
  K: number,
): Record<string, Tensor> {
  const logw = new Float32Array(N * E).fill(MASKED); // [N, E]
  const wsum = new Float32Array(N); // [N, 1]
  realIdx.forEach((i, n) => {
    for (let j = 0; j < K; j++) {
      const wt = weights[n * K + j];
      if (wt === 0) continue;
      const o = i * E + ids[n * K + j];
      logw[o] = logw[o] === MASKED ? Math.log(wt) : Math.log(Math.exp(logw[o]) + wt);
      wsum[i] += wt;
    }
  });
  return {
    logw: { dtype: 'float32', shape: [N, E], data: logw },
    wsum: { dtype: 'float32', shape: [N, 1], data: wsum },
  };
}

/** Add the shared expert (gated by sigmoid(shared_expert_gate x) where it has one) to the routed sum
 *  y [N, D] and the residual: output h [B,T,D] = h_mid + y (+ shared). Every MoE block ends here. */
export function finishMoeBlock(g: GraphBuilder, spec: ModelSpec, layer: number, w: Weights, x2: string, y: string): GraphBuilder {
  const D = spec.hidden;
  const lw = spec.weights.layer(layer);
  if (lw.shared && spec.sharedIntermediate > 0) {
    const s = mlp(g, x2, w, lw.shared, D, spec.sharedIntermediate, 'shared');
    const sg =
      lw.shared.gateScalar && w.has(lw.shared.gateScalar)
        ? g.sigmoid(g.matmul(x2, g.init('shared_gate', w.getT(lw.shared.gateScalar, [1, D]))))
        : null;
    const shared = sg ? g.mul(s, sg) : s; // [N, D]
    hookOutput(g, shared, 'shared_out', D);
    hookOutput(g, y, 'routed_out', D);
    y = g.add(y, shared);
  } else {
    hookOutput(g, y, 'routed_out', D);
  }
  g.op1('Add', ['h_mid', g.op1('Reshape', [y, g.op1('Shape', ['h_mid'])])], {}, undefined, 'h');
  g.output('h', 'float32', ['B', 'T', D]);
  return g;
}

/** An intermediate [N, D] as a named graph output for hooks (routed_out, shared_out, final_norm): the runtime
 *  fetches it only when a hook or cache asks, otherwise it stays inside onnxruntime. */
function hookOutput(g: GraphBuilder, x: string, name: string, D: number, rows = 'N'): void {
  g.op1('Identity', [x], {}, undefined, name);
  g.output(name, 'float32', [rows, D]);
}

/**
 * Fused expert weights as the MoE kernel's [E, out, in]: MXFP4 `<name>_blocks`/`_scales` are stored that
 * way; a plain tensor is stored x @ W, `inOut` = [E, in, out], and is transposed per expert.
 */
function fusedExpertWeights(w: Weights, name: string, inOut: [number, number, number]): Float32Array {
  const [E, n, m] = inOut;
  if (!w.has(name) && w.has(`${name}_blocks`)) return readMxfp4F32(w.ckpt, name, [E, m, n]).data;
  const t = w.get(name, inOut).data; // [E, in, out]
  const out = new Float32Array(E * n * m); // [E, out, in]
  for (let e = 0; e < E; e++)
    out.set(transpose2d({ dtype: 'float32', shape: [n, m], data: t.subarray(e * n * m, (e + 1) * n * m) }).data, e * n * m);
  return out;
}

/** SiLU-gated MLP on x [N, D]: down(silu(gate x) * up x). */
export function mlp(
  g: GraphBuilder,
  x: string,
  w: Weights,
  n: { gate: string; up: string; down: string },
  D: number,
  I: number,
  prefix: string,
): string {
  const gate = g.matmul(x, g.init(`${prefix}_gate_proj`, w.getT(n.gate, [I, D])));
  const up = g.matmul(x, g.init(`${prefix}_up_proj`, w.getT(n.up, [I, D])));
  return g.matmul(g.mul(g.silu(gate), up), g.init(`${prefix}_down_proj`, w.getT(n.down, [D, I])));
}

/** Dense decoder MLP: h = h_mid + mlp(x). */
export function buildDenseBlock(spec: ModelSpec, layer: number, w: Weights): GraphBuilder {
  const D = spec.hidden;
  const lw = spec.weights.layer(layer);
  if (!lw.mlp)
    throw new MoteError('E_CONFIG_INVALID', `layer ${layer} of ${spec.modelType} is dense but the architecture has no dense MLP`, {
      file: spec.file,
    });
  const g = new GraphBuilder(`layer${layer}_mlp`);
  g.input('h_mid', 'float32', ['B', 'T', D]);
  g.input('x', 'float32', ['B', 'T', D]);
  const I = spec.denseIntermediate;
  g.op1('Add', ['h_mid', mlp(g, 'x', w, lw.mlp, D, I, 'mlp')], {}, undefined, 'h');
  g.output('h', 'float32', ['B', 'T', D]);
  return g;
}

/** Final norm and lm_head on the rows that need logits: h [M, D] -> logits [M, V] and greedy [M] (the
 *  argmax, first index on ties): greedy decoding fetches only `greedy`, the logits never leave onnxruntime. */
export function buildHead(spec: ModelSpec, w: Weights): GraphBuilder {
  const { hidden: D, vocab: V } = spec;
  const g = new GraphBuilder('head');
  g.input('h', 'float32', ['M', D]);
  const n = rmsNorm(g, 'h', g.init('norm', w.get(spec.weights.norm, [D])), spec.rmsEps);
  g.op1('MatMul', [n, g.init('lm_head', w.getT(spec.weights.lmHead, [V, D]))], {}, undefined, 'logits');
  g.op1('ArgMax', ['logits'], { axis: -1, keepdims: 0 }, undefined, 'greedy');
  g.output('logits', 'float32', ['M', V]);
  g.output('greedy', 'int64', ['M']);
  hookOutput(g, n, 'final_norm', D, 'M');
  return g;
}

/** Built on demand when a hook replaces resid_mid or attn_out: h_mid [B,T,D] -> x [B,T,D], router_logits [N,E]. */
export function buildMidGraph(spec: ModelSpec, layer: number, w: Weights, moe: boolean): GraphBuilder {
  const g = new GraphBuilder(`layer${layer}_mid`);
  g.input('h_mid', 'float32', ['B', 'T', spec.hidden]);
  normAndRouter(g, spec, layer, w, moe);
  return g;
}

/** Built on demand when a hook replaces final_norm: lm_head alone, x [M, D] -> logits [M, V]. */
export function buildUnembed(spec: ModelSpec, w: Weights): GraphBuilder {
  const { hidden: D, vocab: V } = spec;
  const g = new GraphBuilder('unembed');
  g.input('x', 'float32', ['M', D]);
  g.op1('MatMul', ['x', g.init('lm_head', w.getT(spec.weights.lmHead, [V, D]))], {}, undefined, 'logits');
  g.output('logits', 'float32', ['M', V]);
  return g;
}
