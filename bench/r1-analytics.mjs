// fTRI analytics at DeepSeek-R1 size on synthetic routes: 58 MoE layers x 256 experts, top-8, 20,000 prompts x
// 256 tokens (2.4 billion expert ids) streamed through the same BatchTracer a served trace uses (topk_ids only,
// no token rows kept), then ranked with permutations and bootstrap. Prints time per phase and peak RSS, beside
// a baseline measured in the same run: the same pipeline at 1/10 of the prompts. Not a model run.
// Env: MOTE_R1_PROMPTS (20000), MOTE_R1_TOKENS (256), MOTE_R1_PERMUTATIONS (200), MOTE_R1_BOOTSTRAP (50).
// Run alone: node bench/r1-analytics.mjs [--child PROMPTS] (pnpm bench runs it as one child process per size).

import { spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { hookName } from '@mote/moe-runtime';
import { BatchTracer, contrastActivations } from '@mote/ftri';
import { createRng } from '@mote/stats';

const L = 58,
  E = 256,
  K = 8,
  F = L * E;
const LAYERS = Array.from({ length: L }, (_, i) => i + 3); // R1: first_k_dense_replace = 3
const PLANTED = Array.from({ length: 10 }, (_, i) => ({ l: (i * 7) % L, e: (i * 37 + 11) % E })); // the "refusal experts"

/** seeded 32-bit words (stats' one generator): each synthetic route takes its fields from one word */
function rng(seed) {
  const r = createRng(seed);
  return () => r.int(2 ** 32);
}

/** Trace `prompts` synthetic prompts (first half side A, planted experts chosen more often there) and rank them. */
function runSize(prompts, tokens, permutations, bootstrap) {
  const tracer = new BatchTracer(
    { moeLayers: LAYERS, expertCount: E, topK: K, routerPoints: ['topk_ids'] },
    { scope: 'all', recordTokens: false },
  );
  const counts = new Float32Array(prompts * F); // [P, F]
  const weights = new Float32Array(prompts * F).fill(NaN); // [P, F] a served trace has no gate weights
  const tok = new Float64Array(prompts);
  const batch = 16,
    N = batch * tokens;
  const ids = new Int32Array(N * K); // [N, K] reused per layer
  const r = rng(12345);
  const t0 = performance.now(),
    c0 = process.cpuUsage();
  let idsSeen = 0;
  for (let s = 0; s < prompts; s += batch) {
    const b = Math.min(batch, prompts - s);
    const tokensInfo = [];
    for (let q = 0; q < b; q++)
      for (let pos = 0; pos < tokens; pos++) tokensInfo.push({ seq: q, pos, tokenId: 0, generated: false, inThink: false });
    tracer.begin(Array.from({ length: b }, (_, q) => s + q));
    for (let li = 0; li < L; li++) {
      const plantedHere = PLANTED.filter((x) => x.l === li).map((x) => x.e);
      for (let q = 0; q < b; q++) {
        const sideA = s + q < prompts / 2;
        for (let t = 0; t < tokens; t++) {
          // 8 distinct experts: base + odd stride * k (mod 256)
          const v = r(),
            base = v & 255,
            stride = ((v >>> 8) & 127) * 2 + 1,
            o = (q * tokens + t) * K;
          for (let k = 0; k < K; k++) ids[o + k] = (base + stride * k) & 255;
          if (sideA && plantedHere.length && (v >>> 16) % 4 === 0) {
            const e = plantedHere[(v >>> 20) % plantedHere.length];
            let has = false;
            for (let k = 0; k < K; k++) has ||= ids[o + k] === e;
            if (!has) ids[o] = e;
          }
        }
      }
      const n = b * tokens;
      tracer.hooks[hookName(LAYERS[li], 'topk_ids')](
        { dtype: 'int32', shape: [n, K], data: ids.subarray(0, n * K) },
        { layer: LAYERS[li], point: 'topk_ids', name: '', tokens: tokensInfo, expertCount: E, topK: K },
      );
      idsSeen += n * K;
    }
    const { agg } = tracer.end();
    counts.set(agg.counts, s * F);
    for (let q = 0; q < b; q++) tok[s + q] = agg.tokens[q];
  }
  const traceS = (performance.now() - t0) / 1000,
    c1 = process.cpuUsage();
  const traceCpuS = (c1.user - c0.user + c1.system - c0.system) / 1e6;
  const act = {
    promptIds: Array.from({ length: prompts }, (_, i) => `p${i}`),
    layers: LAYERS,
    expertCount: E,
    counts,
    weights,
    tokens: tok,
  };
  const a = [],
    bb = [];
  for (let i = 0; i < prompts; i++) (i < prompts / 2 ? a : bb).push(i);
  const t1 = performance.now();
  const { ranking, summary } = contrastActivations(act, a, bb, undefined, { stat: 'diff', permutations, bootstrap, seed: 1, topN: 10 });
  const rankS = (performance.now() - t1) / 1000,
    c2 = process.cpuUsage();
  const rankCpuS = (c2.user - c1.user + c2.system - c1.system) / 1e6;
  const planted = new Set(PLANTED.map((x) => `${LAYERS[x.l]}:${x.e}`));
  const found = ranking.slice(0, 10).filter((e) => planted.has(`${e.layer}:${e.expert}`)).length;
  return {
    prompts,
    tokens,
    ids: idsSeen,
    permutations,
    bootstrap,
    traceS,
    rankS,
    traceCpuS,
    rankCpuS,
    plantedInTop10: found,
    jaccard: summary.jaccard_mean,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    aggregateMiB: (counts.byteLength + weights.byteLength) / 2 ** 20,
  };
}

/** Both sizes, each in its own process (peak RSS is the child's own), and the report lines. */
export function r1AnalyticsBench() {
  const P = Number(process.env.MOTE_R1_PROMPTS ?? 20000),
    T = Number(process.env.MOTE_R1_TOKENS ?? 256);
  const M = Number(process.env.MOTE_R1_PERMUTATIONS ?? 200),
    B = Number(process.env.MOTE_R1_BOOTSTRAP ?? 50);
  const child = (prompts) => {
    const r = spawnSync(
      process.execPath,
      ['--max-old-space-size=8192', fileURLToPath(import.meta.url), '--child', String(prompts), String(T), String(M), String(B)],
      { encoding: 'utf8', maxBuffer: 1 << 20 },
    );
    try {
      return JSON.parse(r.stdout.trim().split('\n').pop());
    } catch {
      return { error: r.stderr.slice(-500) };
    }
  };
  const base = child(Math.max(32, Math.round(P / 10)));
  const full = child(P);
  const lines = [
    `fTRI analytics at R1 size (${L} layers x ${E} experts, top-${K}; ${cpus()[0]?.model ?? '?'} x ${cpus().length}, load average ${loadavg()[0].toFixed(1)}; synthetic routes, topk_ids only; one thread)`,
  ];
  for (const r of [base, full]) {
    if (r.error) {
      lines.push(`  failed: ${r.error}`);
      continue;
    }
    lines.push(
      `  ${String(r.prompts).padStart(6)} prompts x ${r.tokens} tokens = ${(r.ids / 1e9).toFixed(2)} G ids: trace ${r.traceS.toFixed(1)} s wall / ${r.traceCpuS.toFixed(1)} s CPU (${(r.ids / r.traceCpuS / 1e6).toFixed(0)} M ids per CPU-s), rank ${r.rankS.toFixed(1)} s wall / ${r.rankCpuS.toFixed(1)} s CPU (${r.permutations} permutations, ${r.bootstrap} bootstrap), peak RSS ${r.peakRssMiB.toFixed(0)} MiB (aggregates ${r.aggregateMiB.toFixed(0)} MiB), planted in top-10 ${r.plantedInTop10}/10, Jaccard ${r.jaccard.toFixed(2)}`,
    );
  }
  if (!base.error && !full.error)
    lines.push(
      `  ratio full/baseline: prompts ${(full.prompts / base.prompts).toFixed(0)}x, CPU time ${((full.traceCpuS + full.rankCpuS) / (base.traceCpuS + base.rankCpuS)).toFixed(1)}x, peak RSS ${(full.peakRssMiB / base.peakRssMiB).toFixed(1)}x`,
    );
  return { base, full, text: lines.join('\n') };
}

if (process.argv[2] === '--child') {
  const [p, t, m, b] = process.argv.slice(3).map(Number);
  console.log(JSON.stringify(runSize(p, t, m, b)));
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(r1AnalyticsBench().text);
}
