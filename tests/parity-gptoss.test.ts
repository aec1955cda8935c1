// Parity with Hugging Face transformers for gpt_oss: sinks, alternating sliding window, YaRN (truncate
// false), router bias with softmax over the chosen k, clamped SwiGLU with interleaved gate/up and biases;
// the drop/force/scale/bias semantics of docs/design.md; and onnxruntime's MoE SwiGLU against HF's formula at large values.

import { describe, expect, it } from 'vitest';
import { GraphBuilder, Session } from '@mote/tensor-core';
import { interventionSuite } from './intervention-semantics.js';
import { paritySuite } from './parity.js';

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
    pairs.forEach(([gt, u], j) => { fc1[2 * j] = gt; b1[2 * j + 1] = u; });
    const fc2 = new Float32Array(I * I).map((_, k) => (Math.floor(k / I) === k % I ? 1 : 0)); // [E=1, D=I, I]: identity
    const b2 = Float32Array.from({ length: I }, (_, j) => j * 1e-3); // [E=1, D=I]
    const g = new GraphBuilder('swiglu_probe').useDomain('com.microsoft', 1);
    g.input('x', 'float32', [1, 1]);
    g.input('logw', 'float32', [1, 1]);
    // D = 1 in, D = I out is not a square MoE; feed x through a [1, I] expansion first
    const xI = g.matmul('x', g.constF32(new Float32Array(I).fill(0).map((_, j) => (j === 0 ? 1 : 0)), [1, I])); // [1, I]: (1, 0, 0, ...)
    const w1 = new Float32Array(2 * I * I);
    for (let r = 0; r < 2 * I; r++) w1[r * I] = fc1[r]; // only input column 0 carries x
    g.op1('MoE', [xI, 'logw', g.init('fc1', { dtype: 'float32', shape: [1, 2 * I, I], data: w1 }), g.init('b1', { dtype: 'float32', shape: [1, 2 * I], data: b1 }),
      g.init('fc2', { dtype: 'float32', shape: [1, I, I], data: fc2 }), g.init('b2', { dtype: 'float32', shape: [1, I], data: b2 })], {
      k: 1, activation_type: 'swiglu', swiglu_fusion: 1, normalize_routing_weights: 1,
      activation_alpha: { float: 1.702 }, activation_beta: { float: 1 }, swiglu_limit: { float: 7 },
    }, 'com.microsoft', 'y');
    g.output('y', 'float32', [1, I]);
    const s = await Session.create(g.toBytes(), { threads: 1 });
    const y = (await s.run({ x: { dtype: 'float32', shape: [1, 1], data: Float32Array.from([1]) }, logw: { dtype: 'float32', shape: [1, 1], data: Float32Array.from([0]) } })).y.data as Float32Array;
    await s.release();
    pairs.forEach(([gt, u], j) => {
      const G = Math.min(gt, 7); // HF: gate.clamp(max=limit) only
      const U = Math.max(-7, Math.min(7, u));
      const want = ((U + 1) * G) / (1 + Math.exp(-1.702 * G)) + b2[j];
      expect(Math.abs(y[j] - want)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(want)));
    });
  });
});
