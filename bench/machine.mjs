// The machine's roofline, measured in the same run as the model numbers: f32 GEMM FLOP/s (onnxruntime
// MatMul 2048^3, the kernel the model's f32 layers use) and memory read bandwidth: the fastest of four
// streaming reads (onnxruntime ReduceSum, ReduceMax over rows and a GEMV x[1,K] @ B[K,N] over 1 GiB, and a
// WASM SIMD read on every core in worker threads, which no engine's kernel choice can beat).
// ReduceSum alone under-reads this machine by about 2x. Each is the
// best of several samples taken while other processes leave the cores alone (quiet.mjs).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GraphBuilder, readSafetensorsHeader, Session } from '@mote/tensor-core';
import { nbitsBlock } from '@mote/moe-runtime';
import { bestQuiet } from './quiet.mjs';

export async function measureMachine(threads) {
  const N = 2048;
  const g = new GraphBuilder('gemm');
  g.input('a', 'float32', [N, N]);
  g.input('b', 'float32', [N, N]);
  g.op1('MatMul', ['a', 'b'], {}, undefined, 'c');
  g.output('c', 'float32', [N, N]);
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
    ReduceSum: (b) => {
      b.input('x', 'float32', [R * R]);
      b.op1('ReduceSum', ['x'], { keepdims: 0 }, undefined, 'y');
      b.output('y', 'float32', []);
      return { x: { dtype: 'float32', shape: [R * R], data: x } };
    },
    'ReduceMax rows': (b) => {
      b.input('x', 'float32', [R, R]);
      b.op1('ReduceMax', ['x'], { axes: [1], keepdims: 0 }, undefined, 'y');
      b.output('y', 'float32', [R]);
      return { x: { dtype: 'float32', shape: [R, R], data: x } };
    },
    GEMV: (b) => {
      b.input('a', 'float32', [1, R]);
      b.input('w', 'float32', [R, R]);
      b.op1('MatMul', ['a', 'w'], {}, undefined, 'y');
      b.output('y', 'float32', [1, R]);
      return { a: { dtype: 'float32', shape: [1, R], data: v }, w: { dtype: 'float32', shape: [R, R], data: x } };
    },
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
  const { cpus } = await import('node:os');
  bw[`WASM SIMD read x${cpus().length} workers`] = await wasmReadBandwidth(cpus().length);
  const [bandwidthKernel, bandwidth] = Object.entries(bw).reduce((m, e) => (e[1] > m[1] ? e : m));
  return { flops, bandwidth, bandwidthKernel, reduceSum: bw.ReduceSum, kernels: bw, gemmForeign: tg.foreign };
}

/** The CPU's SIMD / matrix instruction-set features that decide which kernels engines use (/proc/cpuinfo). */
export function cpuFeatures() {
  let flags = [];
  try {
    flags = (/^flags\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '').split(' ');
  } catch {
    /* not linux */
  }
  const want = /^(sse4_2|avx|avx2|fma|f16c|avx512(f|bw|vl|dq|_vnni|_bf16|_fp16|vbmi)|avx_vnni|amx_(tile|int8|bf16))$/;
  return flags.filter((f) => want.test(f));
}

/** A WASM SIMD module: read(p, end) ORs every 16-byte lane of memory[p, end) (4 loads per iteration). */
function streamModule() {
  const leb = (n) => {
    const o = [];
    do {
      let b = n & 0x7f;
      n >>>= 7;
      if (n) b |= 0x80;
      o.push(b);
    } while (n);
    return o;
  };
  const sec = (id, body) => [id, ...leb(body.length), ...body];
  const str = (s) => [s.length, ...Buffer.from(s)];
  const load = (off) => [0x20, 0x00, 0xfd, 0x00, 0x04, ...leb(off), 0xfd, 0x50]; // local.get p; v128.load off; v128.or
  const body = [
    0x01,
    0x01,
    0x7b, // one v128 local (acc)
    0x03,
    0x40,
    0x20,
    0x02,
    ...load(0),
    ...load(16),
    ...load(32),
    ...load(48),
    0x21,
    0x02,
    0x20,
    0x00,
    0x41,
    0xc0,
    0x00,
    0x6a,
    0x22,
    0x00,
    0x20,
    0x01,
    0x49,
    0x0d,
    0x00,
    0x0b, // p += 64; br_if p < end
    0x20,
    0x02,
    0xfd,
    0x1b,
    0x00,
    0x0b, // i32x4.extract_lane 0 of acc
  ];
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...sec(1, [0x01, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f]),
    ...sec(3, [0x01, 0x00]),
    ...sec(5, [0x01, 0x00, ...leb(4096)]), // 4096 pages = 256 MiB
    ...sec(7, [0x02, ...str('mem'), 0x02, 0x00, ...str('read'), 0x00, 0x00]),
    ...sec(10, [0x01, ...leb(body.length), ...body]),
  ]);
}

/**
 * Memory read bandwidth of a WASM SIMD streaming read on `workers` threads at once (each its own 256 MiB,
 * written first so no page is the shared zero page), all started together: total bytes / wall, best of
 * `reps`. The bound an engine's decode cannot beat however its kernels are written.
 */
export async function wasmReadBandwidth(workers, reps = 5) {
  const { Worker } = await import('node:worker_threads');
  const code = `
    import { parentPort, workerData } from 'node:worker_threads';
    const instance = new WebAssembly.Instance(new WebAssembly.Module(workerData.wasm));
    const bytes = instance.exports.mem.buffer.byteLength;
    new Uint8Array(instance.exports.mem.buffer).fill(1);
    const flag = new Int32Array(workerData.flag);
    parentPort.on('message', (rep) => {
      Atomics.wait(flag, 0, rep); // the main thread bumps flag[0] to start every worker at once
      const t0 = performance.timeOrigin + performance.now();
      let x = 0;
      for (let pass = 0; pass < 4; pass++) x |= instance.exports.read(0, bytes);
      parentPort.postMessage({ t0, t1: performance.timeOrigin + performance.now(), bytes: 4 * bytes, x });
    });
    parentPort.postMessage('ready');`;
  const flag = new SharedArrayBuffer(4);
  const ws = Array.from(
    { length: workers },
    () => new Worker(new URL(`data:text/javascript,${encodeURIComponent(code)}`), { workerData: { wasm: streamModule(), flag } }),
  );
  await Promise.all(ws.map((w) => new Promise((res) => w.once('message', res))));
  let best = 0;
  for (let rep = 0; rep < reps; rep++) {
    const done = ws.map((w) => new Promise((res) => w.once('message', res)));
    for (const w of ws) w.postMessage(rep);
    await new Promise((r) => setTimeout(r, 50));
    Atomics.store(new Int32Array(flag), 0, rep + 1);
    Atomics.notify(new Int32Array(flag), 0);
    const rs = await Promise.all(done);
    const wall = (Math.max(...rs.map((r) => r.t1)) - Math.min(...rs.map((r) => r.t0))) / 1000;
    best = Math.max(best, rs.reduce((n, r) => n + r.bytes, 0) / wall);
  }
  await Promise.all(ws.map((w) => w.terminate()));
  return best;
}

/** llama.cpp's CPU backend as node-llama-cpp loads it: binary build, and llama_print_system_info (its ISA paths). */
export async function llamaBackend() {
  process.env.NODE_LLAMA_CPP_SKIP_DOWNLOAD ??= 'true';
  try {
    const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
    const llama = await getLlama({
      gpu: false,
      build: 'never',
      usePrebuiltBinaries: true,
      progressLogs: false,
      logLevel: LlamaLogLevel.error,
    });
    const info = (llama.systemInfo ?? '')
      .split('|')
      .map((x) => x.trim())
      .filter((x) => /= 1$|CPU/.test(x))
      .join(', ');
    const out = `${llama.buildType ?? 'prebuilt'} build${info ? `; ${info}` : ''}`;
    await llama.dispose();
    return out;
  } catch (e) {
    return `unavailable (${e.message.slice(0, 80)})`;
  }
}

/**
 * Weights read per decoded token and FLOPs per prefilled token, from the checkpoint's own tensors:
 * attention, routers, dense MLPs and shared experts always; routed experts K of E; lm_head once per
 * token in decode, once per prompt in prefill. bytesPerWeight(kind) gives the dtype's storage cost. MXFP4
 * expert blocks (gpt-oss) count two weights per byte, their e8m0 scales none; `*.router.weight` is a router.
 */
export function roofline(dir, cfg, prompt) {
  const { entries } = readSafetensorsHeader(join(dir, 'model.safetensors'));
  const n = (e) => e.shape.reduce((a, b) => a * b, 1) * (e.name.endsWith('_blocks') ? 2 : e.name.endsWith('_scales') ? 0 : 1);
  const E = cfg.num_experts ?? cfg.n_routed_experts ?? cfg.num_local_experts,
    K = cfg.num_experts_per_tok;
  const c = { attn: 0, router: 0, ffn: 0, experts: 0, head: 0 };
  // weights a decoded token reads, per session of the runtime (profile.mjs labels): [wide, ffn, router] weights
  const sessions = {};
  const addTo = (label, i, x) => {
    (sessions[label] ??= [0, 0, 0])[i] += x;
  };
  for (const e of entries) {
    if (e.shape.length < 2 || e.name === 'model.embed_tokens.weight' || /\.sinks$/.test(e.name)) continue;
    const l = /^model\.layers\.(\d+)\./.exec(e.name)?.[1];
    if (e.name === 'lm_head.weight') {
      c.head += n(e);
      addTo('lm_head', 0, n(e));
    } else if (/self_attn/.test(e.name)) {
      c.attn += n(e);
      addTo(`layer ${l} attention`, 0, n(e));
    } else if (/mlp\.(gate|router)\.weight$/.test(e.name)) {
      c.router += n(e);
      addTo(`layer ${l} attention`, 2, n(e));
    } else if (/mlp\.experts\./.test(e.name)) {
      c.experts += n(e);
      addTo(`layer ${l} MoE`, 1, (n(e) * K) / E);
    } else {
      c.ffn += n(e);
      addTo(`layer ${l} ${/shared/.test(e.name) ? 'MoE' : 'MLP'}`, 1, n(e));
    } // dense MLP, shared experts
  }
  const active = { attn: c.attn, router: c.router, ffn: c.ffn + (c.experts * K) / E, head: c.head };
  // bytes per weight: mote stores an f32 scale per block (nbitsBlock of the hidden width; MXFP4 experts per
  // 32), llama.cpp's q8_0 / q4_0 an f16 scale per 32 (34/32, 18/32)
  const wide = nbitsBlock(cfg.hidden_size);
  const ffnBlock = entries.some((e) => e.name.endsWith('_blocks')) ? 32 : wide;
  const bpw = {
    mote: {
      f32: { wide: 4, ffn: 4 },
      int8: { wide: 1 + 4 / wide, ffn: 1 + 4 / ffnBlock },
      int4: { wide: 1 + 4 / wide, ffn: 0.5 + 4 / ffnBlock },
    },
    llama: { f32: { wide: 4, ffn: 4 }, int8: { wide: 34 / 32, ffn: 34 / 32 }, int4: { wide: 34 / 32, ffn: 18 / 32 } },
  };
  const decodeBytes = (engine, dtype) => {
    const b = bpw[engine][dtype];
    return 4 * active.router + b.wide * (active.attn + active.head) + b.ffn * active.ffn;
  };
  /** weight bytes a decoded token reads in each mote session (routers stay f32) */
  const sessionBytes = (dtype) => {
    const b = bpw.mote[dtype];
    return Object.fromEntries(Object.entries(sessions).map(([k, [wide, ffn, router]]) => [k, b.wide * wide + b.ffn * ffn + 4 * router]));
  };
  const layers = cfg.num_hidden_layers,
    H = cfg.num_attention_heads;
  const qd = cfg.head_dim ?? (cfg.qk_nope_head_dim ? cfg.qk_nope_head_dim + cfg.qk_rope_head_dim : cfg.hidden_size / H);
  const vd = cfg.v_head_dim ?? qd;
  const scoreFlops = 2 * layers * H * (qd + vd) * ((prompt + 1) / 2); // q.k and p.v per token, causal average
  const prefillFlopsPerToken = 2 * (active.attn + active.router + active.ffn) + scoreFlops + (2 * active.head) / prompt;
  return { decodeBytes, sessionBytes, prefillFlopsPerToken, active };
}
