// pnpm bench: prefill and decode tokens/s of mote on synthetic full-width MoE checkpoints, beside the
// machine's GEMM FLOP/s and memory bandwidth measured in the same run, as fractions of the roofline.
// Absolute numbers move between runs on shared machines: read the ratios.

import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModel } from '@mote/moe-runtime';
import { measureMachine } from './machine.mjs';
import { writeSynthetic } from './synth.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = process.env.MOTE_BENCH_DIR ?? join(ROOT, 'bench-out');
const THREADS = Number(process.env.MOTE_BENCH_THREADS ?? 2);
const PROMPT = 128;
const DECODE = 32;

const fmt = (x, d = 1) => x.toFixed(d);

/** f32 weights read per decoded token and FLOPs per prefilled token, from the model's own counts. */
function roofline(info) {
  const { hiddenSize: D, vocabSize: V, layerCount: L } = info;
  const perTokenParams = info.params.active - 2 * info.params.embedding; // layers only
  const decodeBytes = 4 * (perTokenParams + V * D); // + lm_head on the new token
  const prefillFlops = (T) => 2 * perTokenParams * T + 2 * V * D + 2 * 2 * L * D * (T * (T + 1)) / 2;
  return { decodeBytes, prefillFlops };
}

async function timeModel(dir) {
  const t0 = performance.now();
  const model = await loadModel(dir, { threads: THREADS });
  const loadS = (performance.now() - t0) / 1000;
  const ids = Array.from({ length: PROMPT }, (_, i) => 3 + ((i * 7919) % 1000));
  await model.generate([ids], { maxNewTokens: 2, stopTokens: [] }); // warm-up
  let prefill = Infinity;
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    await model.forward([ids], { logits: 'last' });
    prefill = Math.min(prefill, (performance.now() - t) / 1000);
  }
  let decode = Infinity;
  for (let i = 0; i < 2; i++) {
    const t = performance.now();
    await model.generate([ids], { maxNewTokens: DECODE + 1, stopTokens: [] });
    decode = Math.min(decode, ((performance.now() - t) / 1000 - prefill) / DECODE);
  }
  const info = model.info;
  await model.dispose();
  return { info, loadS, prefillTps: PROMPT / prefill, decodeTps: 1 / decode };
}

const machine = await measureMachine(THREADS);
console.log(`machine (${THREADS} threads): f32 GEMM ${fmt(machine.flops / 1e9)} GFLOP/s, memory read ${fmt(machine.bandwidth / 1e9)} GB/s`);
const rows = [];
for (const [shape, layers] of [['olmoe-1b-7b', 2]]) {
  const dir = join(OUT, `${shape}-${layers}l`);
  writeSynthetic(dir, shape, layers, join(ROOT, 'models', 'organism', 'model'));
  const r = await timeModel(dir);
  const rl = roofline(r.info);
  const decodeBound = machine.bandwidth / rl.decodeBytes;
  const prefillBound = machine.flops / (rl.prefillFlops(PROMPT) / PROMPT);
  rows.push({
    model: `${shape} ×${layers} layers (f32)`,
    'load s': fmt(r.loadS, 2),
    'prefill tok/s': fmt(r.prefillTps),
    'prefill / GEMM bound': `${fmt((100 * r.prefillTps) / prefillBound)}%`,
    'decode tok/s': fmt(r.decodeTps, 2),
    'decode / BW bound': `${fmt((100 * r.decodeTps) / decodeBound)}%`,
    'decode bound tok/s': fmt(decodeBound, 2),
  });
}
console.table(rows);
