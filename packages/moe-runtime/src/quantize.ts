// Weight dtypes of a loaded model and the graph pass that applies them: every MatMul with a constant
// float32 [K, N] weight becomes onnxruntime's MatMulNBits (8 or 4 bit, symmetric, fp16-exact scales per
// block of up to 128 inputs, int8 activations: llama.cpp's q8_0 / q4_0 rounding on wider blocks). Routers,
// gates and norms stay float32 so routing decisions stay exact enough to analyse. 'int4' puts the expert and
// MLP weights (nearly all the bytes) in 4 bits and keeps attention projections and lm_head in 8 bits: 4-bit
// attention cost the organism 6 points of top-1 agreement (89% -> 96%, bench/accuracy.mjs), as llama.cpp's
// mixes keep them wider too. Not a kernel: a rewrite of built graphs.

import { FP4_E2M1_VALUES, quantizeNBits, QBLOCK, type GraphBuilder, type NBitsWeight, type QuantBits } from '@mote/tensor-core';
import { fusedMembers } from './fuse.js';

export type WeightDtype = 'f32' | 'int8' | 'int4';
export const WEIGHT_DTYPES: readonly WeightDtype[] = ['f32', 'int8', 'int4'];

/** initializers that stay float32 whatever the dtype: the router and the shared-expert gate decide routing */
const KEEP_F32 = new Set(['router', 'shared_gate']);

/** MatMulNBits accuracy level 4: activations quantised to int8 per block, as llama.cpp does for q8_0/q4_0. */
const ACCURACY_LEVEL = 4;

/**
 * Inputs per scale of a MatMulNBits weight with K inputs: the largest of 128, 64 and ggml's 32 that divides K
 * and leaves at least 4 blocks per row (rows of 128 or 256 inputs keep fine blocks; their scales cost little).
 * onnxruntime keeps a float32 scale and a float32 block sum per block in its prepacked weight, and the scales
 * mapped from the weight cache, so at 32 a loaded int4 weight costs 1.4x its 4-bit bytes and at 128 1.1x
 * (README "Peak RSS"); the accuracy cost: bench/blocks.mjs, bench/accuracy.mjs. MXFP4 experts keep their 32.
 */
export function nbitsBlock(k: number): number {
  for (const b of [128, 64]) if (k % b === 0 && k >= 4 * b) return b;
  return QBLOCK;
}

/** weights that 'int4' stores in 4 bits: routed and shared experts, dense MLPs */
const FOUR_BIT = /^(expert\d+_fc[12]|(shared|mlp)_(gate|up|down)_proj)$/;

/** Bits of initializer `name` under `dtype` (null: stays float32). */
export function weightBits(name: string, dtype: WeightDtype): 8 | 4 | null {
  const first = fusedMembers(name)[0]; // fused weights (fuse.ts) take their members' class
  if (dtype === 'f32' || KEEP_F32.has(first)) return null;
  return dtype === 'int4' && FOUR_BIT.test(first) ? 4 : 8;
}

/** Rewrite the constant-weight MatMuls of `g` to MatMulNBits of `dtype` (no-op for f32). Returns the count. */
export function quantizeGraph(g: GraphBuilder, dtype: WeightDtype): number {
  if (dtype === 'f32') return 0;
  const { nodes, inits } = g.parts();
  const byName = new Map(inits.map((i) => [i.name, i]));
  const uses = new Map<string, number>();
  for (const n of nodes) for (const i of n.inputs) uses.set(i, (uses.get(i) ?? 0) + 1);
  const drop = new Set<string>();
  let count = 0;
  for (const n of nodes) {
    if (n.op !== 'MatMul' || n.domain !== '') continue;
    const b = byName.get(n.inputs[1]);
    const bits = b ? weightBits(b.name, dtype) : null;
    if (!b || !bits || !b.raw || b.elem !== 'float32' || b.dims.length !== 2 || uses.get(b.name) !== 1) continue;
    const [K, N] = b.dims;
    if (K % QBLOCK !== 0 || N < 2) continue;
    const wKN =
      b.raw.byteOffset % 4 === 0 ? new Float32Array(b.raw.buffer, b.raw.byteOffset, K * N) : new Float32Array(b.raw.slice().buffer);
    const q = quantizeColumns(wKN, K, N, bits);
    const qName = `${b.name}_q${bits}`;
    const sName = `${b.name}_scales`;
    inits.push({ name: qName, elem: 'uint8', dims: [N, K / q.block, (q.block * bits) / 8], raw: q.data });
    inits.push({ name: sName, elem: 'float32', dims: [N * (K / q.block)], raw: new Uint8Array(q.scales.buffer) });
    drop.add(b.name);
    b.raw = undefined; // the f32 bytes go now, not with the graph: a conversion holds one f32 copy of a layer at most
    n.op = 'MatMulNBits';
    n.domain = 'com.microsoft';
    n.inputs = [n.inputs[0], qName, sName];
    n.attrs = { K, N, bits, block_size: q.block, accuracy_level: ACCURACY_LEVEL };
    count++;
  }
  if (count) {
    for (let i = inits.length - 1; i >= 0; i--) if (drop.has(inits[i].name)) inits.splice(i, 1);
    g.useDomain('com.microsoft', 1);
  }
  return count;
}

/** Columns of a float32 [K, N] weight (x @ W) as MatMulNBits rows, transposed 256 output rows at a time: no
 *  [N, K] float32 copy beside it (gpt-oss's lm_head is 2.3 GB of float32). */
function quantizeColumns(wKN: Float32Array, K: number, N: number, bits: QuantBits): NBitsWeight {
  const block = nbitsBlock(K);
  const rows = 256;
  const data = new Uint8Array((N * K * bits) / 8);
  const scales = new Float32Array((N * K) / block);
  const tile = new Float32Array(rows * K);
  for (let n0 = 0; n0 < N; n0 += rows) {
    const c = Math.min(rows, N - n0);
    for (let k = 0; k < K; k++) {
      const src = k * N + n0;
      for (let j = 0; j < c; j++) tile[j * K + k] = wKN[src + j];
    }
    const q = quantizeNBits(tile.subarray(0, c * K), c, K, bits, block);
    data.set(q.data, (n0 * K * bits) / 8);
    scales.set(q.scales, (n0 * K) / block);
  }
  return { bits, n: N, k: K, block, data, scales };
}

/**
 * MatMulNBits B and scales of the row blocks `parts` (each [n_i, K] float32, output rows) stacked in order:
 * a checkpoint's [out, in] Linear weights quantised as they lie, one part at a time (the cold load's path
 * for expert slices: no [in, out] float32 copy, no transposes).
 * @example quantizeRows([gate, up], D, 4) // N = 2I rows: gate's, then up's
 */
export function quantizeRows(parts: Float32Array[], k: number, bits: QuantBits): NBitsWeight & { bits: QuantBits } {
  const blocks = parts.map((p) => quantizeNBits(p, p.length / k, k, bits, nbitsBlock(k)));
  const n = blocks.reduce((a, b) => a + b.n, 0);
  if (blocks.length === 1) return blocks[0];
  const data = new Uint8Array(blocks.reduce((a, b) => a + b.data.length, 0));
  const scales = new Float32Array(blocks.reduce((a, b) => a + b.scales.length, 0));
  let d = 0;
  let s = 0;
  for (const b of blocks) {
    data.set(b.data, d);
    scales.set(b.scales, s);
    d += b.data.length;
    s += b.scales.length;
  }
  return { bits, n, k, block: blocks[0].block, data, scales };
}

// ---- MXFP4 (gpt-oss experts) straight to MatMulNBits blocks ----------------------------------------

/** e2m1 code -> value in units of the block's power-of-two scale */
const E2M1 = FP4_E2M1_VALUES;
/** 4-bit step candidates in units of the block scale: e2m1 values are not evenly spaced, so each block keeps
 *  the uniform grid (q - 8) * step, q in 0..15, with the least squared error over its 32 values */
const STEPS_4BIT = [0.5, 0.75, 6 / 7, 1];

/**
 * MXFP4 rows (blocks [N, G, 16] uint8, two e2m1 codes per byte, low nibble first; scales [N, G] e8m0,
 * 2^(s - 127)) as MatMulNBits B [N, G, 32 * bits / 8] + float32 scales [N * G], block for block (K = 32 G),
 * without a float32 copy of the tensor. 8 bits is exact (code value x 2 on a step of half the block scale).
 * 4 bits rounds onto the block's best uniform grid: one of STEPS_4BIT x the block scale.
 * @example
 *   const q = requantMxfp4(blocks, scales, 4); // q.data, q.scales feed MatMulNBits (bits 4, block_size 32)
 *   dequantizeNBits(q); // [N, K] within half a step of dequantMxfp4(blocks, scales)
 */
export function requantMxfp4(blocks: Uint8Array, scales: Uint8Array, bits: 4 | 8, n = 1): NBitsWeight & { bits: 4 | 8 } {
  const G = scales.length;
  if (blocks.length !== G * 16) throw new Error(`requantMxfp4: ${blocks.length} block bytes do not fit ${G} scales x 16`);
  const blob = (QBLOCK * bits) / 8;
  const data = new Uint8Array(G * blob);
  const out = new Float32Array(G);
  const t = mxfp4Tables();
  for (let g = 0; g < G; g++) {
    const unit = 2 ** (scales[g] - 127);
    const src = g * 16;
    if (bits === 8) {
      out[g] = unit / 2;
      for (let b = 0; b < 16; b++) {
        const c = blocks[src + b];
        data[g * blob + 2 * b] = t.q8[c & 15];
        data[g * blob + 2 * b + 1] = t.q8[c >> 4];
      }
      continue;
    }
    let step = 0;
    let best = Infinity;
    for (let s = 0; s < STEPS_4BIT.length; s++) {
      let err = 0; // summed code by code, in order: the same float64 sum as a plain loop over the 32 values
      for (let b = 0; b < 16; b++) {
        const c = blocks[src + b];
        err += t.err[s * 16 + (c & 15)];
        err += t.err[s * 16 + (c >> 4)];
      }
      if (err < best) {
        best = err;
        step = s;
      }
    }
    out[g] = unit * STEPS_4BIT[step];
    for (let b = 0; b < 16; b++) data[g * blob + b] = t.q4[step * 256 + blocks[src + b]];
  }
  return { bits, n, k: (G / n) * QBLOCK, block: QBLOCK, data, scales: out };
}

let tables: { q8: Uint8Array; q4: Uint8Array; err: Float64Array } | null = null;
/** Per 4-bit step: per MXFP4 byte (two e2m1 codes) the stored MatMulNBits byte, per code the squared error on
 *  that step's grid; per code the 8-bit level (value x 2 on a step of half the block scale). */
function mxfp4Tables() {
  if (tables) return tables;
  const level = (v: number, s: number) => Math.max(-8, Math.min(7, Math.round(v / s)));
  const q8 = Uint8Array.from(E2M1, (v) => v * 2 + 128);
  const q4 = new Uint8Array(STEPS_4BIT.length * 256);
  const err = new Float64Array(STEPS_4BIT.length * 16);
  STEPS_4BIT.forEach((s, i) => {
    for (let c = 0; c < 256; c++) q4[i * 256 + c] = (level(E2M1[c & 15], s) + 8) | ((level(E2M1[c >> 4], s) + 8) << 4);
    for (let c = 0; c < 16; c++) err[i * 16 + c] = (E2M1[c] - level(E2M1[c], s) * s) ** 2;
  });
  tables = { q8, q4, err };
  return tables;
}

/** [r, c] row-major -> [c, r], in 32x32 tiles (cache friendly). */
export function transposeTiled(
  src: Float32Array,
  r: number,
  c: number,
  dst = new Float32Array(r * c),
  dstStride = r,
  dstCol = 0,
): Float32Array {
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
