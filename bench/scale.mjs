// `pnpm bench:scale`: full-depth synthetic checkpoints with the released shapes (synth.mjs), one at a time —
// write, measure, delete — so the disk holds one model (bf16 + cache + GGUF) at once. Per model and dtype:
// mote cold load (convert into an empty cache; the conversion runs in a child process, whose peak is
// counted) and cached load + prefill + decode, each in its own process (job.mjs) for its own peak RSS,
// checked against the target 1.1 x cache bytes + 1 GB; then llama.cpp on the same weights, timed in the
// same process as mote (ratios), where the GGUF writer knows the architecture; every decode's implied
// weight read rate against the machine's read bandwidth measured first (machine.mjs: exit 3 when an engine
// beats it by > 5%); the batched section (total decode tok/s at batch 1/8/32/64) on the first model.
// Writes bench-out/scale.json after every row and skips rows already there (resume).
// Env: MOTE_SCALE_MODELS=olmoe,qwen3,deepseek,gptoss (default all), MOTE_SCALE_DTYPES=int4,int8,
// MOTE_SCALE_LLAMA=0 (skip llama.cpp), MOTE_SCALE_LAYERS=qwen3=24 (depth override), MOTE_SCALE_RESULTS
// (results file), MOTE_SCALE_KEEP=1 (keep the checkpoint), MOTE_SCALE_BATCH=0 (skip the batched section),
// MOTE_SCALE_MACHINE=0 (skip the bandwidth bound), MOTE_BENCH_THREADS, MOTE_BENCH_DIR.
// Not a correctness test: random weights.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { estimateMemory, specFromDir } from '@mote/moe-runtime';
import { ggufFromSynthetic } from './gguf.mjs';
import { writeSynthetic, SHAPES } from './synth.mjs';
import { cpuFeatures, llamaBackend, measureMachine, roofline } from './machine.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(process.env.MOTE_BENCH_DIR ?? join(ROOT, 'bench-out'), 'scale');
const THREADS = Number(process.env.MOTE_BENCH_THREADS ?? 2);
const PROMPT = 32;
const DECODE = 16;
const GB = 1e9;
const t0 = performance.now();
const log = (...a) => console.error(`[scale ${((performance.now() - t0) / 1000).toFixed(0)}s]`, ...a);
const fmt = (x, d = 1) => (x === undefined || x === null || Number.isNaN(x) ? '-' : x.toFixed(d));

/** [id, synth shape, released layers, dtypes, GGUF writer knows it] */
const MODELS = [
  ['olmoe', 'olmoe-1b-7b', 16, ['int4', 'int8'], true],
  ['qwen3', 'qwen3-30b-a3b', 48, ['int4'], true],
  ['deepseek', 'deepseek-v2-lite-yarn', 27, ['int4'], false],
  ['gptoss', 'gpt-oss-20b', 24, ['int4'], false],
];
const pick = process.env.MOTE_SCALE_MODELS?.split(',');
const pickDtypes = process.env.MOTE_SCALE_DTYPES?.split(',');
const GGUF_TYPE = { f32: 'f32', int8: 'q8_0', int4: 'q4_0' };
const BATCHES = [1, 8, 32, 64];
/** the most memory one bench process may take here (the machine is shared) */
const PAIR_GB = Number(process.env.MOTE_SCALE_PAIR_GB ?? 13);

function job(spec) {
  const r = spawnSync(
    process.execPath,
    [join(ROOT, 'bench', 'job.mjs'), JSON.stringify({ threads: THREADS, prompt: PROMPT, decode: DECODE, ...spec })],
    {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
      env: { ...process.env, NODE_LLAMA_CPP_SKIP_DOWNLOAD: 'true' },
    },
  );
  const lines = r.stdout.trim().split('\n');
  try {
    return JSON.parse(lines.pop());
  } catch {
    log(`job ${spec.kind} ${spec.dtype ?? ''} failed (exit ${r.status}, signal ${r.signal}):\n${r.stderr.slice(-2000)}`);
    return {
      error: `${r.signal ?? `exit ${r.status}`}: ${(
        r.stderr
          .trim()
          .split('\n')
          .find((l) => /E_[A-Z]+|Error/.test(l)) ?? ''
      ).slice(0, 200)}`,
    };
  }
}

/** bytes of the files under p whose name passes keep */
const sumFiles = (p, keep) => {
  const s = statSync(p);
  return s.isDirectory() ? readdirSync(p).reduce((n, e) => n + sumFiles(join(p, e), keep), 0) : keep(p.split('/').pop()) ? s.size : 0;
};
const du = (p) => {
  const s = statSync(p);
  return s.isDirectory() ? readdirSync(p).reduce((n, e) => n + du(join(p, e)), 0) : s.size;
};
const freeDisk = (p) => {
  const s = statfsSync(p);
  return Number(s.bavail) * Number(s.bsize);
};
/** bf16 checkpoint bytes of a shape at a depth, from the spec of its config (no weights written yet) */
function checkpointBytes(shape, layers) {
  const tmp = join(OUT, `.probe-${shape}`);
  mkdirSync(tmp, { recursive: true });
  writeFileSync(join(tmp, 'config.json'), JSON.stringify({ ...SHAPES[shape], num_hidden_layers: layers }));
  const spec = specFromDir(tmp);
  rmSync(tmp, { recursive: true, force: true });
  // gpt-oss's experts are written as released: MXFP4, 17 bytes per 32 weights
  const experts = spec.modelType === 'gpt_oss' ? spec.moeLayers.length * spec.expertCount * 3 * spec.hidden * spec.moeIntermediate : 0;
  return { bf16: 2 * (paramTotal(spec) - experts) + (17 / 32) * experts, int4: estimateMemory(spec, 'int4').cache, spec };
}
function paramTotal(s) {
  const D = s.hidden,
    expert = 3 * D * s.moeIntermediate,
    shared = s.sharedExpertCount ? 3 * D * s.sharedIntermediate : 0;
  let n = 2 * s.vocab * D;
  for (let l = 0; l < s.layerCount; l++)
    n += 4 * D * D + (s.moeLayers.includes(l) ? s.expertCount * (expert + D) + shared : 3 * D * s.denseIntermediate);
  return n;
}

mkdirSync(OUT, { recursive: true });
const resultsFile = process.env.MOTE_SCALE_RESULTS ?? join(OUT, '..', 'scale.json');
const results = existsSync(resultsFile) ? JSON.parse(readFileSync(resultsFile, 'utf8')) : { rows: [] };
/** merge this run's rows into the file (another bench:scale process may have added rows meanwhile) */
const save = () => {
  const cur = existsSync(resultsFile) ? JSON.parse(readFileSync(resultsFile, 'utf8')).rows : [];
  const key = (r) => `${r.model} ${r.dtype}`;
  const mine = new Set(results.rows.map(key));
  results.rows = [...cur.filter((r) => !mine.has(key(r))), ...results.rows];
  writeFileSync(resultsFile, JSON.stringify(results, null, 1));
};
results.cpu = { model: cpus()[0]?.model, cores: cpus().length, features: cpuFeatures() };
results.cpu.llama = await llamaBackend();
log(
  `cpu: ${results.cpu.model}, ${results.cpu.cores} cores, ${THREADS} threads; ISA: ${results.cpu.features.join(' ')}; llama.cpp: ${results.cpu.llama}`,
);
if (process.env.MOTE_SCALE_MACHINE !== '0' && !results.machine) {
  const m = await measureMachine(THREADS);
  results.machine = { bandwidth: m.bandwidth, bandwidthKernel: m.bandwidthKernel, kernels: m.kernels, flops: m.flops };
  save();
  log(
    `read bandwidth ${fmt(m.bandwidth / GB)} GB/s (${m.bandwidthKernel}); methods: ${Object.entries(m.kernels)
      .map(([k, v]) => `${k} ${fmt(v / GB)}`)
      .join(', ')} GB/s; f32 GEMM ${fmt(m.flops / 1e9)} GFLOP/s`,
  );
}
/** an engine cannot read its weights faster than the machine reads memory: > 5% over means a wrong bound or byte count */
const violations = [];

// in MOTE_SCALE_MODELS's order when given
for (const [id, shape, released, dtypes, ggufOk] of pick
  ? MODELS.filter((m) => pick.includes(m[0])).sort((a, b) => pick.indexOf(a[0]) - pick.indexOf(b[0]))
  : MODELS) {
  const forced = Number(
    process.env.MOTE_SCALE_LAYERS?.split(',')
      .find((x) => x.startsWith(`${id}=`))
      ?.split('=')[1],
  );
  let layers = forced || released;
  const need = (L) => {
    const b = checkpointBytes(shape, L);
    const written = join(OUT, `${shape}-${L}l`, 'model.safetensors'); // a kept checkpoint needs no new space
    return { ...b, total: (existsSync(written) ? 0 : b.bf16) + 2.2 * b.int4 };
  };
  // full depth if bf16 + cache + GGUF fit the disk with 10 GB to spare, else half depth (linear extrapolation)
  if (!forced && need(layers).total + 10 * GB > freeDisk(ROOT)) layers = Math.ceil(released / 2);
  if (need(layers).total + 10 * GB > freeDisk(ROOT)) {
    log(`${id}: disk too short even for ${layers} layers; skipped`);
    continue;
  }
  const name = `${shape}-${layers}l`;
  const dir = join(OUT, name);
  const todo = dtypes.filter(
    (d) =>
      (!pickDtypes || pickDtypes.includes(d)) &&
      !results.rows.some((r) => r.model === name && r.dtype === d && !r.cold.error && !r.cached.error),
  );
  if (!todo.length) continue;
  let t = performance.now();
  writeSynthetic(dir, shape, layers, join(ROOT, 'models', 'organism', 'model'));
  log(`${name}: synthetic bf16 checkpoint ${fmt(du(dir) / GB, 2)} GB written in ${fmt((performance.now() - t) / 1000)} s`);
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  const rl = roofline(dir, cfg, PROMPT);
  for (const dtype of todo) {
    const cache = join(OUT, 'cache', `${name}-${dtype}`);
    const cold = job({ kind: 'mote-cold', dir, dtype, cache, cacheDir: cache });
    const cacheBytes = existsSync(cache) ? du(cache) : NaN;
    // the process tree's peak: the loading process's own, or the conversion child's on top of the parent as it waited
    const coldPeakMB = Math.max(cold.maxRssMB, (cold.rssBeforeMB ?? 0) + (cold.convertPeakMB ?? 0));
    log(
      `${name} ${dtype}: cold load ${fmt(cold.loadS)} s, peak ${fmt(coldPeakMB / 1024, 2)} GiB (loader ${fmt(cold.maxRssMB / 1024, 2)}, conversion child ${fmt(cold.convertPeakMB / 1024, 2)}), cache ${fmt(cacheBytes / GB, 2)} GB ${cold.error ?? ''}`,
    );
    const run = cold.error ? cold : job({ kind: 'mote-run', dir, dtype, cache });
    log(
      `${name} ${dtype}: cached load ${fmt(run.loadS)} s, peak ${fmt(run.maxRssMB / 1024, 2)} GiB, prefill ${fmt(PROMPT / run.prefillS)} tok/s, decode ${fmt(1 / run.decodeStepS, 2)} tok/s ${run.error ?? ''}`,
    );
    let pair = null;
    let batched = null;
    let gguf = null;
    if (ggufOk && process.env.MOTE_SCALE_LLAMA !== '0' && !run.error) {
      gguf = join(dir, `model-${GGUF_TYPE[dtype]}.gguf`);
      t = performance.now();
      ggufFromSynthetic(dir, gguf, GGUF_TYPE[dtype]);
      log(`${name} ${dtype}: GGUF ${GGUF_TYPE[dtype]} written in ${fmt((performance.now() - t) / 1000)} s`);
      // mote and llama.cpp in one process when both fit in PAIR_GB, else each in its own process
      if ((run.maxRssMB * 1048576 + statSync(gguf).size) / GB <= PAIR_GB) pair = job({ kind: 'pair', dir, dtype, cache, gguf, rounds: 1 });
      else pair = { mote: run, llama: job({ kind: 'llama-run', gguf, timed: true }), separate: true };
      log(`${name} ${dtype}: same process: ${JSON.stringify(pair).slice(0, 400)}`);
    }
    if (!results.batched && process.env.MOTE_SCALE_BATCH !== '0' && !run.error) {
      // each engine in its own process, llama.cpp one batch size per process: its batched contexts after mote's
      // run took one process past 23 GB, and its four contexts in turn on a 16-layer OLMoE were OOM-killed at 24 GB
      const spec = { kind: 'batch', dir, dtype, cache, gguf, batches: BATCHES };
      const m = job({ ...spec, engine: 'mote' });
      const ls = gguf && !m.error ? BATCHES.map((B) => job({ ...spec, engine: 'llama', batches: [B] })) : [];
      const llama = Object.assign({}, ...ls.map((l) => l.llama ?? {}));
      const llamaError =
        ls
          .map((l, i) => (l.error ? `batch ${BATCHES[i]}: ${l.error}` : ''))
          .filter(Boolean)
          .join('; ') || undefined;
      batched = m.error
        ? m
        : { mote: m.mote, llama, llamaError, maxRssMB: { mote: m.maxRssMB, llama: Math.max(0, ...ls.map((l) => l.maxRssMB ?? 0)) } };
      if (!batched.error) results.batched = { model: name, dtype, ...batched };
      log(`${name} ${dtype}: batched ${JSON.stringify(batched).slice(0, 600)}`);
    }
    if (gguf) rmSync(gguf, { force: true });
    const target = 1.1 * cacheBytes + GB;
    // per decoder layer bytes of the entry: the part that grows with depth (for the linear extrapolation)
    const layerBytes = existsSync(cache) ? du(cache) - sumFiles(cache, (f) => !/^layer\d+_/.test(f)) : NaN;
    const perLayer = layerBytes / layers;
    const extra = (released - layers) * perLayer;
    const rate = (r) => (r?.prefillS ? { prefillTokS: PROMPT / r.prefillS, decodeTokS: 1 / r.decodeStepS } : null);
    const mote = rate(pair?.mote) ?? rate(run);
    const llama = rate(pair?.llama);
    const reads = {
      mote: mote ? mote.decodeTokS * rl.decodeBytes('mote', dtype) : NaN,
      llama: llama ? llama.decodeTokS * rl.decodeBytes('llama', dtype) : NaN,
    };
    for (const [engine, r] of Object.entries(reads)) {
      if (results.machine && r > 1.05 * results.machine.bandwidth)
        violations.push(
          `${name} ${dtype}: ${engine} decode implies ${fmt(r / GB, 2)} GB/s, bound ${fmt(results.machine.bandwidth / GB, 2)} GB/s`,
        );
    }
    const row = {
      model: name,
      released,
      layers,
      dtype,
      cacheGB: cacheBytes / GB,
      targetGB: target / GB,
      cold: {
        s: cold.loadS,
        peakGB: (coldPeakMB * 1048576) / GB,
        loaderGB: (cold.maxRssMB * 1048576) / GB,
        childGB: (cold.convertPeakMB * 1048576) / GB,
        error: cold.error,
      },
      cached: { s: run.loadS, peakGB: (run.maxRssMB * 1048576) / GB, error: run.error },
      within: coldPeakMB * 1048576 <= target && run.maxRssMB * 1048576 <= target,
      mote,
      llama,
      decodeReadGBs: { mote: reads.mote / GB, llama: reads.llama / GB, bytesPerTokenMB: rl.decodeBytes('mote', dtype) / 1e6 },
      pairError: pair?.error,
      // at the released depth, linear in the layers: cache + (released - layers) x per-layer bytes, the peaks
      // likewise (the conversion child holds one layer at a time: its peak does not grow with depth)
      ...(layers !== released
        ? {
            fullDepth: {
              cacheGB: (cacheBytes + extra) / GB,
              targetGB: (1.1 * (cacheBytes + extra) + GB) / GB,
              coldPeakGB: Math.max(cold.maxRssMB * 1048576 + 1.2 * extra, (cold.rssBeforeMB + cold.convertPeakMB) * 1048576) / GB,
              cachedPeakGB: (run.maxRssMB * 1048576 + 1.2 * extra) / GB,
              perLayerGB: perLayer / GB,
            },
          }
        : {}),
    };
    results.rows = results.rows.filter((r) => r.model !== name || r.dtype !== dtype); // a failed try of this row goes
    results.rows.push(row);
    save();
    log(`${name} ${dtype}: ${JSON.stringify(row)}`);
    rmSync(cache, { recursive: true, force: true });
  }
  if (process.env.MOTE_SCALE_KEEP !== '1') rmSync(dir, { recursive: true, force: true });
}

const pct = (x, target) => `${fmt((100 * x) / target, 0)}%`;
const tab = results.rows.map((r) => ({
  model: r.model,
  dtype: r.dtype,
  'cache GB': fmt(r.cacheGB, 2),
  'target GB': fmt(r.targetGB, 2),
  'cold s / peak GB (% target)': `${fmt(r.cold.s)} / ${fmt(r.cold.peakGB, 2)} (${pct(r.cold.peakGB, r.targetGB)})`,
  'cached s / peak GB (% target)': `${fmt(r.cached.s)} / ${fmt(r.cached.peakGB, 2)} (${pct(r.cached.peakGB, r.targetGB)})`,
  within: r.within ? 'yes' : 'NO',
  'prefill tok/s mote/llama': r.mote
    ? `${fmt(r.mote.prefillTokS)}/${fmt(r.llama?.prefillTokS)} (${fmt(r.llama ? r.mote.prefillTokS / r.llama.prefillTokS : NaN, 2)}x)`
    : '-',
  'decode tok/s mote/llama': r.mote
    ? `${fmt(r.mote.decodeTokS, 2)}/${fmt(r.llama?.decodeTokS, 2)} (${fmt(r.llama ? r.mote.decodeTokS / r.llama.decodeTokS : NaN, 2)}x)`
    : '-',
  'decode read GB/s mote/llama': r.decodeReadGBs ? `${fmt(r.decodeReadGBs.mote, 2)}/${fmt(r.decodeReadGBs.llama, 2)}` : '-',
  ...(r.fullDepth
    ? {
        [`at ${r.released} layers (linear)`]: `cache ${fmt(r.fullDepth.cacheGB, 2)} GB, peaks cold ${fmt(r.fullDepth.coldPeakGB, 2)} / cached ${fmt(r.fullDepth.cachedPeakGB, 2)} GB, target ${fmt(r.fullDepth.targetGB, 2)} GB`,
      }
    : {}),
}));
console.log(
  `mote bench:scale — ${results.cpu.model}, ${results.cpu.cores} cores, ${THREADS} threads, ISA ${results.cpu.features.join(' ')}; llama.cpp: ${results.cpu.llama}; prompt ${PROMPT}, decode ${DECODE} (batch 1)`,
);
if (results.machine)
  console.log(
    `read bandwidth bound ${fmt(results.machine.bandwidth / GB, 2)} GB/s (${results.machine.bandwidthKernel}); methods: ${Object.entries(
      results.machine.kernels,
    )
      .map(([k, v]) => `${k} ${fmt(v / GB, 2)}`)
      .join(', ')} GB/s`,
  );
console.table(tab);
console.log('target: peak RSS <= 1.1 x cache bytes + 1 GB for cold and cached loads; ratios mote/llama.cpp tok/s (> 1 = mote faster)');
const b = results.batched;
if (b)
  console.table(
    Object.keys(b.mote).map((B) => ({
      [`batched ${b.model} ${b.dtype}`]: `batch ${B}`,
      'mote tok/s': fmt(b.mote[B].tokS, 1),
      'llama.cpp tok/s': fmt(b.llama?.[B]?.tokS, 1),
      ratio: `${fmt(b.mote[B].tokS / b.llama?.[B]?.tokS, 2)}x`,
      'foreign cores': fmt(Math.max(b.mote[B].foreign, b.llama?.[B]?.foreign ?? 0), 2),
    })),
  );
if (violations.length) {
  console.log('BANDWIDTH BOUND VIOLATED — an engine read weights faster than the machine bound; the bound or the byte counts are wrong:');
  for (const v of violations) console.log(`  ${v}`);
  process.exitCode = 3;
}
