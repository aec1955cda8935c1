// The machine's roofline, measured in the same run as the model numbers: f32 GEMM FLOP/s (onnxruntime
// MatMul, the kernel the model uses) and memory read bandwidth (ReduceSum over a buffer far larger than cache).

import { GraphBuilder, Session } from '@mote/tensor-core';

async function best(n, fn) {
  let b = Infinity;
  for (let i = 0; i < n; i++) { const t = performance.now(); await fn(); b = Math.min(b, performance.now() - t); }
  return b / 1000;
}

export async function measureMachine(threads) {
  const N = 2048;
  const g = new GraphBuilder('gemm');
  g.input('a', 'float32', [N, N]); g.input('b', 'float32', [N, N]);
  g.op1('MatMul', ['a', 'b'], {}, undefined, 'c'); g.output('c', 'float32', [N, N]);
  const s = await Session.create(g.toBytes(), { threads });
  const a = { dtype: 'float32', shape: [N, N], data: new Float32Array(N * N).fill(0.5) };
  await s.run({ a, b: a });
  const tg = await best(5, () => s.run({ a, b: a }));
  const flops = (2 * N ** 3) / tg;

  const M = 256 * 1024 * 1024; // 1 GiB of float32
  const r = new GraphBuilder('bw');
  r.input('x', 'float32', [M]);
  r.op1('ReduceSum', ['x'], { keepdims: 0 }, undefined, 'y'); r.output('y', 'float32', []);
  const rs = await Session.create(r.toBytes(), { threads });
  const x = { dtype: 'float32', shape: [M], data: new Float32Array(M).fill(1) };
  await rs.run({ x });
  const tb = await best(5, () => rs.run({ x }));
  const bandwidth = (M * 4) / tb;
  await s.release(); await rs.release();
  return { flops, bandwidth };
}
