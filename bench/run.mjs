// pnpm bench: mote beside llama.cpp (node-llama-cpp) on the same synthetic full-width MoE weights, at equal
// bits (f32 / int8 = q8_0 / int4 = q4_0 experts + q8_0 attention/output), with the machine's f32 GEMM
// FLOP/s and memory read bandwidth measured in the same run as the roofline; cold (converting) and cached
// load; peak memory; int8/int4 accuracy against f32 on the organism and a synthetic model; a per-session
// profile of the headline model. Loads run in their own processes (bench/job.mjs: peak memory is
// theirs); mote and llama.cpp are then timed in one process in interleaved rounds, every sample recording
// how many cores other processes used meanwhile ("foreign"); timings keep the least contended samples.
// MOTE_BENCH_MATRIX=quick|default|full picks the models; MOTE_BENCH_DIR the working folder (bench-out).

import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpus } from 'node:os';
import { cpuFeatures, llamaBackend, measureMachine, roofline } from './machine.mjs';
import { writeSynthetic } from './synth.mjs';
import { ggufFromSynthetic } from './gguf.mjs';
import { waitQuiet } from './quiet.mjs';
import { ftriBench } from './ftri.mjs';
import { r1AnalyticsBench } from './r1-analytics.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = process.env.MOTE_BENCH_DIR ?? join(ROOT, 'bench-out');
const THREADS = Number(process.env.MOTE_BENCH_THREADS ?? 2);
const PROMPT = 128;
const DECODE = 32;
const ORGANISM = join(ROOT, 'models', 'organism');
const GGUF_TYPE = { f32: 'f32', int8: 'q8_0', int4: 'q4_0' };

// [shape, layers, dtypes]: the default matrix fits ~15 minutes on 2 cores (full widths, few layers)
const MATRICES = {
  quick: [['olmoe-1b-7b', 2, ['f32', 'int4']]],
  default: [
    ['olmoe-1b-7b', 2, ['f32', 'int8', 'int4']],
    ['olmoe-1b-7b', 4, ['int4']],
    ['qwen3-30b-a3b', 2, ['int4']],
    ['deepseek-v2-lite', 2, ['int4']],
  ],
  full: ['olmoe-1b-7b', 'qwen3-30b-a3b', 'deepseek-v2-lite'].flatMap((s) => [2, 4].map((l) => [s, l, ['f32', 'int8', 'int4']])),
};
const MATRIX = MATRICES[process.env.MOTE_BENCH_MATRIX ?? 'default'];
const t0 = performance.now();
const log = (...a) => console.error(`[bench ${((performance.now() - t0) / 1000).toFixed(0)}s]`, ...a);
const fmt = (x, d = 1) => (x === undefined || x === null || Number.isNaN(x) ? '-' : x.toFixed(d));

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
  const last = r.stdout.trim().split('\n').pop();
  try {
    return JSON.parse(last);
  } catch {
    log(`job ${spec.kind} ${spec.dir ?? ''} ${spec.dtype ?? ''} failed:\n${r.stderr.slice(-3000)}`);
    return {
      error: (
        r.stderr
          .trim()
          .split('\n')
          .filter((l) => /Error|error/.test(l))[0] ?? `exit ${r.status}`
      ).slice(0, 200),
    };
  }
}

// ---- run ----------------------------------------------------------------------------------------------
mkdirSync(OUT, { recursive: true });
const quiet = await waitQuiet(0.3, 30);
log(`start; other processes use ${quiet === null ? 'more than 0.3' : fmt(quiet, 2)} cores`);
const machine = await measureMachine(THREADS);
log(
  `machine: f32 GEMM ${fmt(machine.flops / 1e9)} GFLOP/s, read bandwidth ${fmt(machine.bandwidth / 1e9)} GB/s (${machine.bandwidthKernel})`,
);

const rows = [];
const boundViolations = [];
const profiles = [];
const notes = [];
let synthAccuracy = null;
for (const [shape, layers, dtypes] of MATRIX) {
  const name = `${shape}-${layers}l`;
  const dir = join(OUT, name);
  let t = performance.now();
  const cfg = writeSynthetic(dir, shape, layers, join(ORGANISM, 'model'));
  log(`${name}: synthetic checkpoint ready (${fmt((performance.now() - t) / 1000)} s)`);
  const rl = roofline(dir, cfg, PROMPT);
  const gemmBound = machine.flops / rl.prefillFlopsPerToken;
  for (const dtype of dtypes) {
    t = performance.now();
    const gguf = ggufFromSynthetic(dir, join(dir, `model-${GGUF_TYPE[dtype]}.gguf`), GGUF_TYPE[dtype]);
    log(`${name} ${dtype}: GGUF ${GGUF_TYPE[dtype]} ready (${fmt((performance.now() - t) / 1000)} s)`);
    const cache = join(OUT, 'cache', `${name}-${dtype}`);
    const cold = job({ kind: 'mote-cold', dir, dtype, cache, cacheDir: cache });
    log(`${name} ${dtype}: mote cold load ${fmt(cold.loadS)} s`);
    const headline = shape === MATRIX[0][0] && layers === MATRIX[0][1];
    const mm = job({ kind: 'mote-run', dir, dtype, cache, profile: headline });
    const lm = job({ kind: 'llama-run', gguf });
    log(`${name} ${dtype}: mote cached load ${fmt(mm.loadS)} s; llama.cpp load ${fmt(lm.loadS)} s`);
    const pair = job({ kind: 'pair', dir, dtype, cache, gguf, rounds: 3 });
    const m = { ...mm, ...pair.mote },
      l = { ...lm, ...pair.llama };
    if (pair.error) {
      m.error = pair.error;
    }
    log(
      `${name} ${dtype}: prefill mote ${fmt(PROMPT / m.prefillS)} / llama.cpp ${fmt(PROMPT / l.prefillS)} tok/s, decode mote ${fmt(1 / m.decodeStepS, 2)} / llama.cpp ${fmt(1 / l.decodeStepS, 2)} tok/s`,
    );
    if (mm.profile) profiles.push({ name, dtype, ...mm.profile, bytes: rl.sessionBytes(dtype) });
    const moteDecode = 1 / m.decodeStepS,
      llamaDecode = 1 / l.decodeStepS;
    const moteBound = machine.bandwidth / rl.decodeBytes('mote', dtype),
      llamaBound = machine.bandwidth / rl.decodeBytes('llama', dtype);
    // an engine cannot read its weights faster than the machine reads memory: over the bound by > 5%, the
    // bound (or the byte count) is wrong and no ratio of this run can be trusted
    for (const [engine, rate] of [
      ['mote', moteDecode * rl.decodeBytes('mote', dtype)],
      ['llama.cpp', llamaDecode * rl.decodeBytes('llama', dtype)],
    ]) {
      if (rate > 1.05 * machine.bandwidth) {
        boundViolations.push(
          `${name} ${dtype}: ${engine} decode implies ${fmt(rate / 1e9, 2)} GB/s read, over the measured bound ${fmt(machine.bandwidth / 1e9, 2)} GB/s (${machine.bandwidthKernel}) by ${fmt(100 * (rate / machine.bandwidth - 1))}%`,
        );
      }
    }
    const agree = m.greedy && l.greedy ? m.greedy.findIndex((id, i) => id !== l.greedy[i]) : -2;
    rows.push({
      model: name,
      dtype: `${dtype} (${GGUF_TYPE[dtype]})`,
      'load cold s': fmt(cold.loadS),
      'load cached s': fmt(m.loadS),
      'cold/cached': `${fmt(cold.loadS / m.loadS)}x`,
      'peak GB mote/llama': `${fmt(m.maxRssMB / 1024, 2)}/${fmt(l.maxRssMB / 1024, 2)}`,
      'prefill tok/s mote/llama': `${fmt(PROMPT / m.prefillS)}/${fmt(PROMPT / l.prefillS)}`,
      'prefill ratio': `${fmt(l.prefillS / m.prefillS, 2)}x`,
      'prefill/GEMM bound': `${fmt((100 * PROMPT) / m.prefillS / gemmBound)}%`,
      'decode tok/s mote/llama': `${fmt(moteDecode, 2)}/${fmt(llamaDecode, 2)}`,
      'decode ratio': `${fmt(l.decodeStepS / m.decodeStepS, 2)}x`,
      'decode/BW bound mote/llama': `${fmt((100 * moteDecode) / moteBound)}%/${fmt((100 * llamaDecode) / llamaBound)}%`,
      'foreign cores': fmt(Math.max(m.prefillForeign ?? 0, m.decodeForeign ?? 0, l.prefillForeign ?? 0, l.decodeForeign ?? 0), 2),
    });
    notes.push(
      `${name} ${dtype}: decode bound ${fmt(moteBound, 1)} tok/s (mote, ${fmt(rl.decodeBytes('mote', dtype) / 1e6, 0)} MB/token), ${fmt(llamaBound, 1)} (llama.cpp); prefill GEMM bound ${fmt(gemmBound, 0)} tok/s; greedy ids mote vs llama.cpp: ${agree === -1 ? 'all 33 equal' : agree === -2 ? 'n/a' : `first difference at token ${agree}`}${m.error || l.error || cold.error ? `; errors: ${[cold.error, m.error, l.error].filter(Boolean).join(' | ')}` : ''}`,
    );
  }
  if (!synthAccuracy && dtypes.includes('f32')) {
    const caches = Object.fromEntries(dtypes.map((d) => [d, join(OUT, 'cache', `${name}-${d}`)]));
    synthAccuracy = { name, ...job({ kind: 'accuracy', dir, dtypes: dtypes.filter((d) => d !== 'f32'), caches, seqs: 4, len: 48 }) };
  }
}

// batched decode: fTRI, eval and `mote run` decode many prompts at once; batch 1 is the interactive case
const [bShape, bLayers, bDtypes] = MATRIX[0];
const bDtype = bDtypes.includes('int4') ? 'int4' : bDtypes[0];
const bName = `${bShape}-${bLayers}l`;
log(`batched decode ${bName} ${bDtype}`);
const batched = job({
  kind: 'batch',
  dir: join(OUT, bName),
  dtype: bDtype,
  cache: join(OUT, 'cache', `${bName}-${bDtype}`),
  gguf: join(OUT, bName, `model-${GGUF_TYPE[bDtype]}.gguf`),
  batches: [1, 8, 32, 64],
});

log('accuracy on the organism');
const organismAccuracy = job({
  kind: 'accuracy',
  dir: join(ORGANISM, 'model'),
  prompts: join(ORGANISM, 'prompts', 'eval-dev.jsonl'),
  dtypes: ['int8', 'int4'],
  cache: join(OUT, 'cache', 'organism'),
  gen: 24,
});

// ---- report ---------------------------------------------------------------------------------------------
const lines = [];
const say = (s = '') => {
  lines.push(s);
  console.log(s);
};
say(`mote bench — ${THREADS} threads, prompt ${PROMPT} tokens, decode ${DECODE} greedy tokens (batch 1), ${new Date().toISOString()}`);
say(
  `machine (same run): f32 GEMM ${fmt(machine.flops / 1e9)} GFLOP/s (MatMul 2048^3), memory read ${fmt(machine.bandwidth / 1e9)} GB/s (best of: ${Object.entries(
    machine.kernels,
  )
    .map(([k, v]) => `${k} ${fmt(v / 1e9, 2)}`)
    .join(', ')})`,
);
say(`cpu: ${cpus()[0]?.model}, ISA ${cpuFeatures().join(' ')}; llama.cpp (node-llama-cpp CPU backend): ${await llamaBackend()}`);
console.table(rows);
lines.push(JSON.stringify(rows, null, 1));
for (const n of notes) say(`  ${n}`);
say(
  'ratios: llama.cpp time / mote time at equal bits (> 1 = mote faster); bounds: GEMM FLOP/s / FLOPs per prompt token, bandwidth / weight bytes per decoded token',
);
say(
  `batched decode, ${bName} ${bDtype}: total tokens/s over B sequences of 16 prompt tokens, ${DECODE} greedy tokens each (llama.cpp: B parallel sequences in one context)`,
);
const btab = batched.error
  ? [{ error: batched.error }]
  : Object.keys(batched.mote).map((B) => ({
      batch: Number(B),
      'mote tok/s': fmt(batched.mote[B].tokS),
      'llama.cpp tok/s': fmt(batched.llama[B]?.tokS),
      ratio: `${fmt(batched.mote[B].tokS / batched.llama[B]?.tokS, 2)}x`,
      'foreign cores': fmt(Math.max(batched.mote[B].foreign, batched.llama[B]?.foreign ?? 0), 2),
    }));
console.table(btab);
lines.push(JSON.stringify(btab, null, 1));
say('accuracy vs f32 (teacher-forced next-token top-1 agreement, mean KL(f32||q) in nats, routing top-k overlap):');
const acc = [];
for (const [label, a] of [
  ['organism (227 eval-dev prompts + 24 f32 greedy tokens)', organismAccuracy],
  [`synthetic ${synthAccuracy?.name} (random weights, 4x48 tokens)`, synthAccuracy],
]) {
  if (!a) continue;
  for (const d of ['int8', 'int4'])
    if (a[d])
      acc.push({
        model: label,
        dtype: d,
        tokens: a[d].tokens,
        'top-1 agreement': `${fmt(100 * a[d].top1, 2)}%`,
        'KL nats': a[d].kl.toExponential(2),
        'routing agreement': `${fmt(100 * a[d].routing, 2)}%`,
      });
}
console.table(acc);
lines.push(JSON.stringify(acc, null, 1));
for (const p of profiles) {
  say(
    `profile ${p.name} ${p.dtype}: ms per session.run (prefill ${PROMPT} tokens | decode per token; the weight bytes a decoded token reads in the session and the rate it reads them at)`,
  );
  const tab = p.prefill.map((r) => {
    const ms = p.decode.find((d) => d.session === r.session)?.ms;
    const mb = p.bytes[r.session] / 1e6;
    return {
      session: r.session,
      'prefill ms': fmt(r.ms, 2),
      'decode ms/token': fmt(ms, 2),
      'decode weight MB': fmt(mb, 1),
      'decode GB/s': fmt(mb / ms),
    };
  });
  tab.push({ session: 'outside run() (JS)', 'prefill ms': fmt(p.prefillOther, 2), 'decode ms/token': fmt(p.decodeOther, 2) });
  console.table(tab);
  lines.push(JSON.stringify(tab));
}
const ft = await ftriBench(ORGANISM, THREADS);
say(
  `fTRI on the organism (${ft.prompts} prompts, ${ft.tokens} prompt tokens, prompt scope, batches of 32): plain forward ${fmt(ft.plainS, 2)} s, traced ${fmt(ft.tracedS, 2)} s (A/B difference ${fmt(100 * ft.overhead)}%; time inside the tracing hooks ${fmt(1000 * ft.hookS)} ms = ${fmt(100 * ft.hookShare)}% of the plain forward; target <= 5%); end to end with ranking, maps and report ${fmt(ft.endToEndS, 1)} s (target < 60 s)`,
);
if (boundViolations.length) {
  say('BANDWIDTH BOUND VIOLATED — an engine read weights faster than the machine bound; the bound or the byte counts are wrong:');
  for (const v of boundViolations) say(`  ${v}`);
  process.exitCode = 3;
}
// R1-size analytics (MOTE_BENCH_R1=0 skips it): synthetic routes of 20,000 prompts x 256 tokens, ranked
const r1 = process.env.MOTE_BENCH_R1 === '0' ? null : r1AnalyticsBench();
if (r1) say(r1.text);
say(`bench wall time ${fmt((performance.now() - t0) / 60000)} min`);
writeFileSync(
  join(OUT, 'bench.json'),
  JSON.stringify(
    {
      machine,
      rows,
      batched,
      boundViolations,
      notes,
      organismAccuracy,
      synthAccuracy,
      profiles,
      ftri: ft,
      r1Analytics: r1 && { base: r1.base, full: r1.full },
    },
    null,
    1,
  ),
);
writeFileSync(join(OUT, 'bench.txt'), lines.join('\n') + '\n');
