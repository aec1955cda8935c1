// The routed experts as one MatMul pair per expert ("expert slices"): the rows routed to expert e are
// gathered, run through e's gate/up and down projections, and scattered back with the applied weights.
// Only the experts that received rows do arithmetic, the weights of every expert stay prepacked, and the
// routing comes from TypeScript exactly (no renormalisation to undo). An expert without rows still costs its
// two empty kernel calls, ~3-4 µs a step (If groups and per-group sessions cost more: README,
// bench/dispatch.mjs). gpt-oss's fused experts (clamped SwiGLU, expert biases) use slices at int8/int4, MXFP4
// blocks requantised straight to MatMulNBits; at f32 they keep onnxruntime's MoE op (graphs.ts).
// Shapes: B batch, T new tokens, N = B*T rows, D hidden, E experts, K top-k, I expert width,
// M routed (row, slot) pairs with a non-zero weight.

import { GraphBuilder, MoteError, QBLOCK, type F32Tensor, type Tensor } from '@mote/tensor-core';
import { finishMoeBlock, type Weights } from './graphs.js';
import { quantizeRows, requantMxfp4, transposeTiled, weightBits, type WeightDtype } from './quantize.js';
import type { ModelSpec } from './spec.js';

/** Whether layer `layer` of `spec` uses expert slices at `dtype`: per-expert SiLU-GLU tensors without biases
 *  always; gpt-oss's fused experts at int8/int4 (at f32 onnxruntime's MoE op keeps them exact). */
export function expertSlicesFit(spec: ModelSpec, layer: number, dtype: WeightDtype = 'f32'): boolean {
  const lw = spec.weights.layer(layer);
  if (lw.fusedExperts) return dtype !== 'f32';
  return spec.activation.kind === 'silu' && !spec.expertBias && typeof lw.expert === 'function';
}

/**
 * Inputs: h_mid [B,T,D], x [B,T,D] (post-attention norm), order [M] int64 (source row of each routed pair,
 * grouped by expert), counts [E] int64 (pairs per expert), inv [N,K] int64 (position of slot (n, j) in the
 * grouped order; M = the zero row), wts [N,K,1] (applied weight of each slot); with expert biases (gpt-oss)
 * also rowExpert [M] int64 (the expert of each grouped pair).
 * Output h [B,T,D] = h_mid + sum_j wts[n,j] * expert_{id(n,j)}(x_n) (+ shared expert).
 */
export function buildExpertSlicesBlock(spec: ModelSpec, layer: number, w: Weights, dtype: WeightDtype = 'f32'): GraphBuilder {
  const { hidden: D, expertCount: E, topK: K, moeIntermediate: I } = spec;
  const lw = spec.weights.layer(layer);
  if (!expertSlicesFit(spec, layer, dtype)) {
    const why = `layer ${layer} of ${spec.modelType} has no per-expert SiLU tensors at ${dtype}; use buildMoeBlock`;
    throw new MoteError('E_CONFIG_INVALID', why, { file: spec.file });
  }
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
  const src = lw.fusedExperts ? fusedSlices(spec, layer, w, dtype) : siluSlices(spec, layer, w, dtype);
  if (src.bias1 || src.bias2) g.input('rowExpert', 'int64', ['M']);
  /** x [m, in] @ expert e's weight `which`: a float32 MatMul, or MatMulNBits when the source is already quantised */
  const proj = (x: string, e: number, which: 'fc1' | 'fc2') => {
    const [k, n] = which === 'fc1' ? [D, 2 * I] : [I, D];
    const name = `expert${e}_${which}`;
    const wt = src.weight(e, which);
    if (!('bits' in wt)) return g.matmul(x, g.init(name, { dtype: 'float32', shape: [k, n], data: wt })); // [m, n]
    g.init(`${name}_q${wt.bits}`, { elem: 'uint8', dims: [n, k / wt.block, (wt.block * wt.bits) / 8], raw: wt.data });
    const scales = new Uint8Array(wt.scales.buffer, wt.scales.byteOffset, wt.scales.byteLength);
    g.init(`${name}_scales`, { elem: 'float32', dims: [n * (k / wt.block)], raw: scales });
    g.useDomain('com.microsoft', 1);
    const attrs = { K: k, N: n, bits: wt.bits, block_size: wt.block, accuracy_level: 4 };
    return g.op1('MatMulNBits', [x, `${name}_q${wt.bits}`, `${name}_scales`], attrs, 'com.microsoft'); // [m, n]
  };
  // per expert only the two projections; the activation runs once on all rows (2 nodes per expert: an
  // unused expert costs two empty kernel calls, not six)
  let h1 = g.concat(
    parts.map((p, e) => proj(p, e, 'fc1')),
    0,
  ); // [M, 2I]: gate columns, then up columns
  if (src.bias1) h1 = g.add(h1, g.op1('Gather', [g.init('experts_fc1_bias', src.bias1), 'rowExpert'], { axis: 0 })); // [M, 2I]
  const [gate, up] = g.op('Split', [h1, g.constI64([I, I])], { axis: 1 }, { outputs: 2 }); // [M, I] each
  const act =
    spec.activation.kind === 'gptoss' // [M, I]
      ? gptossGlu(g, gate, up, spec.activation)
      : g.mul(g.mul(gate, g.sigmoid(gate)), up);
  const actParts = g.op('Split', [act, 'counts'], { axis: 0 }, { outputs: E }); // E x [m_e, I]
  let y2 = g.concat(
    actParts.map((p, e) => proj(p, e, 'fc2')),
    0,
  ); // [M, D]
  if (src.bias2) y2 = g.add(y2, g.op1('Gather', [g.init('experts_fc2_bias', src.bias2), 'rowExpert'], { axis: 0 })); // [M, D]
  const all = g.concat([y2, g.constF32(new Float32Array(D), [1, D])], 0); // [M+1, D]: row M for dropped and padded slots
  const picked = g.op1('Gather', [all, 'inv'], { axis: 0 }); // [N, K, D]
  const y = g.op1('ReduceSum', [g.mul(picked, 'wts'), g.constI64([1])], { keepdims: 0 }); // [N, D]
  return finishMoeBlock(g, spec, layer, w, x2, y);
}

/** gpt-oss's clamped SwiGLU on gate, up [M, I]: (clip(up, -limit, limit) + 1) * g * sigmoid(alpha g), g = min(gate, limit) */
function gptossGlu(g: GraphBuilder, gate: string, up: string, a: { alpha: number; limit: number }): string {
  const gc = g.op1('Min', [gate, g.constF32([a.limit], [])]);
  const uc = g.op1('Clip', [up, g.constF32([-a.limit], []), g.constF32([a.limit], [])]);
  const glu = g.mul(gc, g.sigmoid(g.mul(gc, g.constF32([a.alpha], []))));
  return g.mul(g.add(uc, g.constF32([1], [])), glu);
}

type NBits = ReturnType<typeof requantMxfp4>;
interface SliceSource {
  /** expert e's fc1 [D, 2I] (gate columns, then up) or fc2 [I, D] as float32 [in, out], or MatMulNBits rows */
  weight(e: number, which: 'fc1' | 'fc2'): Float32Array | NBits;
  bias1?: F32Tensor; // [E, 2I] gate, then up
  bias2?: F32Tensor; // [E, D]
}

function siluSlices(spec: ModelSpec, layer: number, w: Weights, dtype: WeightDtype): SliceSource {
  const { hidden: D, moeIntermediate: I } = spec;
  const lw = spec.weights.layer(layer);
  const bits = weightBits('expert0_fc1', dtype);
  return {
    weight(e, which) {
      const n = lw.expert!(e);
      // quantised dtypes: the checkpoint's [out, in] rows are MatMulNBits rows as they are (no transposes)
      if (bits && which === 'fc2') return quantizeRows([w.get(n.down, [D, I]).data], I, bits); // N = D rows of K = I
      if (bits) return quantizeRows([w.get(n.gate, [I, D]).data, w.get(n.up, [I, D]).data], D, bits); // N = 2I: gate, up
      if (which === 'fc2') return transposeTiled(w.get(n.down, [D, I]).data, D, I); // [I, D]
      const fc1 = new Float32Array(D * 2 * I); // [D, 2I]: gate columns, then up columns
      transposeTiled(w.get(n.gate, [I, D]).data, I, D, fc1, 2 * I, 0);
      transposeTiled(w.get(n.up, [I, D]).data, I, D, fc1, 2 * I, I);
      return fc1;
    },
  };
}

/** gpt-oss fused experts: gate/up interleaved (gate 2j, up 2j+1) reordered to gate | up; MXFP4 blocks become
 *  MatMulNBits rows of the dtype's bits without a float32 copy, float32 tensors are sliced per expert. */
function fusedSlices(spec: ModelSpec, layer: number, w: Weights, dtype: WeightDtype): SliceSource {
  const { hidden: D, expertCount: E, moeIntermediate: I } = spec;
  const f = spec.weights.layer(layer).fusedExperts!;
  const bits = weightBits('expert0_fc1', dtype) ?? 8;
  const deint = (t: Float32Array, rows: number, cols: number) => {
    // [rows, 2I-interleaved cols] -> gate | up
    const out = new Float32Array(rows * cols);
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < cols / 2; j++) {
        out[r * cols + j] = t[r * cols + 2 * j];
        out[r * cols + cols / 2 + j] = t[r * cols + 2 * j + 1];
      }
    }
    return out;
  };
  const bias = (name: string | undefined, shape: [number, number], interleaved: boolean): F32Tensor | undefined => {
    if (!w.has(name)) return undefined;
    const t = w.get(name, shape);
    return interleaved ? { ...t, data: deint(t.data, shape[0], shape[1]) } : t;
  };
  const out = { bias1: bias(f.gateUpBias, [E, 2 * I], true), bias2: bias(f.downBias, [E, D], false) };
  const mx = (name: string) => !w.has(name) && w.has(`${name}_blocks`);
  if (mx(f.gateUp) && mx(f.down)) {
    // [E, out, in/32, 16] blocks + [E, out, in/32] scales: rows are MatMulNBits rows already
    const read = (name: string, n: number, k: number) => {
      const b = w.ckpt.readBytes(`${name}_blocks`);
      const s = w.ckpt.readBytes(`${name}_scales`);
      if (b.length !== (E * n * k) / 2 || s.length !== (E * n * k) / QBLOCK) {
        throw new MoteError(
          'E_SHAPE',
          `MXFP4 ${name}_blocks/_scales in ${w.file} hold ${b.length}/${s.length} bytes, not ` +
            `[${E}, ${n}, ${k}] of layer ${layer}; the checkpoint and config.json disagree`,
          { file: w.file, field: `${name}_blocks` },
        );
      }
      return { b, s, rowB: k / 2, rowS: k / QBLOCK };
    };
    const up = read(f.gateUp, 2 * I, D);
    const down = read(f.down, D, I);
    return {
      ...out,
      weight(e, which) {
        const m = which === 'fc1' ? up : down;
        const n = which === 'fc1' ? 2 * I : D;
        const rowOf = (r: number) => (which === 'fc1' ? (r < I ? 2 * r : 2 * (r - I) + 1) : r); // gate | up from interleaved
        const b = new Uint8Array(n * m.rowB);
        const s = new Uint8Array(n * m.rowS);
        for (let r = 0; r < n; r++) {
          const src = e * n + rowOf(r);
          b.set(m.b.subarray(src * m.rowB, (src + 1) * m.rowB), r * m.rowB);
          s.set(m.s.subarray(src * m.rowS, (src + 1) * m.rowS), r * m.rowS);
        }
        return requantMxfp4(b, s, bits, n);
      },
    };
  }
  const gateUp = w.get(f.gateUp, [E, D, 2 * I]).data; // [E, D, 2I] x @ W
  const downW = w.get(f.down, [E, I, D]).data; // [E, I, D]
  return {
    ...out,
    weight: (e, which) =>
      which === 'fc1' ? deint(gateUp.subarray(e * D * 2 * I, (e + 1) * D * 2 * I), D, 2 * I) : downW.slice(e * I * D, (e + 1) * I * D),
  };
}

/**
 * Feeds of an expert-slices block from the router's choice. `ids`/`weights` are [R, K] for the R real
 * rows, `realIdx[r]` their flat row in [0, N). Slots with weight 0 and padded rows read the zero row.
 */
export function expertSlicesFeeds(
  ids: ArrayLike<number>,
  weights: ArrayLike<number>,
  realIdx: number[],
  N: number,
  E: number,
  K: number,
  withRowExpert = false,
): Record<string, Tensor> {
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
  const rowExpert = new BigInt64Array(M);
  if (withRowExpert) for (let e = 0; e < E; e++) rowExpert.fill(BigInt(e), start[e], start[e + 1]);
  return {
    ...(withRowExpert ? { rowExpert: { dtype: 'int64', shape: [M], data: rowExpert } as Tensor } : {}),
    order: { dtype: 'int64', shape: [M], data: order } as Tensor,
    counts: { dtype: 'int64', shape: [E], data: BigInt64Array.from(counts, (c) => BigInt(c)) } as Tensor,
    inv: { dtype: 'int64', shape: [N, K], data: inv } as Tensor,
    wts: { dtype: 'float32', shape: [N, K, 1], data: wts } as F32Tensor,
  };
}
