// Parity with Hugging Face transformers for gpt_oss: sinks, alternating sliding window, YaRN (truncate
// false), router bias with softmax over the chosen k, clamped SwiGLU with interleaved gate/up and biases;
// the drop/force/scale/bias semantics of docs/design.md; and onnxruntime's MoE SwiGLU against HF's formula at large values.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GraphBuilder, Session, dequantMxfp4, dequantizeNBits } from '@mote/tensor-core';
import { argmax, loadModel, requantMxfp4 } from '@mote/moe-runtime';
import { gptOssMxfp4, tmpDir, writeCheckpoint } from './checkpoints.js';
import { interventionSuite } from './intervention-semantics.js';
import { FIXTURES, paritySuite, readGolden } from './parity.js';

paritySuite('gpt_oss');

// softmax over the raw logits (router bias included) of the chosen experts
interventionSuite('gpt_oss', (chosen, _probs, logits) => {
  const m = Math.max(...chosen.map((e) => logits[e]));
  const z = chosen.reduce((s, e) => s + Math.exp(logits[e] - m), 0);
  return chosen.map((e) => Math.exp(logits[e] - m) / z);
});

describe("onnxruntime's MoE kernel with activation gptoss", () => {
  it('computes (up + 1) * gate * sigmoid(1.702 gate), gate <= 7, |up| <= 7, plus both expert biases', async () => {
    // one expert, D = 1, x = 1: fc1 column = gate pre-activations, fc1 bias = up pre-activations
    const gates = [-20, -8, -3, 0.5, 3, 6.9, 8, 20];
    const ups = [-20, -8, -1, 0.3, 8, 20];
    const pairs = gates.flatMap((gt) => ups.map((u) => [gt, u]));
    const I = pairs.length;
    const fc1 = new Float32Array(2 * I); // [E=1, 2I, D=1] interleaved gate/up rows
    const b1 = new Float32Array(2 * I); // [E=1, 2I]
    pairs.forEach(([gt, u], j) => {
      fc1[2 * j] = gt;
      b1[2 * j + 1] = u;
    });
    const fc2 = new Float32Array(I * I).map((_, k) => (Math.floor(k / I) === k % I ? 1 : 0)); // [E=1, D=I, I]: identity
    const b2 = Float32Array.from({ length: I }, (_, j) => j * 1e-3); // [E=1, D=I]
    const g = new GraphBuilder('swiglu_probe').useDomain('com.microsoft', 1);
    g.input('x', 'float32', [1, 1]);
    g.input('logw', 'float32', [1, 1]);
    // D = 1 in, D = I out is not a square MoE; feed x through a [1, I] expansion first
    const xI = g.matmul(
      'x',
      g.constF32(
        new Float32Array(I).fill(0).map((_, j) => (j === 0 ? 1 : 0)),
        [1, I],
      ),
    ); // [1, I]: (1, 0, 0, ...)
    const w1 = new Float32Array(2 * I * I);
    for (let r = 0; r < 2 * I; r++) w1[r * I] = fc1[r]; // only input column 0 carries x
    g.op1(
      'MoE',
      [
        xI,
        'logw',
        g.init('fc1', { dtype: 'float32', shape: [1, 2 * I, I], data: w1 }),
        g.init('b1', { dtype: 'float32', shape: [1, 2 * I], data: b1 }),
        g.init('fc2', { dtype: 'float32', shape: [1, I, I], data: fc2 }),
        g.init('b2', { dtype: 'float32', shape: [1, I], data: b2 }),
      ],
      {
        k: 1,
        activation_type: 'swiglu',
        swiglu_fusion: 1,
        normalize_routing_weights: 1,
        activation_alpha: { float: 1.702 },
        activation_beta: { float: 1 },
        swiglu_limit: { float: 7 },
      },
      'com.microsoft',
      'y',
    );
    g.output('y', 'float32', [1, I]);
    const s = await Session.create(g.toBytes(), { threads: 1 });
    const y = (
      await s.run({
        x: { dtype: 'float32', shape: [1, 1], data: Float32Array.from([1]) },
        logw: { dtype: 'float32', shape: [1, 1], data: Float32Array.from([0]) },
      })
    ).y.data as Float32Array;
    await s.release();
    pairs.forEach(([gt, u], j) => {
      const G = Math.min(gt, 7); // HF: gate.clamp(max=limit) only
      const U = Math.max(-7, Math.min(7, u));
      const want = ((U + 1) * G) / (1 + Math.exp(-1.702 * G)) + b2[j];
      expect(Math.abs(y[j] - want)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(want)));
    });
  });
});

// ---- gpt-oss experts at int8/int4: expert slices with MatMulNBits, MXFP4 blocks requantised directly ----

/** top-1 agreement and mean KL(p_ref || p) of next-token distributions, rows of width V */
function agreement(ref: Float32Array, got: Float32Array, V: number): { top1: number; kl: number; maxAbs: number } {
  let same = 0,
    kl = 0,
    maxAbs = 0;
  const rows = ref.length / V;
  const logSoftmax = (a: Float32Array) => {
    const m = Math.max(...a);
    const z = Math.log(a.reduce((s, v) => s + Math.exp(v - m), 0)) + m;
    return Array.from(a, (v) => v - z);
  };
  for (let r = 0; r < rows; r++) {
    const a = ref.subarray(r * V, (r + 1) * V),
      b = got.subarray(r * V, (r + 1) * V);
    if (argmax(a) === argmax(b)) same++;
    const la = logSoftmax(a),
      lb = logSoftmax(b);
    kl += la.reduce((s, v, i) => s + Math.exp(v) * (v - lb[i]), 0);
    for (let i = 0; i < V; i++) maxAbs = Math.max(maxAbs, Math.abs(a[i] - b[i]));
  }
  return { top1: same / rows, kl: kl / rows, maxAbs };
}

async function goldenLogits(dir: string, dtype: 'f32' | 'int8' | 'int4', cache: string | false = false): Promise<Float32Array> {
  const m = await loadModel(dir, { threads: 1, dtype, cache });
  try {
    const out: number[] = [];
    for (const c of readGolden('gpt_oss').cases) out.push(...((await m.forward([c.input_ids])).logits!.data as Float32Array));
    return Float32Array.from(out);
  } finally {
    await m.dispose();
  }
}

/** bytes of the cached MoE-layer graphs (.onnx + external data) under a cache root */
function ffnBytes(root: string): number {
  let n = 0;
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (/^layer\d+_ffn\.(onnx|bin)$/.test(e.name)) n += statSync(join(d, e.name)).size;
    }
  };
  walk(root);
  return n;
}

describe('gpt_oss experts at int8 / int4', () => {
  it('MXFP4 blocks become MatMulNBits blocks: 8 bits exactly, 4 bits within half a step of the block grid', () => {
    // one row of two blocks: block 0 holds e2m1 codes 0..15 twice at scale 2^0, block 1 codes up to +-3 at 2^1
    const blocks = new Uint8Array(32);
    for (let b = 0; b < 16; b++) blocks[b] = (b % 16) | (((b + 8) % 16) << 4);
    for (let b = 0; b < 16; b++) blocks[16 + b] = (b % 6) | ((8 + (b % 6)) << 4);
    const scales = Uint8Array.from([127, 128]);
    const want = dequantMxfp4(blocks, scales);
    expect(Array.from(dequantizeNBits(requantMxfp4(blocks, scales, 8)))).toEqual(Array.from(want, (v) => v + 0)); // -0 -> 0
    const q4 = dequantizeNBits(requantMxfp4(blocks, scales, 4));
    // block 1 only holds {0, 0.5, 1, 1.5, 2, 3} x 2: the step 0.5 x 2 grid (-8..7 steps) holds them exactly
    for (let j = 32; j < 64; j++) expect(q4[j]).toBe(want[j] + 0);
    // block 0 holds every e2m1 value: on step 1 (the grid -8..7) 0, 1, 2, 3, 4, 6 are exact and 0.5, 1.5 round by 0.5
    for (let j = 0; j < 32; j++) expect(Math.abs(q4[j] - want[j])).toBeLessThanOrEqual(0.5);
  });

  it('an MXFP4 checkpoint at int4 stores its experts in 4-bit blocks (no float32 experts) and tracks int8 (exact MXFP4)', async () => {
    const src = join(FIXTURES, 'tiny-moe', 'gpt_oss');
    const cfg = JSON.parse(readFileSync(join(src, 'config.json'), 'utf8'));
    const [E, D, I, L] = [cfg.num_local_experts, cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers];
    const dir = writeCheckpoint(src, gptOssMxfp4(src).mx);
    const V = readGolden('gpt_oss').cases[0].logits[0].length;
    const cache = tmpDir();
    const ref = await goldenLogits(dir, 'f32');
    const int8 = await goldenLogits(dir, 'int8');
    const int4 = await goldenLogits(dir, 'int4', cache);
    // MatMulNBits 4-bit: half a byte per weight + a float32 scale per 32; expert biases float32; up to 16 KB of graph
    // (nodes, names, small constants) per layer, against 196 KB per layer for float32 experts
    const bound = L * (E * 3 * D * I * (0.5 + 4 / 32) + E * (2 * I + D) * 4 + 16384);
    expect(ffnBytes(cache)).toBeLessThanOrEqual(bound);
    expect(ffnBytes(cache)).toBeLessThan((L * E * 3 * D * I * 4) / 4); // float32 experts alone: 4 bytes a weight
    for (const [name, a] of [
      ['int8 vs f32', agreement(ref, int8, V)],
      ['int4 vs f32', agreement(ref, int4, V)],
      ['int4 vs int8', agreement(int8, int4, V)],
    ] as const) {
      console.log(
        `gpt_oss MXFP4 experts, ${name}: top-1 ${(a.top1 * 100).toFixed(1)}%, mean KL ${a.kl.toExponential(2)}, max |dlogit| ${a.maxAbs.toFixed(4)}`,
      );
    }
    // int8 slices (MXFP4 -> 8 bits is exact; int8 activations) against onnxruntime's float32 MoE op: the same function
    expect(agreement(ref, int8, V).top1).toBeGreaterThan(0.95);
    // int4 and int8 differ only in the experts' 4-bit grid (attention is 8-bit in both)
    expect(agreement(int8, int4, V).top1).toBeGreaterThan(0.9);
  });
});
