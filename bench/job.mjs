// One bench measurement in its own process, so that its peak memory (maxRSS) is its own: mote cold load,
// mote cached load + prefill + decode, llama.cpp load + prefill + decode, or the accuracy comparisons.
// Usage: node bench/job.mjs '<json>'; prints one JSON line last. Spawned by run.mjs.

import { closeSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '@mote/moe-runtime';
import { sample } from './quiet.mjs';
import { compareModels } from './accuracy.mjs';
import { profileModel } from './profile.mjs';

const job = JSON.parse(process.argv[2]);
const PROMPT = job.prompt ?? 128;
const DECODE = job.decode ?? 32;
const ids = Array.from({ length: PROMPT }, (_, i) => 3 + ((i * 7919) % 1000));
/** Read every file under `path` once (discarding the bytes): load timings then start from a warm OS file cache, so they time mote, not the disk. */
function warmFiles(path) {
  if (!path) return;
  let st;
  try {
    st = statSync(path);
  } catch {
    return;
  }
  if (st.isDirectory()) {
    for (const e of readdirSync(path)) warmFiles(join(path, e));
    return;
  }
  const buf = Buffer.allocUnsafe(16 << 20);
  const fd = openSync(path, 'r');
  try {
    while (readSync(fd, buf, 0, buf.length, null) > 0);
  } finally {
    closeSync(fd);
  }
}
const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)];
};

/** One prefill (PROMPT tokens, logits of the last) and one greedy decode of DECODE tokens: wall s per prefill, median s per decode step. */
function moteEngine(model) {
  return {
    async warm() {
      await model.generate([ids], { maxNewTokens: 2, stopTokens: [] });
    },
    async prefill() {
      await model.forward([ids], { logits: 'last' });
    },
    async decode() {
      const steps = [];
      let last = 0;
      const [g] = await model.generate([ids], {
        maxNewTokens: DECODE + 1,
        stopTokens: [],
        onToken: () => {
          const n = performance.now();
          if (last) steps.push(n - last);
          last = n;
        },
      });
      return { step: median(steps) / 1000, greedy: g.ids };
    },
    async close() {
      await model.dispose();
    },
  };
}

async function llamaEngine(file, threads) {
  process.env.NODE_LLAMA_CPP_SKIP_DOWNLOAD ??= 'true';
  const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
  const llama = await getLlama({
    gpu: false,
    build: 'never',
    usePrebuiltBinaries: true,
    progressLogs: false,
    logLevel: LlamaLogLevel.error,
  });
  const t0 = performance.now();
  const model = await llama.loadModel({ modelPath: file, gpuLayers: 0, useMmap: true });
  const context = await model.createContext({
    contextSize: 512,
    batchSize: 512,
    threads: { ideal: threads, min: threads },
    sequences: 1,
    flashAttention: false,
  });
  const loadS = (performance.now() - t0) / 1000;
  const seq = context.getSequence();
  const prefill = async () => {
    await seq.clearHistory();
    await seq.evaluateWithoutGeneratingNewTokens(ids);
  };
  return {
    loadS,
    warm: prefill,
    prefill,
    async decode() {
      await seq.clearHistory();
      const steps = [];
      const out = [];
      let last = 0;
      for await (const tok of seq.evaluate(ids, { temperature: 0 })) {
        const n = performance.now();
        if (last) steps.push(n - last);
        last = n;
        out.push(tok);
        if (out.length >= DECODE + 1) break;
      }
      return { step: median(steps) / 1000, greedy: out };
    },
    async close() {
      await context.dispose();
      await model.dispose();
    },
  };
}

/**
 * Engines timed in interleaved rounds (prefill A, prefill B, decode A, decode B, ...), so that both meet
 * the same machine; per engine the best prefill and decode among samples with little foreign load.
 */
async function timeRounds(engines, rounds = 3) {
  for (const e of Object.values(engines)) await e.warm();
  const res = Object.fromEntries(Object.keys(engines).map((k) => [k, { prefill: [], decode: [] }]));
  for (let r = 0; r < rounds; r++) {
    for (const [k, e] of Object.entries(engines)) for (let i = 0; i < 2; i++) res[k].prefill.push(await sample(() => e.prefill()));
    for (const [k, e] of Object.entries(engines)) res[k].decode.push(await sample(() => e.decode()));
  }
  const pick = (xs, key) => {
    const clean = xs.filter((x) => x.foreign < 0.15);
    const pool = clean.length ? clean : xs;
    return pool.reduce((a, b) => (key(b) < key(a) ? b : a));
  };
  return Object.fromEntries(
    Object.entries(res).map(([k, v]) => {
      const p = pick(v.prefill, (x) => x.wall);
      const d = pick(v.decode, (x) => x.value.step);
      return [
        k,
        { prefillS: p.wall, prefillForeign: p.foreign, decodeStepS: d.value.step, decodeForeign: d.foreign, greedy: d.value.greedy },
      ];
    }),
  );
}

async function main() {
  const threads = job.threads ?? 2;
  const lopts = { threads, dtype: job.dtype, cache: job.cache };
  if (job.kind === 'mote-cold') {
    if (job.cacheDir) rmSync(job.cacheDir, { recursive: true, force: true });
    for (const f of readdirSync(job.dir)) if (f.endsWith('.safetensors') || f.endsWith('.json')) warmFiles(join(job.dir, f));
    const rssBeforeMB = process.memoryUsage.rss() / 1048576; // this process while a conversion child runs
    const t = performance.now();
    const model = await loadModel(job.dir, lopts);
    const loadS = (performance.now() - t) / 1000;
    const convertPeakMB = (model.cache?.convertPeakBytes ?? 0) / 1048576;
    const r = { loadS, hit: model.cache?.hit, cacheDir: model.cache?.dir, rssBeforeMB, convertPeakMB };
    await model.dispose();
    return r;
  }
  if (job.kind === 'mote-run') {
    // cached load, peak memory of load + a prefill and decode, optional profile
    warmFiles(job.cache);
    const t = performance.now();
    const model = await loadModel(job.dir, lopts);
    const loadS = (performance.now() - t) / 1000;
    const r = { loadS, hit: model.cache?.hit };
    const e = moteEngine(model);
    await e.warm();
    r.prefillS = (await sample(() => e.prefill())).wall;
    r.decodeStepS = (await e.decode()).step;
    if (job.profile) {
      let p = null; // least contended of three profiles
      for (let i = 0; i < 3; i++) {
        const s = await sample(() => profileModel(model, { prompt: PROMPT, decode: 8 }));
        if (!p || s.foreign < p.foreign - 0.05 || (Math.abs(s.foreign - p.foreign) <= 0.05 && s.value.decode.wall < p.value.decode.wall))
          p = { ...s };
      }
      p = p.value;
      const rows = (ph, div) => ph.rows.map((x) => ({ session: x.session, ms: x.ms / div }));
      r.profile = {
        prefill: rows(p.prefill, 1),
        prefillOther: p.prefill.other,
        decode: rows(p.decode, 8),
        decodeOther: p.decode.other / 8,
      };
    }
    await model.dispose();
    return r;
  }
  if (job.kind === 'llama-run') {
    // load time, peak memory of load + a prefill and decode
    warmFiles(job.gguf);
    const e = await llamaEngine(job.gguf, threads);
    if (job.timed) {
      // alone in its process (mote's run is another process of the same bench run: both would not fit)
      const r = await timeRounds({ llama: e }, job.rounds ?? 1);
      await e.close();
      return { loadS: e.loadS, ...r.llama };
    }
    await e.warm();
    await e.decode();
    await e.close();
    return { loadS: e.loadS };
  }
  if (job.kind === 'pair') {
    // mote and llama.cpp timed in the same process, interleaved
    warmFiles(job.cache);
    const mote = moteEngine(await loadModel(job.dir, lopts));
    const llama = await llamaEngine(job.gguf, threads);
    const r = await timeRounds({ mote, llama }, job.rounds ?? 3);
    await mote.close();
    await llama.close();
    return r;
  }
  if (job.kind === 'batch') {
    // total decode tok/s at each batch size: mote rows beside llama.cpp parallel sequences
    warmFiles(job.cache);
    const P = 16;
    const prompts = (B) => Array.from({ length: B }, (_, b) => Array.from({ length: P }, (_, i) => 3 + ((i * 7919 + b * 104729) % 1000)));
    /** decode tok/s of B sequences: (B x DECODE tokens) / (time of prompt + DECODE + 1 tokens - time of prompt + 1 token) */
    const rate = async (B, gen) => {
      await gen(B, 2);
      const t1 = await sample(() => gen(B, 1)),
        tn = await sample(() => gen(B, DECODE + 1));
      return { tokS: (B * DECODE) / Math.max(1e-9, tn.wall - t1.wall), foreign: Math.max(t1.foreign, tn.foreign) };
    };
    // job.engine 'mote' or 'llama' runs one engine (its own process, its own peak RSS); unset runs both
    const out = { mote: {}, llama: {} };
    if (job.engine !== 'llama') {
      const model = await loadModel(job.dir, lopts);
      for (const B of job.batches) out.mote[B] = await rate(B, (b, n) => model.generate(prompts(b), { maxNewTokens: n, stopTokens: [] }));
      await model.dispose();
    }
    if (!job.gguf || job.engine === 'mote') return out; // no GGUF writer for this architecture: mote alone
    process.env.NODE_LLAMA_CPP_SKIP_DOWNLOAD ??= 'true';
    const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
    const llama = await getLlama({
      gpu: false,
      build: 'never',
      usePrebuiltBinaries: true,
      progressLogs: false,
      logLevel: LlamaLogLevel.error,
    });
    const lm = await llama.loadModel({ modelPath: job.gguf, gpuLayers: 0, useMmap: true });
    for (const B of job.batches) {
      const context = await lm.createContext({
        contextSize: B * (P + DECODE + 8),
        batchSize: Math.max(512, B * P),
        sequences: B,
        threads: { ideal: threads, min: threads },
        flashAttention: false,
      });
      const seqs = Array.from({ length: B }, () => context.getSequence());
      // concurrent evaluations of the sequences are batched into one llama_decode per step by node-llama-cpp
      const gen = async (b, n) =>
        Promise.all(
          prompts(b).map(async (p, i) => {
            await seqs[i].clearHistory();
            let k = 0;
            for await (const _ of seqs[i].evaluate(p, { temperature: 0 })) if (++k >= n) break;
          }),
        );
      out.llama[B] = await rate(B, gen);
      await context.dispose();
    }
    await lm.dispose();
    return out;
  }
  if (job.kind === 'accuracy') {
    const cacheOf = (d) => job.caches?.[d] ?? job.cache;
    const ref = await loadModel(job.dir, { threads, cache: cacheOf('f32') });
    let seqs;
    if (job.prompts) {
      const prompts = readFileSync(job.prompts, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).prompt);
      const chat = prompts.map((p) => ref.tokenizer.encodeChat([{ role: 'user', content: p }]));
      const gen = await ref.generate(chat, { maxNewTokens: job.gen ?? 24 });
      seqs = chat.map((p, i) => [...p, ...gen[i].ids]);
    } else {
      seqs = Array.from({ length: job.seqs ?? 4 }, (_, s) =>
        Array.from({ length: job.len ?? 48 }, (_, i) => 3 + ((i * 7919 + s * 104729) % 5000)),
      );
    }
    const out = {};
    for (const dtype of job.dtypes) {
      const q = await loadModel(job.dir, { threads, dtype, cache: cacheOf(dtype) });
      out[dtype] = await compareModels(ref, q, seqs);
      await q.dispose();
    }
    await ref.dispose();
    return out;
  }
  throw new Error(`unknown job ${job.kind}`);
}

const result = await main();
result.maxRssMB = process.resourceUsage().maxRSS / 1024;
console.log(JSON.stringify(result));
process.exit(0);
