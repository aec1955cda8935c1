// The routed experts as one MatMul pair per expert ("expert slices"): the rows routed to expert e are
// gathered, run through e's gate/up and down projections, and scattered back with the applied weights.
// Only the experts that received rows do work, the weights of every expert stay prepacked, and the
// routing comes from TypeScript exactly (no renormalisation to undo). Not used for fused-expert
// checkpoints or non-SiLU activations (gpt-oss), which keep onnxruntime's MoE op (graphs.ts).
// Shapes: B batch, T new tokens, N = B*T rows, D hidden, E experts, K top-k, I expert width,
// M routed (row, slot) pairs with a non-zero weight.

import { GraphBuilder, MoteError, type F32Tensor, type Tensor } from '@mote/tensor-core';
import { finishMoeBlock, type Weights } from './graphs.js';
import type { ModelSpec } from './spec.js';

/** Whether layer `layer` of `spec` can use expert slices (per-expert SiLU-GLU tensors, no expert biases). */
export function expertSlicesFit(spec: ModelSpec, layer: number): boolean {
  const lw = spec.weights.layer(layer);
  return spec.activation.kind === 'silu' && !spec.expertBias && !lw.fusedExperts && typeof lw.expert === 'function';
}

/** [r, c] row-major -> [c, r], in 32x32 tiles (cache friendly). */
export function transposeTiled(src: Float32Array, r: number, c: number, dst = new Float32Array(r * c), dstStride = r, dstCol = 0): Float32Array {
  const B = 32;
  for (let i0 = 0; i0 < r; i0 += B) {
    const i1 = Math.min(r, i0 + B);
    for (let j0 = 0; j0 < c; j0 += B) {
      const j1 = Math.min(c, j0 + B);
      for (let i = i0; i < i1; i++) {
        const s = i * c;
        for (let j = j0; j < j1; j++) dst[j * dstStride + dstCol + i] = src[s + j];
      }
    }
  }
  return dst;
}

/**
 * Inputs: h_mid [B,T,D], x [B,T,D] (post-attention norm), order [M] int64 (source row of each routed pair,
 * grouped by expert), counts [E] int64 (pairs per expert), inv [N,K] int64 (position of slot (n, j) in the
 * grouped order; M = the zero row), wts [N,K,1] (applied weight of each slot).
 * Output h [B,T,D] = h_mid + sum_j wts[n,j] * expert_{id(n,j)}(x_n) (+ shared expert).
 */
export function buildExpertSlicesBlock(spec: ModelSpec, layer: number, w: Weights): GraphBuilder {
  const { hidden: D, expertCount: E, topK: K, moeIntermediate: I } = spec;
  const lw = spec.weights.layer(layer);
  if (!expertSlicesFit(spec, layer)) throw new MoteError('E_CONFIG_INVALID', `layer ${layer} of ${spec.modelType} has no per-expert SiLU tensors; use buildMoeBlock`, { file: spec.file });
  const g = new GraphBuilder(`layer${layer}_experts`);
  g.input('h_mid', 'float32', ['B', 'T', D]);
  g.input('x', 'float32', ['B', 'T', D]);
  g.input('order', 'int64', ['M']);
  g.input('counts', 'int64', [E]);
  g.input('inv', 'int64', ['N', K]);
  g.input('wts', 'float32', ['N', K, 1]);
  const x2 = g.reshape('x', [-1, D]); // [N, D]
  const xs = g.op1('Gather', [x2, 'order'], { axis: 0 }); // [M, D]
  const parts = g.op('Split', [xs, 'counts'], { axis: 0 }, { outputs: E }); // E x [m_e, D]
  // per expert only the two projections; the activation runs once on all rows (2 nodes per expert: an
  // unused expert costs two empty kernel calls, not six)
  const hs: string[] = [];
  const fc2s: Float32Array[] = [];
  for (let e = 0; e < E; e++) {
    const n = lw.expert!(e);
    const fc1 = new Float32Array(D * 2 * I); // [D, 2I]: gate columns, then up columns
    transposeTiled(w.get(n.gate, [I, D]).data, I, D, fc1, 2 * I, 0);
    transposeTiled(w.get(n.up, [I, D]).data, I, D, fc1, 2 * I, I);
    fc2s.push(transposeTiled(w.get(n.down, [D, I]).data, D, I)); // [I, D]
    hs.push(g.matmul(parts[e], g.init(`expert${e}_fc1`, { dtype: 'float32', shape: [D, 2 * I], data: fc1 }))); // [m_e, 2I]
  }
  const [gate, up] = g.op('Split', [g.concat(hs, 0), g.constI64([I, I])], { axis: 1 }, { outputs: 2 }); // [M, I] each
  const act = g.mul(g.mul(gate, g.sigmoid(gate)), up); // [M, I]
  const actParts = g.op('Split', [act, 'counts'], { axis: 0 }, { outputs: E }); // E x [m_e, I]
  const ys = fc2s.map((fc2, e) => g.matmul(actParts[e], g.init(`expert${e}_fc2`, { dtype: 'float32', shape: [I, D], data: fc2 }))); // [m_e, D]
  ys.push(g.constF32(new Float32Array(D), [1, D])); // row M: dropped and padded slots
  const all = g.concat(ys, 0); // [M+1, D]
  const picked = g.op1('Gather', [all, 'inv'], { axis: 0 }); // [N, K, D]
  const y = g.op1('ReduceSum', [g.mul(picked, 'wts'), g.constI64([1])], { keepdims: 0 }); // [N, D]
  return finishMoeBlock(g, spec, layer, w, x2, y);
}

/**
 * Feeds of an expert-slices block from the router's choice. `ids`/`weights` are [R, K] for the R real
 * rows, `realIdx[r]` their flat row in [0, N). Slots with weight 0 and padded rows read the zero row.
 */
export function expertSlicesFeeds(ids: ArrayLike<number>, weights: ArrayLike<number>, realIdx: number[], N: number, E: number, K: number): Record<string, Tensor> {
  const counts = new Int32Array(E);
  for (let r = 0; r < realIdx.length; r++) for (let j = 0; j < K; j++) if (weights[r * K + j] !== 0) counts[ids[r * K + j]]++;
  const start = new Int32Array(E + 1);
  for (let e = 0; e < E; e++) start[e + 1] = start[e] + counts[e];
  const M = start[E];
  const order = new BigInt64Array(M);
  const inv = new BigInt64Array(N * K).fill(BigInt(M));
  const wts = new Float32Array(N * K);
  const fill = start.slice(0, E);
  for (let r = 0; r < realIdx.length; r++) {
    const n = realIdx[r];
    for (let j = 0; j < K; j++) {
      const wt = weights[r * K + j];
      if (wt === 0) continue;
      const p = fill[ids[r * K + j]]++;
      order[p] = BigInt(n);
      inv[n * K + j] = BigInt(p);
      wts[n * K + j] = wt;
    }
  }
  return {
    order: { dtype: 'int64', shape: [M], data: order } as Tensor,
    counts: { dtype: 'int64', shape: [E], data: BigInt64Array.from(counts, (c) => BigInt(c)) } as Tensor,
    inv: { dtype: 'int64', shape: [N, K], data: inv } as Tensor,
    wts: { dtype: 'float32', shape: [N, K, 1], data: wts } as F32Tensor,
  };
}
