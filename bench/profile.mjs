// Where a forward pass spends its time: wall time of every session.run() by session (layer attention,
// layer MoE, lm_head) for a 128-token prefill and for greedy decode steps, and the rest (JS: routing,
// feeds, embeddings, sampling). Usage: node bench/profile.mjs DIR [f32|int8|int4] [threads]

import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Session } from '@mote/tensor-core';
import { loadModel } from '@mote/moe-runtime';

export async function profileModel(model, { prompt = 128, decode = 16 } = {}) {
  const ids = Array.from({ length: prompt }, (_, i) => 3 + ((i * 7919) % 1000));
  await model.generate([ids], { maxNewTokens: 2, stopTokens: [] }); // warm-up
  const rowsOf = () => [...Session.timings].map(([label, v]) => ({ session: label.replace(/ of .*$/, ''), calls: v.calls, ms: v.ms }));
  const sum = (rows) => rows.reduce((a, r) => a + r.ms, 0);
  Session.timings = new Map();
  let t = performance.now();
  await model.forward([ids], { logits: 'last' });
  const pWall = performance.now() - t;
  const pRows = rowsOf();
  // decode: timings restart when the prefill's token arrives
  let t0 = 0;
  await model.generate([ids], {
    maxNewTokens: decode + 1, stopTokens: [],
    onToken: () => { if (!t0) { t0 = performance.now(); Session.timings = new Map(); } },
  });
  const dWall = performance.now() - t0;
  const dRows = rowsOf();
  Session.timings = null;
  return {
    prefill: { wall: pWall, rows: pRows, other: pWall - sum(pRows) },
    decode: { wall: dWall, rows: dRows, other: dWall - sum(dRows), steps: decode },
  };
}

export function printProfile(p) {
  const fmt = (x) => x.toFixed(2);
  console.log(`prefill ${fmt(p.prefill.wall)} ms (run() ${fmt(p.prefill.wall - p.prefill.other)}, other ${fmt(p.prefill.other)})`);
  console.table(p.prefill.rows.map((r) => ({ session: r.session, calls: r.calls, 'ms': fmt(r.ms), '%': fmt((100 * r.ms) / p.prefill.wall) })));
  const s = p.decode.steps;
  console.log(`decode ${fmt(p.decode.wall / s)} ms/token (run() ${fmt((p.decode.wall - p.decode.other) / s)}, other ${fmt(p.decode.other / s)})`);
  console.table(p.decode.rows.map((r) => ({ session: r.session, 'ms/token': fmt(r.ms / s), '%': fmt((100 * r.ms) / p.decode.wall) })));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [dir, dtype = 'f32', threads = '2'] = process.argv.slice(2);
  const t = performance.now();
  const model = await loadModel(dir, { dtype, threads: Number(threads) });
  console.log(`load ${((performance.now() - t) / 1000).toFixed(1)} s (cache ${model.cache?.hit ? 'hit' : 'miss'})`);
  printProfile(await profileModel(model));
  await model.dispose();
}

/**
 * Decode by kernel, from onnxruntime's own profile: generate `decode` tokens after a `prompt`-token prefill
 * with every session tracing (Session.profileDir), then per decoded token: weight-reading kernels (MatMul,
 * MatMulNBits, ... with initializers over 64 KB: time, bytes, GB/s), the other kernels, the time inside
 * run() between kernels, and the time outside run() (JS). Tracing slows every step a little; the shares,
 * not the absolute times, are the point.
 */
export async function kernelProfile(dir, { dtype = 'f32', threads = 2, cache, prompt = 128, decode = 8 } = {}) {
  const traceDir = mkdtempSync(join(tmpdir(), 'mote-trace-'));
  Session.profileDir = traceDir;
  const model = await loadModel(dir, { dtype, threads, cache });
  Session.profileDir = null;
  const ids = Array.from({ length: prompt }, (_, i) => 3 + ((i * 7919) % 1000));
  let t0 = 0;
  await model.generate([ids], { maxNewTokens: decode + 1, stopTokens: [], onLogits: () => { t0 ||= performance.now(); } });
  const wall = performance.now() - t0;
  Session.endProfiling();
  await model.dispose();
  const acc = { weightMs: 0, weightBytes: 0, otherMs: 0, runMs: 0, byOp: {} };
  for (const f of readdirSync(traceDir)) {
    const ev = JSON.parse(readFileSync(join(traceDir, f), 'utf8'));
    const runs = ev.filter((e) => e.cat === 'Session' && e.name === 'model_run');
    const steps = runs.slice(-decode); // every session runs once per decoded token, after the prefill's run(s)
    const from = steps[0]?.ts ?? Infinity;
    acc.runMs += steps.reduce((a, e) => a + e.dur, 0) / 1000;
    for (const e of ev) {
      if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time') || e.ts < from) continue;
      const bytes = Number(e.args.parameter_size ?? 0);
      const op = e.args.op_name;
      if (bytes > 65536) { acc.weightMs += e.dur / 1000; acc.weightBytes += bytes; acc.byOp[op] = (acc.byOp[op] ?? 0) + e.dur / 1000; } else acc.otherMs += e.dur / 1000;
    }
  }
  rmSync(traceDir, { recursive: true, force: true });
  const per = (x) => x / decode;
  return {
    tokenMs: per(wall),
    weightKernelsMs: per(acc.weightMs), weightGB: per(acc.weightBytes) / 1e9, weightGBps: acc.weightBytes / acc.weightMs / 1e6,
    weightOps: Object.keys(acc.byOp).join('+'),
    otherKernelsMs: per(acc.otherMs), betweenKernelsMs: per(acc.runMs - acc.weightMs - acc.otherMs), outsideRunMs: per(wall - acc.runMs),
  };
}
