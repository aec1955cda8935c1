// int8 / int4 weights: the block quantiser against llama.cpp's q8_0 / q4_0 rules and onnxruntime's
// MatMulNBits packing, and the quantised runtime against f32 (logits, top-1, routing) on the organism
// and a tiny fixture. Tolerances are for quantised paths; f32 parity lives in parity.test.ts.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphBuilder, Session, dequantizeNBits, f16BitsToF32, f32ToF16Bits, quantizeGgufBlocks, quantizeNBits } from '@mote/tensor-core';
import { hookName, loadModel, type Model } from '@mote/moe-runtime';
import { createRng } from '@mote/stats';
import { nbitsBlock, quantizeGraph, quantizeRows, transposeTiled } from '../packages/moe-runtime/src/quantize.js';

const ORGANISM = join(import.meta.dirname, '..', 'models', 'organism');
const TINY = join(import.meta.dirname, 'fixtures', 'tiny-moe', 'olmoe');

function randn(n: number, seed: number): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: n }, rng.normal);
}

describe('block quantiser', () => {
  it("quantizeRows of a checkpoint's [out, in] gate and up rows equals quantising the transposed [in, out] fc1 weight", () => {
    const [D, I] = [64, 96];
    const rand = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed) * 0.05);
    const gate = rand(I * D, 1); // [I, D]
    const up = rand(I * D, 2); // [I, D]
    const fc1 = new Float32Array(D * 2 * I); // [D, 2I]: gate columns, then up (the f32 graph's weight)
    transposeTiled(gate, I, D, fc1, 2 * I, 0);
    transposeTiled(up, I, D, fc1, 2 * I, I);
    for (const bits of [4, 8] as const) {
      const ref = quantizeNBits(transposeTiled(fc1, D, 2 * I), 2 * I, D, bits); // what quantizeGraph makes of fc1
      const got = quantizeRows([gate, up], D, bits);
      expect([got.n, got.k, got.bits]).toEqual([2 * I, D, bits]);
      expect(got.data).toEqual(ref.data);
      expect(got.scales).toEqual(ref.scales);
    }
  });

  it('fp16 conversion rounds to nearest even and keeps the edges', () => {
    expect(f32ToF16Bits(1)).toBe(0x3c00);
    expect(f32ToF16Bits(-2)).toBe(0xc000);
    expect(f32ToF16Bits(65504)).toBe(0x7bff);
    expect(f32ToF16Bits(1e6)).toBe(0x7c00);
    expect(f16BitsToF32(f32ToF16Bits(2 ** -24))).toBe(2 ** -24);
    expect(f32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie -> even
    expect(f32ToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
  });

  for (const bits of [8, 4] as const) {
    it(`${bits}-bit: MatMulNBits layout and GGUF q${bits}_0 blocks hold the same levels and scales`, () => {
      const N = 6,
        K = 64;
      const w = randn(N * K, bits);
      const nb = quantizeNBits(w, N, K, bits);
      const gg = quantizeGgufBlocks(w, N, K, bits);
      const bsz = bits === 8 ? 34 : 18;
      const dv = new DataView(gg.buffer);
      const deq = dequantizeNBits(nb);
      for (let blk = 0; blk < (N * K) / 32; blk++) {
        const d = f16BitsToF32(dv.getUint16(blk * bsz, true));
        expect(nb.scales[blk]).toBe(d);
        for (let j = 0; j < 32; j++) {
          const q = bits === 8 ? (gg[blk * bsz + 2 + j] << 24) >> 24 : ((gg[blk * bsz + 2 + (j % 16)] >> (j < 16 ? 0 : 4)) & 15) - 8;
          expect(deq[blk * 32 + j]).toBe(q * d);
          // the rounding error of a level is at most half a step (plus the fp16 rounding of the scale)
          expect(Math.abs(deq[blk * 32 + j] - w[blk * 32 + j])).toBeLessThanOrEqual(
            Math.abs(d) * (bits === 4 ? 1 : 0.5) + 1e-3 * Math.abs(w[blk * 32 + j]) + 1e-7,
          );
        }
      }
    });

    it(`${bits}-bit: onnxruntime MatMulNBits computes x @ dequant(W)^T at blocks of 32, 64 and 128`, async () => {
      for (const block of [32, 64, 128]) await nbitsMatmul(bits, block);
    });
  }

  it('nbitsBlock: 128 where K has at least 4 such blocks, else 64, else 32; the scale is the block max / -8 (q4)', () => {
    expect([128, 256, 512, 768, 1408, 2048, 2880, 7168].map(nbitsBlock)).toEqual([32, 64, 128, 128, 128, 128, 64, 128]);
    const w = Float32Array.from({ length: 128 }, (_, i) => (i === 77 ? -3 : Math.sin(i)));
    const q = quantizeNBits(w, 1, 128, 4, 128);
    expect([q.block, q.scales.length, q.data.length]).toEqual([128, 1, 64]);
    expect(q.scales[0]).toBe(f16BitsToF32(f32ToF16Bits(-3 / -8)));
    expect(() => quantizeNBits(w, 1, 128, 4, 48)).toThrow(/power of two/);
  });
});

describe('quantizeGraph', () => {
  it('rewrites a wide MatMul ([K, N] = [512, 300], N past one 256-row chunk) to MatMulNBits at block 128 with the rows quantizeNBits makes', async () => {
    const [M, K, N] = [2, 512, 300];
    const w = randn(K * N, 5); // [K, N]: x @ W
    const g = new GraphBuilder('wide');
    g.input('x', 'float32', [M, K]);
    g.op1('MatMul', ['x', g.init('lm_head', { dtype: 'float32', shape: [K, N], data: w })], {}, undefined, 'y');
    g.output('y', 'float32', [M, N]);
    expect(quantizeGraph(g, 'int8')).toBe(1);
    const { nodes, inits } = g.parts();
    const node = nodes.find((n) => n.op === 'MatMulNBits')!;
    expect(node.attrs).toMatchObject({ K, N, bits: 8, block_size: 128 });
    const want = quantizeNBits(transposeTiled(w, K, N), N, K, 8, 128);
    expect(inits.find((i) => i.name === node.inputs[1])!.raw).toEqual(want.data);
    const s = await Session.create(g.toBytes(), { threads: 1 });
    const x = randn(M * K, 6);
    const y = (await s.run({ x: { dtype: 'float32', shape: [M, K], data: x } })).y.data as Float32Array;
    const deq = dequantizeNBits(want);
    let worst = 0;
    let range = 0;
    for (let m = 0; m < M; m++)
      for (let n = 0; n < N; n++) {
        let r = 0;
        for (let k = 0; k < K; k++) r += x[m * K + k] * deq[n * K + k];
        worst = Math.max(worst, Math.abs(r - y[m * N + n]));
        range = Math.max(range, Math.abs(r));
      }
    expect(worst).toBeLessThan(0.02 * range); // accuracy level 4 quantises the activations to int8 per block
    await s.release();
  });
});

/** onnxruntime's MatMulNBits at `bits` and `block` against x @ dequantizeNBits(W)^T in float64 */
async function nbitsMatmul(bits: 4 | 8, block: number) {
  const M = 3,
    N = 40,
    K = 256;
  const w = randn(N * K, 10 + bits);
  const q = quantizeNBits(w, N, K, bits, block);
  const deq = dequantizeNBits(q);
  const g = new GraphBuilder('nbits').useDomain('com.microsoft', 1);
  g.input('x', 'float32', [M, K]);
  g.init('w', { elem: 'uint8', dims: [N, K / block, (block * bits) / 8], raw: q.data });
  g.init('s', { dtype: 'float32', shape: [(N * K) / block], data: q.scales });
  g.op1('MatMulNBits', ['x', 'w', 's'], { K, N, bits, block_size: block, accuracy_level: 0 }, 'com.microsoft', 'y');
  g.output('y', 'float32', [M, N]);
  const s = await Session.create(g.toBytes(), { threads: 1 });
  const x = randn(M * K, 99);
  const y = (await s.run({ x: { dtype: 'float32', shape: [M, K], data: x } })).y.data as Float32Array;
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let r = 0;
      for (let k = 0; k < K; k++) r += x[m * K + k] * deq[n * K + k];
      expect(Math.abs(r - y[m * N + n])).toBeLessThan(1e-4);
    }
  }
  await s.release();
}

/** teacher-forced comparison of two models on the same sequences */
async function agreement(ref: Model, q: Model, seqs: number[][]) {
  const names = ref.info.moeLayers.map((l) => hookName(l, 'topk_ids'));
  const a = await ref.runWithCache(seqs, { names });
  const b = await q.runWithCache(seqs, { names });
  const V = ref.info.vocabSize,
    K = ref.info.topK,
    T = a.logits!.shape[1];
  const la = a.logits!.data as Float32Array,
    lb = b.logits!.data as Float32Array;
  let n = 0,
    top1 = 0,
    maxAbs = 0,
    scale = 0;
  seqs.forEach((ids, s) => {
    for (let t = 0; t < ids.length; t++) {
      let ia = 0,
        ib = 0;
      for (let v = 0; v < V; v++) {
        const o = (s * T + t) * V + v;
        if (la[o] > la[(s * T + t) * V + ia]) ia = v;
        if (lb[o] > lb[(s * T + t) * V + ib]) ib = v;
        maxAbs = Math.max(maxAbs, Math.abs(la[o] - lb[o]));
        scale = Math.max(scale, Math.abs(la[o]));
      }
      top1 += ia === ib ? 1 : 0;
      n++;
    }
  });
  let hits = 0,
    total = 0;
  for (const name of names) {
    const ta = a.cache.get(name)!.tensor.data as Int32Array,
      tb = b.cache.get(name)!.tensor.data as Int32Array;
    for (let r = 0; r < ta.length / K; r++) {
      const set = new Set(ta.subarray(r * K, (r + 1) * K));
      for (const e of tb.subarray(r * K, (r + 1) * K)) if (set.has(e)) hits++;
      total += K;
    }
  }
  return { top1: top1 / n, routing: hits / total, maxAbs, scale };
}

describe('quantised organism', () => {
  let cacheDir: string;
  let ref: Model;
  let seqs: number[][];
  beforeAll(async () => {
    cacheDir = mkdtempSync(join(tmpdir(), 'mote-quant-'));
    ref = await loadModel(join(ORGANISM, 'model'), { threads: 1, cache: cacheDir });
    const prompts = readFileSync(join(ORGANISM, 'prompts', 'eval-dev.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .slice(0, 96)
      .map((l) => JSON.parse(l).prompt as string);
    const ids = prompts.map((p) => ref.tokenizer.encodeChat([{ role: 'user', content: p }]));
    const gen = await ref.generate(ids, { maxNewTokens: 16 });
    seqs = ids.map((p, i) => [...p, ...gen[i].ids]);
  });
  afterAll(async () => {
    await ref.dispose();
    rmSync(cacheDir, { recursive: true, force: true });
  });

  it('int8: next-token argmax agrees >= 99%, routing >= 98%', async () => {
    const q = await loadModel(join(ORGANISM, 'model'), { threads: 1, dtype: 'int8', cache: cacheDir });
    const r = await agreement(ref, q, seqs);
    expect(r.top1).toBeGreaterThanOrEqual(0.99);
    expect(r.routing).toBeGreaterThanOrEqual(0.98);
    await q.dispose();
  });

  it('int4: next-token argmax agrees >= 94%, routing >= 93%', async () => {
    const q = await loadModel(join(ORGANISM, 'model'), { threads: 1, dtype: 'int4', cache: cacheDir });
    const r = await agreement(ref, q, seqs);
    expect(r.top1).toBeGreaterThanOrEqual(0.94);
    expect(r.routing).toBeGreaterThanOrEqual(0.93);
    await q.dispose();
  });
});

describe('quantised tiny olmoe', () => {
  it('int8 logits stay within 3% of the f32 logit range; greedy decoding runs', async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'mote-quant-'));
    const ref = await loadModel(TINY, { threads: 1, cache: cacheDir });
    const q = await loadModel(TINY, { threads: 1, dtype: 'int8', cache: cacheDir });
    const seqs = [
      [0, 5, 9, 22, 41, 7, 3],
      [0, 11, 12, 13],
    ];
    const r = await agreement(ref, q, seqs);
    expect(r.maxAbs).toBeLessThan(0.03 * r.scale);
    expect(r.routing).toBeGreaterThanOrEqual(0.9);
    const [g] = await q.generate([seqs[0]], { maxNewTokens: 4, stopTokens: [] });
    expect(g.ids).toHaveLength(4);
    await ref.dispose();
    await q.dispose();
    rmSync(cacheDir, { recursive: true, force: true });
  });

  it('rejects an unknown dtype with a coded error', async () => {
    await expect(loadModel(TINY, { dtype: 'int3' as 'int4', cache: false })).rejects.toThrow(/E_INPUT.*int3.*f32, int8, int4/);
  });
});
