// rankTraces: rank an existing trace folder without the model — choose the contrast's sides, run the contrast,
// write the ranking files, the maps and the report. Also the last stage of runFtri. Not the tracing (run.ts),
// not the statistics (contrast.ts), files (store.ts, ranking-io.ts), pictures (maps.ts) or page (report.ts).

import { mkdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { acquireLock, openRunFolder, writeAtomic } from '@mote/io';
import { MoteError } from '@mote/tensor-core';
import { contrastActivations } from './contrast.js';
import type { ContrastOptions, ContrastSummary, RankingEntry } from './contrast-types.js';
import { countBy, defaultContrast, selectSides } from './contrast-sides.js';
import { heatmapSpec, tokenMapSpec } from './maps.js';
import { renderSvg, svgToPng } from './report-page.js';
import { writeRanking } from './ranking-io.js';
import { buildReport, type ComparedRanking } from './report.js';
import { FILES, readRunPrompts, toLabels } from './store.js';
import { readActivations, readPromptTokens } from './trace-read.js';

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

export interface RankTracesOptions extends RankOptions {
  tracesDir: string;
  outDir: string;
  /** relabel the traced responses with this judge instead of the labels stored at trace time */
  judge?: Labeler;
}

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

/** Rank the traces of tracesDir into outDir (the caller holds the folder). */
export async function rankRun(opts: RankTracesOptions): Promise<{ ranking: RankingEntry[]; summary: ContrastSummary }> {
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
  const { nameA, nameB, a, b } = selectSides(contrast, metas, recOf, prompts, tracesDir);
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
