// The machine's roofline, measured in the same run as the model numbers: f32 GEMM FLOP/s (onnxruntime
// MatMul 2048^3, the kernel the model's f32 layers use) and memory read bandwidth: the fastest of three
// streaming kernels over 1 GiB (ReduceSum, ReduceMax over rows, a GEMV x[1,K] @ B[K,N] with B as an input,
// which is how decode reads weights). ReduceSum alone under-reads this machine by about 2x. Each is the
// best of several samples taken while other processes leave the cores alone (quiet.mjs).

import { readFileSync } from 'node:fs';
import os from 'node:os';
import { GraphBuilder, Session } from '@mote/tensor-core';
import { bestQuiet } from './quiet.mjs';

export async function measureMachine(threads) {
  const N = 2048;
  const g = new GraphBuilder('gemm');
  g.input('a', 'float32', [N, N]); g.input('b', 'float32', [N, N]);
  g.op1('MatMul', ['a', 'b'], {}, undefined, 'c'); g.output('c', 'float32', [N, N]);
  const s = await Session.create(g.toBytes(), { threads });
  const a = { dtype: 'float32', shape: [N, N], data: new Float32Array(N * N).fill(0.5) };
  await s.run({ a, b: a });
  const tg = await bestQuiet(() => s.run({ a, b: a }), { reps: 5 });
  const flops = (2 * N ** 3) / tg.wall;
  await s.release();

  const R = 16384; // 16384^2 floats = 1 GiB
  const x = new Float32Array(R * R).fill(1);
  const v = new Float32Array(R).fill(1);
  const kernels = {
    ReduceSum: (b) => { b.input('x', 'float32', [R * R]); b.op1('ReduceSum', ['x'], { keepdims: 0 }, undefined, 'y'); b.output('y', 'float32', []); return { x: { dtype: 'float32', shape: [R * R], data: x } }; },
    'ReduceMax rows': (b) => { b.input('x', 'float32', [R, R]); b.op1('ReduceMax', ['x'], { axes: [1], keepdims: 0 }, undefined, 'y'); b.output('y', 'float32', [R]); return { x: { dtype: 'float32', shape: [R, R], data: x } }; },
    GEMV: (b) => { b.input('a', 'float32', [1, R]); b.input('w', 'float32', [R, R]); b.op1('MatMul', ['a', 'w'], {}, undefined, 'y'); b.output('y', 'float32', [1, R]); return { a: { dtype: 'float32', shape: [1, R], data: v }, w: { dtype: 'float32', shape: [R, R], data: x } }; },
  };
  const bw = {};
  for (const [name, build] of Object.entries(kernels)) {
    const b = new GraphBuilder('bw');
    const feeds = build(b);
    const rs = await Session.create(b.toBytes(), { threads });
    await rs.run(feeds);
    bw[name] = (R * R * 4) / (await bestQuiet(() => rs.run(feeds), { reps: 4 })).wall;
    await rs.release();
  }
  const [bandwidthKernel, bandwidth] = Object.entries(bw).reduce((m, e) => (e[1] > m[1] ? e : m));
  return { flops, bandwidth, bandwidthKernel, reduceSum: bw.ReduceSum, kernels: bw, gemmForeign: tg.foreign };
}

/** CPU model, core count and the SIMD features onnxruntime's kernels dispatch on (Linux /proc/cpuinfo). */
export function cpuFeatures() {
  let text = '';
  try { text = readFileSync('/proc/cpuinfo', 'utf8'); } catch { /* not Linux */ }
  const model = /^model name\s*:\s*(.*)$/m.exec(text)?.[1] ?? os.cpus()[0]?.model ?? 'unknown';
  const flags = new Set((/^flags\s*:\s*(.*)$/m.exec(text)?.[1] ?? '').split(/\s+/));
  const simd = ['sse4_2', 'avx', 'avx2', 'fma', 'f16c', 'avx512f', 'avx512bw', 'avx512_vnni', 'avx512_bf16', 'avx_vnni', 'amx_tile', 'amx_bf16', 'amx_int8'].filter((f) => flags.has(f));
  return { model, cores: os.cpus().length, simd };
}
