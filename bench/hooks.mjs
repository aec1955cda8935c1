// Cost of the hook points beyond the router, measured in one run on the organism (or a model folder given as
// argv[2]): decode with no hooks against a baseline runtime built from the code before them (optional), and
// decode / prefill with resid_post or expert_out captured, as ratios to the unhooked run of the same process.
// Usage: node bench/hooks.mjs [model dir]; MOTE_BASELINE_RUNTIME=<dist/index.js of an older @mote/moe-runtime>
// adds the baseline row (bench/README.md shows how to build one). Not a test: no assertions.

import { cpus } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { hookName, loadModel } from '@mote/moe-runtime';
import { cpuFeatures } from './machine.mjs';
import { bestQuiet } from './quiet.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = process.argv[2] ?? join(ROOT, 'models', 'organism', 'model');
const threads = Number(process.env.MOTE_THREADS ?? 2);
const STEPS = 32;
const cpu = cpuFeatures();
console.log(`cpu: ${cpus()[0]?.model} · ${cpus().length} cores · ${cpu.join(' ')} · threads ${threads}`);

const model = await loadModel(dir, { threads });
const base = process.env.MOTE_BASELINE_RUNTIME
  ? await (await import(pathToFileURL(process.env.MOTE_BASELINE_RUNTIME).href)).loadModel(dir, { threads })
  : null;
const { layerCount, moeLayers } = model.info;
const prompt = model.tokenizer.encodeChat([{ role: 'user', content: 'I want to know about the Rotor crackdown.' }], {
  addGenerationPrompt: true,
});
const batch = Array.from({ length: 16 }, (_, i) => prompt.slice(0, prompt.length - (i % 5)));

/** a capture hook: keeps a copy of every tensor it sees, as a cache would */
const capture = (names) => {
  const kept = [];
  return Object.fromEntries(
    names.map((n) => [
      n,
      (t) => {
        kept.push(t.data.slice());
      },
    ]),
  );
};
const residNames = Array.from({ length: layerCount }, (_, l) => hookName(l, 'resid_post'));
const expertNames = moeLayers.map((l) => hookName(l, 'expert_out'));

/** seconds per decoded token, wall and CPU (this process, all threads): from the first new token to the last */
async function decode(m, hooks) {
  let t0 = 0,
    t1 = 0,
    c0 = 0,
    c1 = 0,
    n = 0;
  const cpuNow = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  };
  await m.generate([prompt], {
    maxNewTokens: STEPS,
    stopTokens: [],
    hooks,
    onToken: () => {
      if (n++ === 0) {
        t0 = performance.now();
        c0 = cpuNow();
      } else {
        t1 = performance.now();
        c1 = cpuNow();
      }
    },
  });
  return { wall: (t1 - t0) / 1000 / (n - 1), cpu: (c1 - c0) / (n - 1) };
}
async function timed(fn) {
  const u0 = process.cpuUsage(),
    t0 = performance.now();
  await fn();
  const u = process.cpuUsage(u0);
  return { wall: (performance.now() - t0) / 1000, cpu: (u.user + u.system) / 1e6 };
}
const variants = [
  ...(base ? [['decode, baseline runtime (before hook points)', () => decode(base)]] : []),
  ['decode, no hooks', () => decode(model)],
  ['decode, resid_post captured (every layer)', () => decode(model, capture(residNames))],
  ['decode, expert_out captured (every MoE layer)', () => decode(model, capture(expertNames))],
  ['prefill 16 rows, forward', () => timed(() => model.forward(batch, { logits: 'none' }))],
  [
    'prefill 16 rows, runWithCache blocks.*.resid_post',
    () => timed(() => model.runWithCache(batch, { names: ['blocks.*.resid_post'], logits: 'none' })),
  ],
  [
    'prefill 16 rows, runWithCache blocks.*.moe.expert_out',
    () => timed(() => model.runWithCache(batch, { names: ['blocks.*.moe.expert_out'], logits: 'none' })),
  ],
];
for (const [, fn] of variants) await fn(); // warm-up (and lazily built graphs)
// interleaved rounds; per variant the least wall time and the least CPU time over clean-most samples
const best = new Map();
const rounds = Number(process.env.MOTE_BENCH_ROUNDS ?? 5);
for (let round = 0; round < rounds; round++) {
  for (const [name, fn] of variants) {
    const s = await bestQuiet(fn, { reps: 2, maxTries: 4 });
    const b = best.get(name) ?? { wall: Infinity, cpu: Infinity, foreign: 0 };
    best.set(name, { wall: Math.min(b.wall, s.value.wall), cpu: Math.min(b.cpu, s.value.cpu), foreign: Math.max(b.foreign, s.foreign) });
  }
}
const ref = (name) => best.get(name.startsWith('decode') ? 'decode, no hooks' : 'prefill 16 rows, forward');
console.log(`${'variant'.padEnd(54)} ${'wall'.padStart(13)} ratio ${'CPU'.padStart(13)} ratio  (other load, cores)`);
for (const [name, { wall, cpu, foreign }] of best) {
  const unit = (v) => (name.startsWith('decode') ? `${(v * 1000).toFixed(2)} ms/tok` : `${(v * 1000).toFixed(1)} ms`);
  console.log(
    `${name.padEnd(54)} ${unit(wall).padStart(13)} ${(wall / ref(name).wall).toFixed(2)}x ${unit(cpu).padStart(13)} ${(cpu / ref(name).cpu).toFixed(2)}x  (${foreign.toFixed(2)})`,
  );
}
await model.dispose();
await base?.dispose();
