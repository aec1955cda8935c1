// Kernel micro-benchmarks at real MoE widths: onnxruntime's MoE / QMoE, MatMul / MatMulNBits, one
// session per kernel, timed over repeated run() calls. Not the model bench (run.mjs); a profiling aid.
// Usage: node bench/kernels.mjs [olmoe|qwen3] [threads]

import { GraphBuilder, Session } from '@mote/tensor-core';

const SHAPES = { olmoe: { D: 2048, I: 1024, E: 64, K: 8, V: 50304 }, qwen3: { D: 2048, I: 768, E: 128, K: 8, V: 151936 } };
const shape = SHAPES[process.argv[2] ?? 'olmoe'];
const THREADS = Number(process.argv[3] ?? 2);
const SPIN = process.env.SPIN ?? '1';
const { D, I, E, K, V } = shape;

const rand = (n) => {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.random() * 0.04 - 0.02;
  return a;
};
const bytes = (n) => {
  const a = new Uint8Array(n);
  for (let i = 0; i < n; i++) a[i] = (Math.random() * 256) | 0;
  return a;
};
const f32 = (shape, data) => ({ dtype: 'float32', shape, data });

async function session(g) {
  return Session.create(g.toBytes(), { threads: THREADS, extra: { session: { intra_op: { allow_spinning: SPIN } } } });
}
async function time(s, feeds, reps) {
  await s.run(feeds);
  let best = Infinity;
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    await s.run(feeds);
    best = Math.min(best, performance.now() - t);
  }
  return best;
}
function routing(N) {
  const logw = new Float32Array(N * E).fill(-1e30);
  const w = new Float32Array(N * E);
  for (let n = 0; n < N; n++) {
    const ids = new Set();
    while (ids.size < K) ids.add((Math.random() * E) | 0);
    for (const e of ids) {
      logw[n * E + e] = Math.log(1 / K);
      w[n * E + e] = 1 / K;
    }
  }
  return { logw, w };
}

const rows = [];
const report = (name, N, ms, bytesRead, flops) => {
  rows.push({ kernel: name, N, ms: ms.toFixed(2), 'GB/s': (bytesRead / ms / 1e6).toFixed(1), 'GFLOP/s': (flops / ms / 1e6).toFixed(1) });
};

// ---- f32 MoE --------------------------------------------------------------------------------------
{
  const g = new GraphBuilder('moe').useDomain('com.microsoft', 1);
  g.input('x', 'float32', ['N', D]);
  g.input('logw', 'float32', ['N', E]);
  g.init('fc1', f32([E, 2 * I, D], rand(E * 2 * I * D)));
  g.init('fc2', f32([E, D, I], rand(E * D * I)));
  g.op1(
    'MoE',
    ['x', 'logw', 'fc1', '', 'fc2'],
    {
      k: K,
      activation_type: 'swiglu',
      swiglu_fusion: 1,
      normalize_routing_weights: 1,
      activation_alpha: { float: 1 },
      activation_beta: { float: 0 },
    },
    'com.microsoft',
    'y',
  );
  g.output('y', 'float32', ['N', D]);
  const s = await session(g);
  for (const N of [1, 128]) {
    const { logw } = routing(N);
    const ms = await time(s, { x: f32([N, D], rand(N * D)), logw: f32([N, E], logw) }, N === 1 ? 20 : 3);
    const active = N === 1 ? K : Math.min(E, N * K);
    report('MoE f32', N, ms, active * 3 * I * D * 4, N * K * 3 * I * D * 2);
  }
  await s.release();
}

// ---- QMoE 8/4-bit, block scales ------------------------------------------------------------------
for (const bits of [8, 4]) {
  for (const block of [32, 128]) {
    const pack = 8 / bits;
    const g = new GraphBuilder('qmoe').useDomain('com.microsoft', 1);
    g.input('x', 'float32', ['N', D]);
    g.input('logw', 'float32', ['N', E]);
    g.input('w', 'float32', ['N', E]);
    g.init('fc1', { elem: 'uint8', dims: [E, 2 * I, D / pack], raw: bytes((E * 2 * I * D) / pack) });
    g.init('fc1_s', f32([E, 2 * I, D / block], new Float32Array((E * 2 * I * D) / block).fill(0.001)));
    g.init('fc2', { elem: 'uint8', dims: [E, D, I / pack], raw: bytes((E * D * I) / pack) });
    g.init('fc2_s', f32([E, D, I / block], new Float32Array((E * D * I) / block).fill(0.001)));
    g.op1(
      'QMoE',
      ['x', 'logw', 'fc1', 'fc1_s', '', 'fc2', 'fc2_s', '', '', '', '', '', '', '', 'w'],
      {
        k: K,
        activation_type: 'swiglu',
        swiglu_fusion: 1,
        normalize_routing_weights: 0,
        expert_weight_bits: bits,
        block_size: block,
        activation_alpha: { float: 1 },
        activation_beta: { float: 0 },
      },
      'com.microsoft',
      'y',
    );
    g.output('y', 'float32', ['N', D]);
    let s;
    try {
      s = await session(g);
    } catch (e) {
      rows.push({ kernel: `QMoE ${bits}b/${block}`, N: '-', ms: String(e.message).slice(0, 120) });
      continue;
    }
    for (const N of [1, 128]) {
      const { logw, w } = routing(N);
      const ms = await time(s, { x: f32([N, D], rand(N * D)), logw: f32([N, E], logw), w: f32([N, E], w) }, N === 1 ? 20 : 3);
      const active = N === 1 ? K : Math.min(E, N * K);
      report(`QMoE ${bits}b/${block}`, N, ms, active * 3 * I * D * (bits / 8 + 4 / block), N * K * 3 * I * D * 2);
    }
    await s.release();
  }
}

// ---- lm_head: MatMul [D, V] f32, Gemm transB, MatMulNBits 8/4 ----------------------------------
{
  const g = new GraphBuilder('mm');
  g.input('x', 'float32', ['N', D]);
  g.init('w', f32([D, V], rand(D * V)));
  g.op1('MatMul', ['x', 'w'], {}, undefined, 'y');
  g.output('y', 'float32', ['N', V]);
  const s = await session(g);
  for (const N of [1, 128])
    report('MatMul f32 [D,V]', N, await time(s, { x: f32([N, D], rand(N * D)) }, N === 1 ? 20 : 3), D * V * 4, 2 * N * D * V);
  await s.release();
}
for (const bits of [8, 4]) {
  for (const acc of [0, 4]) {
    const block = 32;
    const g = new GraphBuilder('mmnb').useDomain('com.microsoft', 1);
    g.input('x', 'float32', ['N', D]);
    const blob = (block * bits) / 8;
    g.init('w', { elem: 'uint8', dims: [V, D / block, blob], raw: bytes((V * D * bits) / 8) });
    g.init('s', f32([V * (D / block)], new Float32Array(V * (D / block)).fill(0.001)));
    g.op1('MatMulNBits', ['x', 'w', 's'], { K: D, N: V, bits, block_size: block, accuracy_level: acc }, 'com.microsoft', 'y');
    g.output('y', 'float32', ['N', V]);
    let s;
    try {
      s = await session(g);
    } catch (e) {
      rows.push({ kernel: `MatMulNBits ${bits}b acc${acc}`, N: '-', ms: String(e.message).slice(0, 120) });
      continue;
    }
    for (const N of [1, 128])
      report(
        `MatMulNBits ${bits}b acc${acc}`,
        N,
        await time(s, { x: f32([N, D], rand(N * D)) }, N === 1 ? 20 : 3),
        (D * V * bits) / 8 + (D * V * 4) / block,
        2 * N * D * V,
      );
    await s.release();
  }
}
// ---- decode GEMVs at expert and attention widths: 16 distinct weights per run, so they stream from memory
// (what a decoded token does); run with threads 1 and 2 to see how each kernel scales ------------------
for (const [label, k, n] of [
  ['expert fc1', D, 2 * I],
  ['expert fc2', I, D],
  ['attn o', D, D],
]) {
  for (const bits of [32, 8, 4]) {
    const C = 16;
    const g = new GraphBuilder('gemv').useDomain('com.microsoft', 1);
    g.input('x', 'float32', [1, k]);
    const ys = [];
    for (let c = 0; c < C; c++) {
      if (bits === 32) {
        ys.push(g.matmul('x', g.init(`w${c}`, f32([k, n], rand(k * n)))));
        continue;
      }
      g.init(`w${c}`, { elem: 'uint8', dims: [n, k / 32, bits * 4], raw: bytes((n * k * bits) / 8) });
      g.init(`s${c}`, f32([(n * k) / 32], new Float32Array((n * k) / 32).fill(0.001)));
      ys.push(g.op1('MatMulNBits', ['x', `w${c}`, `s${c}`], { K: k, N: n, bits, block_size: 32, accuracy_level: 4 }, 'com.microsoft'));
    }
    g.output(g.concat(ys, 0), 'float32', [C, n]);
    const s = await session(g);
    const ms = await time(s, { x: f32([1, k], rand(k)) }, 20);
    report(
      `GEMV ${label} [${k},${n}] ${bits === 32 ? 'f32 MatMul' : `MatMulNBits ${bits}b acc4`} x${C}`,
      1,
      ms,
      C * k * n * (bits === 32 ? 4 : bits / 8 + 4 / 32),
      2 * C * k * n,
    );
    await s.release();
  }
}
console.log(`threads ${THREADS}, spinning ${SPIN}, shape ${JSON.stringify(shape)}`);
console.table(rows);
