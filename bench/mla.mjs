// MLA attention cost at DeepSeek-V2-Lite widths (D 2048, 16 heads, kv_lora_rank 512, nope 128, rope 64,
// v 128): prefill of a prompt and decode steps against its cache, on a synthetic 2-layer checkpoint whose
// layers are dense with a small MLP, so the time is mostly the attention's. With a second runtime build
// (e.g. a checkout before a change, built and copied under packages/moe-runtime/dist/), both run in one
// process in alternating rounds, best of the rounds each: ratios in the same run on a shared machine.
// Usage: node bench/mla.mjs [baseline moe-runtime dist/index.js] (threads: MOTE_THREADS, default 2; prompt
// lengths: MOTE_CONTEXTS, default 128,512)

import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { SHAPES, writeSynthetic } from './synth.mjs';
import { cpuFeatures } from './machine.mjs';

const ROOT = join(import.meta.dirname, '..');
const OUT = join(ROOT, 'bench-out', 'mla');
const THREADS = Number(process.env.MOTE_THREADS ?? 2);
const ROUNDS = Number(process.env.MOTE_ROUNDS ?? 4);

SHAPES['v2-lite-attention'] = {
  ...SHAPES['deepseek-v2-lite'],
  n_routed_experts: 2,
  num_experts_per_tok: 1,
  moe_intermediate_size: 32,
  intermediate_size: 256,
  first_k_dense_replace: 2,
  vocab_size: 4096,
};
const dir = join(OUT, 'v2-lite-attention');
writeSynthetic(dir, 'v2-lite-attention', 2, join(ROOT, 'models', 'organism', 'model'));

const libs = { current: await import('@mote/moe-runtime') };
if (process.argv[2]) libs.baseline = await import(pathToFileURL(resolve(process.argv[2])).href);
const models = {};
for (const [name, lib] of Object.entries(libs)) models[name] = await lib.loadModel(dir, { threads: THREADS, cache: false });
console.log(
  `cpu: ${cpus()[0]?.model}, ISA ${cpuFeatures().join(' ')}; threads ${THREADS} (${THREADS === 1 ? 'CPU time' : 'wall time'}); best of ${ROUNDS} alternating rounds`,
);
for (const [name, m] of Object.entries(models))
  if (m.kvBytesPerToken) console.log(`${name}: KV cache bytes per token and layer ${m.kvBytesPerToken()}`);

const ids = (n, s) => Array.from({ length: n }, (_, i) => 3 + ((i * 7919 + s) % 4000));
// CPU seconds of this process (1 thread: the work itself, not the waiting of a loaded machine)
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const clock = THREADS === 1 ? cpu : () => performance.now() / 1e3;
/** prefill seconds and the fastest decode step (seconds) of 9 greedy tokens after the prompt */
async function once(model, prompt) {
  let t = clock();
  await model.forward([prompt], { logits: 'last' });
  const prefill = clock() - t;
  let step = Infinity;
  let last = 0;
  await model.generate([prompt], {
    maxNewTokens: 9,
    stopTokens: [],
    onToken: () => {
      t = clock();
      if (last) step = Math.min(step, t - last);
      last = t;
    },
  });
  return { prefill, step };
}
for (const P of (process.env.MOTE_CONTEXTS ?? '128,512').split(',').map(Number)) {
  const prompt = ids(P, P);
  const best = {};
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, m] of Object.entries(models)) {
      const x = await once(m, prompt);
      const b = (best[name] ??= { prefill: Infinity, step: Infinity });
      b.prefill = Math.min(b.prefill, x.prefill);
      b.step = Math.min(b.step, x.step);
    }
  }
  for (const [name, b] of Object.entries(best)) {
    const ratio =
      best.baseline && name === 'current'
        ? ` (baseline/current: prefill ${(best.baseline.prefill / b.prefill).toFixed(2)}x, decode ${(best.baseline.step / b.step).toFixed(2)}x)`
        : '';
    console.log(
      `context ${P}, ${name}: prefill ${(P / b.prefill).toFixed(1)} tok/s, decode ${(b.step * 1e3).toFixed(2)} ms/token (2 layers)${ratio}`,
    );
  }
}
for (const m of Object.values(models)) await m.dispose();
