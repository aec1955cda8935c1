// Cost of a routed-expert layer against its expert count at equal active parameters: synthetic one-layer
// qwen3_moe checkpoints with 64 and 256 experts (top-8, same hidden and expert widths), f32 and int4, the MoE
// session timed alone on decode steps (1 row, 8 random experts) and a 128-token prefill (most experts
// active). Prints CPU features and the 256/64 ratios. Then the dispatch alternatives to the runtime's expert
// slices, built here on int4 experts of the same widths (dispatch.mjs). Not the model bench (run.mjs).
// Usage: node bench/moe-dispatch.mjs (MOTE_THREADS, default 2: 1 thread times CPU seconds, robust on a
// loaded machine; MOTE_WIDTH=D,I, default 1024,512; MOTE_ALTS=0 skips the alternatives, MOTE_ALTS=only runs
// only them: no checkpoint, so wider layers fit, e.g. MOTE_WIDTH=2048,1024; MOTE_ALTS=slices runs only the
// runtime's slices at 64 and 256 experts, no checkpoint: an R1-shaped layer, MOTE_WIDTH=7168,2048, in ~12 GB)

import { cpus } from 'node:os';
import { join } from 'node:path';
import { loadModel, nbitsBlock } from '@mote/moe-runtime';
import { createRng } from '@mote/stats';
import { SHAPES, writeSynthetic } from './synth.mjs';
import { cpuFeatures } from './machine.mjs';
import { compareDispatch } from './dispatch.mjs';

const ROOT = join(import.meta.dirname, '..');
const OUT = join(ROOT, 'bench-out', 'moe-dispatch');
const THREADS = Number(process.env.MOTE_THREADS ?? 2);
const [D, I] = (process.env.MOTE_WIDTH ?? '1024,512').split(',').map(Number);
const K = 8;
const ROUNDS = 8;
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const clock = THREADS === 1 ? cpu : () => performance.now() / 1e3;

/** seeded ints in [0, n) */
const rand = createRng(12345).int;

/** Expert-slice feeds (experts.ts) for N rows each routed to K distinct random experts with weight 1/K. */
function routedFeeds(N, E) {
  const ids = [];
  for (let n = 0; n < N; n++) {
    const s = new Set();
    while (s.size < K) s.add(rand(E));
    ids.push([...s]);
  }
  const counts = new Array(E).fill(0);
  ids.flat().forEach((e) => counts[e]++);
  const start = [0];
  for (let e = 0; e < E; e++) start.push(start[e] + counts[e]);
  const fill = start.slice(0, E);
  const order = new BigInt64Array(N * K);
  const inv = new BigInt64Array(N * K);
  ids.forEach((row, n) =>
    row.forEach((e, j) => {
      const p = fill[e]++;
      order[p] = BigInt(n);
      inv[n * K + j] = BigInt(p);
    }),
  );
  const t = (dtype, shape, data) => ({ dtype, shape, data });
  const x = Float32Array.from({ length: N * D }, () => (rand(2000) - 1000) / 1000);
  return {
    h_mid: t('float32', [1, N, D], new Float32Array(N * D)),
    x: t('float32', [1, N, D], x),
    order: t('int64', [N * K], order),
    counts: t('int64', [E], BigInt64Array.from(counts, BigInt)),
    inv: t('int64', [N, K], inv),
    wts: t('float32', [N, K, 1], new Float32Array(N * K).fill(1 / K)),
  };
}

/** seconds per MoE-session run of N routed rows, best of ROUNDS, the sessions taking turns within each round */
async function timeFfns(ffns, N, reps) {
  const best = ffns.map(() => Infinity);
  for (let r = 0; r < ROUNDS; r++) {
    for (const [i, { ffn, E }] of ffns.entries()) {
      const feeds = Array.from({ length: reps }, () => routedFeeds(N, E));
      await ffn.run(feeds[0]);
      const t = clock();
      for (const f of feeds) await ffn.run(f);
      best[i] = Math.min(best[i], (clock() - t) / reps);
    }
  }
  return best;
}

console.log(
  `cpu: ${cpus()[0]?.model}, ISA ${cpuFeatures().join(' ')}; threads ${THREADS} (${THREADS === 1 ? 'CPU time' : 'wall time'}); D ${D}, I ${I}, top-${K}`,
);
const rows = [];
for (const dtype of ['only', 'slices'].includes(process.env.MOTE_ALTS) ? [] : ['f32', 'int4']) {
  const models = [];
  for (const E of [64, 256]) {
    const name = `moe-e${E}-d${D}-i${I}`;
    SHAPES[name] = {
      ...SHAPES['qwen3-30b-a3b'],
      hidden_size: D,
      num_attention_heads: 8,
      num_key_value_heads: 2,
      head_dim: 64,
      num_experts: E,
      moe_intermediate_size: I,
      vocab_size: 4096,
    };
    const dir = join(OUT, name);
    writeSynthetic(dir, name, 1, join(ROOT, 'models', 'organism', 'model'));
    const model = await loadModel(dir, { threads: THREADS, dtype, cache: join(OUT, 'cache') });
    models.push({ model, E, ffn: model.layers[0].ffn }); // the MoE session of layer 0, timed alone
  }
  const decode = await timeFfns(models, 1, 20);
  const prefill = await timeFfns(models, 128, 2);
  const res = { 64: { decode: decode[0], prefill: prefill[0] }, 256: { decode: decode[1], prefill: prefill[1] } };
  for (const m of models) await m.model.dispose();
  const activeMB = (K * 3 * D * I * (dtype === 'f32' ? 4 : 0.5 + 4 / nbitsBlock(D))) / 1e6;
  for (const phase of ['decode', 'prefill']) {
    rows.push({
      dtype,
      phase,
      'active MB/token': activeMB.toFixed(1),
      'E=64 ms': (res[64][phase] * 1e3).toFixed(3),
      'E=256 ms': (res[256][phase] * 1e3).toFixed(3),
      'ratio 256/64': (res[256][phase] / res[64][phase]).toFixed(2),
      'per unused expert us': phase === 'decode' ? (((res[256].decode - res[64].decode) / 192) * 1e6).toFixed(2) : '',
    });
  }
}
if (rows.length) console.table(rows);
// projection to R1's widths (D 7168, I 2048, 256 experts vs 64, top-8): the E=64 decode time scaled by active
// bytes, plus 192 more unused experts at the per-unused-expert cost measured above. A projection, not a run:
// 256 R1-wide experts are 45 GB in f32.
for (const r of rows.filter((x) => x.phase === 'decode')) {
  const scale = (K * 3 * 7168 * 2048) / (K * 3 * D * I);
  const t64 = Number(r['E=64 ms']) * scale;
  const extra = (Number(r['per unused expert us']) * 192) / 1e3;
  console.log(
    `projected R1-wide ${r.dtype} decode: E=64 ${t64.toFixed(1)} ms, E=256 ${(t64 + extra).toFixed(1)} ms, ratio ${((t64 + extra) / t64).toFixed(3)}`,
  );
}

if (process.env.MOTE_ALTS !== '0')
  await compareDispatch({ D, I, K, threads: THREADS, clock, slicesOnly: process.env.MOTE_ALTS === 'slices' });
