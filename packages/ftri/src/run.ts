// runFtri (trace -> label -> rank -> maps -> report in one run folder) and rankTraces (re-rank an
// existing trace folder without the model). The orchestration only: statistics in contrast.ts, files in
// store.ts / ranking-io.ts, pictures in maps.ts, the page in report.ts.

import { mkdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { acquireLock, hashJson, modelHash, openRunFolder, writeAtomic } from '@mote/io';
import { openThinkTail, type MoeModel } from '@mote/moe-runtime';
import { MoteError } from '@mote/tensor-core';
import { contrastActivations } from './contrast.js';
import { STATS, type ContrastOptions, type ContrastSummary, type RankingEntry } from './contrast-types.js';
import { heatmapSpec, tokenMapSpec } from './maps.js';
import { renderSvg, svgToPng } from './report-page.js';
import { promptSetHash, type PromptRecord } from './prompts.js';
import { writeRanking } from './ranking-io.js';
import { buildReport, type ComparedRanking } from './report.js';
import {
  FILES,
  openRunDir,
  readActivations,
  readMetas,
  readProgress,
  readPromptTokens,
  readRunPrompts,
  writePart,
  type ManifestCore,
  type PromptMeta,
  type TraceFormat,
} from './store.js';
import { BatchTracer, SCOPES, type Scope } from './trace.js';

/** Labels one traced response (e.g. REFUSED / REASONED, or ZH / EN / NONE); gets the prompt's category when it has one. Synchronous. */
export type Labeler = (r: { id: string; prompt: string; response: string; category?: string }) => string;
export type Progress = (done: number, total: number, phase: string) => void;

export interface RankOptions extends ContrastOptions {
  /** "A:B" (default: REFUSED:rest when responses are labelled, else the prompt set's two groups or categories) */
  contrast?: string;
  /** representative prompts per side drawn as token x layer maps (default 2; 0 for none) */
  maps?: number;
  /** write report.html (default true) */
  report?: boolean;
  /** other rankings of the same experts (e.g. expertAttribution's) whose agreement the report shows */
  compare?: ComparedRanking[];
  onProgress?: Progress;
}

export interface RunFtriOptions extends Partial<RankOptions> {
  model: MoeModel;
  prompts: PromptRecord[];
  outDir: string;
  scope?: Scope;
  /** generate this many tokens per prompt (greedy) to trace and label the response (default 0) */
  generate?: number;
  judge?: Labeler;
  batchSize?: number;
  /** also record the full router_probs per token (E floats per row) */
  routerProbs?: boolean;
  /** record token rows (default true); prompt-level aggregates are always written */
  recordTokens?: boolean;
  /** trace file formats (default both); Arrow is always written because rank reads it */
  formats?: TraceFormat[];
  /** where the prompts came from (recorded in the manifest) */
  promptSource?: string;
  /** abort between batches; a later call with the same options resumes */
  signal?: AbortSignal;
  /** discard what an earlier run with other settings left in outDir and start over */
  forceNew?: boolean;
}

export interface RankTracesOptions extends RankOptions {
  tracesDir: string;
  outDir: string;
  /** relabel the traced responses with this judge instead of the labels stored at trace time */
  judge?: Labeler;
}

// ---------------------------------------------------------------------------------------------------

/** Trace prompts through a model, label responses, rank experts, draw maps and write the report. */
export async function runFtri(opts: RunFtriOptions): Promise<{ ranking: RankingEntry[]; outDir: string; summary: ContrastSummary }> {
  const { model, prompts, outDir } = opts;
  const scope = opts.scope ?? 'prompt';
  const generate = opts.generate ?? 0;
  const seed = opts.seed ?? 0;
  if (!SCOPES.includes(scope))
    throw new MoteError('E_INPUT', `unknown scope "${scope}"; use one of ${SCOPES.join(', ')}`, { field: 'scope' });
  if (!Number.isInteger(generate) || generate < 0)
    throw new MoteError('E_INPUT', `generate must be a non-negative integer, got ${generate}`, { field: 'generate' });
  if ((scope === 'generated' || scope === 'answer') && generate === 0)
    throw new MoteError('E_INPUT', `scope "${scope}" traces generated tokens: set generate (--generate N) > 0`, { field: 'scope' });
  if (opts.judge && generate === 0)
    throw new MoteError('E_INPUT', 'a judge labels generated responses: set generate (--generate N) > 0', { field: 'generate' });
  if (opts.stat && !STATS.includes(opts.stat))
    throw new MoteError('E_INPUT', `unknown statistic "${opts.stat}"; use one of ${STATS.join(', ')}`, { field: 'stat' });
  if (!prompts.length) throw new MoteError('E_INPUT', 'the prompt set is empty', { field: 'prompts' });
  const contrast = opts.contrast ?? defaultContrast(prompts, !!opts.judge);
  if (!opts.judge) checkContrastNames(contrast, prompts);
  const batchSize = opts.batchSize ?? (generate > 0 ? 16 : 32);
  if (!Number.isSafeInteger(batchSize) || batchSize < 1)
    throw new MoteError('E_INPUT', `batchSize ${batchSize} must be a whole number >= 1`, { field: 'batchSize' });
  const formats: TraceFormat[] = [...new Set<TraceFormat>(['arrow', ...(opts.formats ?? ['arrow', 'parquet'])])];
  const recordTokens = opts.recordTokens ?? true;
  const info = model.info;

  let hash: string;
  try {
    hash = modelHash(info.dir);
  } catch {
    hash = 'info:' + hashJson(info); // a model without a folder (synthetic)
  }
  const core: ManifestCore = {
    format: 'mote-ftri-traces',
    format_version: 1,
    model: {
      dir: info.dir,
      hash,
      model_type: info.modelType,
      moe_layers: info.moeLayers,
      expert_count: info.expertCount,
      top_k: info.topK,
      ...(info.dtype ? { dtype: info.dtype } : {}),
    },
    prompt_set: { hash: promptSetHash(prompts), count: prompts.length, ...(opts.promptSource ? { source: opts.promptSource } : {}) },
    scope,
    generate,
    seed,
    router_probs: !!opts.routerProbs,
    record_tokens: recordTokens,
    formats,
    // a served model returns topk_ids only: its weight columns are NaN and the gate statistic is refused
    ...(info.routerPoints ? { router_points: info.routerPoints } : {}),
  };
  const run = openRunDir(outDir, core, { batch_size: batchSize }, prompts, { forceNew: opts.forceNew });
  try {
    return await traceAndRank(opts, run, { contrast, seed, scope, generate, batchSize, formats, recordTokens });
  } finally {
    run.run.release();
  }
}

async function traceAndRank(
  opts: RunFtriOptions,
  run: ReturnType<typeof openRunDir>,
  o: { contrast: string; seed: number; scope: Scope; generate: number; batchSize: number; formats: TraceFormat[]; recordTokens: boolean },
): Promise<{ ranking: RankingEntry[]; outDir: string; summary: ContrastSummary }> {
  const { model, prompts, outDir } = opts;
  const { contrast, seed, scope, generate, batchSize, formats, recordTokens } = o;
  const info = model.info;
  const tok = model.tokenizer;
  const thinkOpen = tok.tokenId('<think>'),
    thinkClose = tok.tokenId('</think>');
  const tracer = new BatchTracer(info, {
    scope,
    routerProbs: opts.routerProbs,
    recordTokens,
    thinkTagIds: [thinkOpen, thinkClose].filter((x): x is number => x !== null),
  });
  const thinkPrefix =
    generate > 0 ? openThinkTail(tok.applyChatTemplate([{ role: 'user', content: 'x' }], { addGenerationPrompt: true })) : '';
  const textCache = new Map<number, string>();
  const tokenText = (id: number): string => {
    let s = textCache.get(id);
    if (s === undefined) textCache.set(id, (s = tok.decode([id], { skipSpecialTokens: false })));
    return s;
  };
  const eos = new Set(info.eosTokenIds);

  // Batches are fixed by the whole prompt set (windows of 32 batches, sorted by length within a window so
  // batches pad little), never by what is left: a resumed run traces exactly the batches, and so computes
  // exactly the numbers, of an uninterrupted one. Part n is batch n; a logged part is skipped whole.
  const all = prompts.map((p, index) => ({ p, index }));
  const window = batchSize * 32;
  let done = run.doneIds.size;
  let traced = 0;
  let part = 0;
  const t0 = performance.now();
  opts.onProgress?.(done, prompts.length, 'trace');
  for (let w = 0; w < all.length; w += window) {
    const slice = all.slice(w, w + window);
    if (slice.every(({ p }) => run.doneIds.has(p.id))) {
      part += Math.ceil(slice.length / batchSize);
      continue;
    }
    const win = slice.map(({ p, index }) => ({
      p,
      index,
      ids: tok.encodeChat([{ role: 'user', content: p.prompt }], { addGenerationPrompt: true }),
    }));
    win.sort((x, y) => x.ids.length - y.ids.length || x.index - y.index);
    for (let s = 0; s < win.length; s += batchSize, part++) {
      const batch = win.slice(s, s + batchSize);
      const have = batch.filter((b) => run.doneIds.has(b.p.id)).length;
      if (have === batch.length) continue;
      if (have > 0)
        throw new MoteError(
          'E_RESUME',
          `${outDir}: batch ${part} is partly traced (${have} of ${batch.length} prompts); the folder cannot be trusted; fix: rerun with --force-new`,
          { file: outDir },
        );
      opts.signal?.throwIfAborted();
      tracer.begin(batch.map((b) => b.index));
      let gens: Awaited<ReturnType<MoeModel['generate']>> | null = null;
      if (generate > 0)
        gens = await model.generate(
          batch.map((b) => b.ids),
          { hooks: tracer.hooks, maxNewTokens: generate, batchSize: batch.length, seed },
        );
      else
        await model.forward(
          batch.map((b) => b.ids),
          { hooks: tracer.hooks, logits: 'none' },
        );
      const { agg, rows } = tracer.end();
      const metas: PromptMeta[] = batch.map((b, k) => {
        const m: PromptMeta = {
          id: b.p.id,
          index: b.index,
          n_tokens: agg.tokens[k],
          n_prompt_tokens: agg.promptTokens[k],
          n_generated: agg.generatedTokens[k],
        };
        if (gens) {
          const g = gens[k];
          const ids = g.stopReason === 'stop_token' && g.ids.length && eos.has(g.ids[g.ids.length - 1]) ? g.ids.slice(0, -1) : g.ids;
          m.response = thinkPrefix + tok.decode(ids, { skipSpecialTokens: false });
          m.stop_reason = g.stopReason;
          m.n_generated = g.ids.length;
          if (opts.judge) {
            const label = opts.judge({ id: b.p.id, prompt: b.p.prompt, response: m.response, category: b.p.category });
            if (typeof label !== 'string' || !label)
              throw new MoteError(
                'E_INPUT',
                `the judge returned ${JSON.stringify(label)} for prompt "${b.p.id}"; it must return a non-empty label string`,
                { field: 'judge' },
              );
            m.label = label;
          }
        }
        return m;
      });
      writePart(outDir, {
        part,
        prompts,
        agg,
        rows,
        metas,
        layers: info.moeLayers,
        expertCount: info.expertCount,
        topK: info.topK,
        formats,
        recordTokens,
        tokenText,
      });
      done += batch.length;
      traced += batch.length;
      opts.onProgress?.(done, prompts.length, 'trace');
    }
  }
  const traceSeconds = (performance.now() - t0) / 1000;

  const parts = readProgress(outDir);
  const metas = readMetas(outDir, parts);
  if (opts.judge)
    writeAtomic(
      join(outDir, FILES.labels),
      toLabels(metas, (m) => prompts[m.index].prompt),
    );
  const manifest = {
    ...run.manifest,
    completed: true,
    finished: new Date().toISOString(),
    prompts_traced: metas.length,
    token_rows: parts.reduce((s, p) => s + p.token_rows, 0),
    parts: parts.length,
    trace_seconds: Math.round(traceSeconds * 1000) / 1000,
    trace_prompts_per_second: traced ? Math.round((traced / traceSeconds) * 10) / 10 : null,
  };
  writeAtomic(join(outDir, FILES.manifest), JSON.stringify(manifest, null, 2) + '\n');

  const ranked = await rankRun({ ...opts, tracesDir: outDir, outDir, contrast, seed, judge: undefined });
  run.run.record({ ranked: new Date().toISOString() }); // the folder is complete: ranking, maps and report
  return { ranking: ranked.ranking, outDir, summary: ranked.summary };
}

const toLabels = (metas: PromptMeta[], promptOf: (m: PromptMeta) => string | undefined): string =>
  metas.map((m) => JSON.stringify({ id: m.id, prompt: promptOf(m), response: m.response ?? '', label: m.label })).join('\n') + '\n';

/** Re-rank an existing trace folder (no model needed); writes ranking files, maps and report to outDir. */
export async function rankTraces(opts: RankTracesOptions): Promise<RankingEntry[]> {
  // rank writes beside the traces (under the trace folder's lock) or into its own run folder
  const inPlace = resolve(opts.outDir) === resolve(opts.tracesDir);
  const held = inPlace
    ? acquireLock(join(opts.tracesDir, '.lock'), `the run folder ${opts.tracesDir}`)
    : openRunFolder(opts.outDir, { kind: 'rank', settings: {} });
  try {
    return (await rankRun(opts)).ranking;
  } finally {
    held.release();
  }
}

// ---------------------------------------------------------------------------------------------------

async function rankRun(opts: RankTracesOptions): Promise<{ ranking: RankingEntry[]; summary: ContrastSummary }> {
  const { tracesDir, outDir } = opts;
  const { activations, metas, manifest, parts } = readActivations(tracesDir);
  const points = (manifest as { router_points?: string[] }).router_points;
  if (points && !points.includes('topk_weights') && opts.stat === 'gate')
    throw new MoteError(
      'E_INPUT',
      `${tracesDir}: the traces hold topk_ids only (a served model returns no gate weights), so the "gate" statistic is undefined; use diff, rr, logodds or paired, or trace with the local runtime`,
      { field: 'stat' },
    );
  const prompts = readRunPrompts(tracesDir);
  const recOf = new Map(prompts.map((p) => [p.id, p]));
  if (opts.judge) {
    for (const m of metas) {
      if (m.response === undefined)
        throw new MoteError('E_INPUT', `${tracesDir}: prompt "${m.id}" has no traced response to judge; trace with --generate N`, {
          field: 'judge',
        });
      const rec = recOf.get(m.id)!;
      m.label = opts.judge({ id: m.id, prompt: rec.prompt, response: m.response, category: rec.category });
    }
  }
  const contrast =
    opts.contrast ??
    defaultContrast(
      prompts,
      metas.some((m) => m.label !== undefined),
    );
  const { a: nameA, b: nameB } = parseContrast(contrast);
  const matchA = matcher(nameA),
    matchB = nameB === 'rest' ? null : matcher(nameB);
  const a: number[] = [],
    b: number[] = [];
  metas.forEach((m, i) => {
    const rec = recOf.get(m.id) ?? { id: m.id, prompt: '' };
    if (matchA(rec, m)) a.push(i);
    else if (matchB ? matchB(rec, m) : true) b.push(i);
  });
  if (!a.length || !b.length) {
    throw new MoteError(
      'E_INPUT',
      `contrast "${contrast}" selects ${a.length} prompts for A and ${b.length} for B in ${tracesDir}; both need prompts. Available: ${describeValues(prompts, metas)}`,
      { field: 'contrast' },
    );
  }
  if (matchB) {
    const both = metas.filter((m) => matchA(recOf.get(m.id)!, m) && matchB(recOf.get(m.id)!, m));
    if (both.length)
      throw new MoteError(
        'E_INPUT',
        `contrast "${contrast}": prompt "${both[0].id}" matches both A and B; make the sides disjoint (e.g. label=X:group=Y)`,
        { field: 'contrast' },
      );
  }
  const strata = metas.map((m) => recOf.get(m.id)?.pair_id);
  const included = new Set([...a, ...b].filter((i) => activations.tokens[i] > 0));
  const excluded = metas.length - included.size;
  const { ranking, summary } = contrastActivations(activations, a, b, strata, {
    stat: opts.stat,
    level: opts.level,
    permutations: opts.permutations,
    bootstrap: opts.bootstrap,
    seed: opts.seed,
    topN: opts.topN,
    conf: opts.conf,
    onProgress: opts.onProgress,
  });

  mkdirSync(outDir, { recursive: true });
  const written = writeRanking(outDir, ranking);
  const meta = {
    contrast: { a: nameA, b: nameB, spec: contrast },
    ...summary,
    excluded,
    traces: tracesDir,
    created: new Date().toISOString(),
  };
  writeAtomic(join(outDir, 'ranking.meta.json'), JSON.stringify(meta, null, 2) + '\n');
  const files = [written.json, written.csv, written.parquet, join(outDir, 'ranking.meta.json')];
  const labelCounts = metas.some((m) => m.label !== undefined) ? countBy(metas.map((m) => m.label ?? '(none)')) : null;
  if (opts.judge) {
    writeAtomic(
      join(outDir, FILES.labels),
      toLabels(metas, (m) => recOf.get(m.id)?.prompt),
    );
    files.push(join(outDir, FILES.labels));
  }

  // maps
  const mapsDir = join(outDir, 'maps');
  mkdirSync(mapsDir, { recursive: true });
  const topN = summary.top_n;
  const title = `${nameA} vs ${nameB} · ${summary.stat} (${summary.level} level, scope ${manifest.scope})`;
  opts.onProgress?.(0, 1, 'maps');
  let heatmapSvg: string | null = null;
  heatmapSvg = await renderSvg(heatmapSpec(ranking, { layers: activations.layers, expertCount: activations.expertCount, topN, title }));
  writeAtomic(join(mapsDir, 'heatmap.svg'), heatmapSvg);
  writeAtomic(join(mapsDir, 'heatmap.png'), svgToPng(heatmapSvg));
  files.push(join(mapsDir, 'heatmap.svg'), join(mapsDir, 'heatmap.png'));
  const promptMaps: Array<{ id: string; side: string; prompt: string; response?: string; label?: string; svg: string }> = [];
  const perSide = opts.maps ?? 2;
  if (perSide > 0 && manifest.record_tokens) {
    const topSet = new Set(ranking.slice(0, topN).map((e) => `${e.layer}:${e.expert}`));
    const reps = representatives(
      activations,
      ranking.slice(0, topN),
      a.filter((i) => included.has(i)),
      b.filter((i) => included.has(i)),
      perSide,
      nameA,
      nameB,
    );
    const rows = readPromptTokens(
      tracesDir,
      parts,
      reps.map((r) => metas[r.i].id),
    );
    for (const r of reps) {
      const m = metas[r.i];
      const tr = rows.get(m.id) ?? [];
      if (!tr.length) continue;
      const svg = await renderSvg(
        tokenMapSpec(tr, topSet, {
          title: `${r.side} · ${m.id}${m.label ? ` · ${m.label}` : ''}`,
          subtitle: truncate(recOf.get(m.id)?.prompt ?? '', 140),
        }),
      );
      const base = `prompt-${safeName(m.id)}`;
      writeAtomic(join(mapsDir, `${base}.svg`), svg);
      writeAtomic(join(mapsDir, `${base}.png`), svgToPng(svg, 1.5));
      files.push(join(mapsDir, `${base}.svg`), join(mapsDir, `${base}.png`));
      promptMaps.push({ id: m.id, side: r.side, prompt: recOf.get(m.id)?.prompt ?? '', response: m.response, label: m.label, svg });
    }
  }
  opts.onProgress?.(1, 1, 'maps');
  if (opts.report ?? true) {
    const file = join(outDir, 'report.html');
    files.push(file);
    const html = buildReport({
      manifest,
      summary,
      contrast: { a: nameA, b: nameB },
      ranking,
      heatmapSvg,
      promptMaps,
      labelCounts,
      files: files.map((f) => relative(outDir, f)),
      excluded,
      compare: opts.compare,
    });
    writeAtomic(file, html);
  }
  return { ranking, summary };
}

/** "A:B" -> sides; each side a label/group/category name or key=value; B may be "rest". */
export function parseContrast(spec: string): { a: string; b: string } {
  const m = /^([^:]+):([^:]+)$/.exec(spec?.trim() ?? '');
  if (!m)
    throw new MoteError('E_INPUT', `contrast "${spec}" must look like A:B (e.g. REFUSED:rest, sensitive:neutral, group=x:group=y)`, {
      field: 'contrast',
    });
  return { a: m[1].trim(), b: m[2].trim() };
}

function matcher(name: string): (rec: PromptRecord, meta: PromptMeta) => boolean {
  const eq = name.indexOf('=');
  if (eq > 0) {
    const key = name.slice(0, eq),
      val = name.slice(eq + 1);
    return (rec, meta) => (key === 'label' ? meta.label === val : rec[key] !== undefined && String(rec[key]) === val);
  }
  return (rec, meta) => meta.label === name || rec.group === name || rec.category === name;
}

function defaultContrast(prompts: PromptRecord[], labelled: boolean): string {
  if (labelled) return 'REFUSED:rest';
  for (const key of ['group', 'category'] as const) {
    const vals = [...new Set(prompts.map((p) => p[key]).filter((v): v is string => v !== undefined))];
    if (vals.length === 2) return `${vals[0]}:${vals[1]}`;
  }
  throw new MoteError(
    'E_INPUT',
    `no contrast given and none implied: pass contrast "A:B" (--contrast) naming groups or categories (${describeValues(prompts, [])}), or label responses with a judge (--label)`,
    { field: 'contrast' },
  );
}

function checkContrastNames(spec: string, prompts: PromptRecord[]): void {
  const { a, b } = parseContrast(spec);
  for (const name of b === 'rest' ? [a] : [a, b]) {
    const eq = name.indexOf('=');
    if (eq > 0 && name.slice(0, eq) === 'label')
      throw new MoteError('E_INPUT', `contrast side "${name}" needs labels: pass a judge (--label)`, { field: 'contrast' });
    const m = matcher(name);
    if (!prompts.some((p) => m(p, { id: p.id, index: 0, n_tokens: 0, n_prompt_tokens: 0, n_generated: 0 })))
      throw new MoteError('E_INPUT', `contrast side "${name}" matches no prompt; available: ${describeValues(prompts, [])}`, {
        field: 'contrast',
      });
  }
}

function describeValues(prompts: PromptRecord[], metas: PromptMeta[]): string {
  const parts: string[] = [];
  const labels = countBy(metas.map((m) => m.label).filter((v): v is string => v !== undefined));
  if (Object.keys(labels).length) parts.push(`labels ${fmtCounts(labels)}`);
  for (const key of ['group', 'category'] as const) {
    const c = countBy(prompts.map((p) => p[key]).filter((v): v is string => v !== undefined));
    if (Object.keys(c).length) parts.push(`${key}s ${fmtCounts(c)}`);
  }
  return parts.join('; ') || 'no labels, groups or categories in the prompt set';
}

const fmtCounts = (c: Record<string, number>): string =>
  Object.entries(c)
    .map(([k, v]) => `${k} (${v})`)
    .join(', ');

function countBy(xs: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return out;
}

/**
 * Representative prompts per side: those whose resonance (summed activation rate over the top-ranked
 * experts) is closest to the side's median.
 */
function representatives(
  act: { counts: Float32Array; tokens: Float64Array; layers: number[]; expertCount: number },
  top: RankingEntry[],
  a: number[],
  b: number[],
  k: number,
  nameA: string,
  nameB: string,
): Array<{ i: number; side: string }> {
  const E = act.expertCount,
    F = act.layers.length * E;
  const li = new Map(act.layers.map((l, i) => [l, i]));
  const feats = top.map((e) => li.get(e.layer)! * E + e.expert);
  const res = (i: number): number => feats.reduce((s, f) => s + act.counts[i * F + f], 0) / act.tokens[i];
  const pick = (idx: number[], side: string) => {
    const r = idx.map((i) => ({ i, v: res(i) })).sort((x, y) => x.v - y.v);
    const med = r.length ? r[Math.floor(r.length / 2)].v : 0;
    return r
      .sort((x, y) => Math.abs(x.v - med) - Math.abs(y.v - med) || x.i - y.i)
      .slice(0, k)
      .map(({ i }) => ({ i, side }));
  };
  return [...pick(a, nameA), ...pick(b, nameB)];
}

const truncate = (s: string, n: number): string => (s.length > n ? s.slice(0, n - 1) + '…' : s);
const safeName = (s: string): string => s.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 80);
