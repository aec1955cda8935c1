// runFtri: trace a prompt set through a model into a run folder (resumable, batch by batch), label the
// responses, then rank (rank.ts) — maps and report in the same folder. The tracing loop and the run folder's
// manifest only: statistics in contrast.ts, files in store.ts, the contrast's sides in contrast-sides.ts.

import { join } from 'node:path';
import { hashJson, modelHash, writeAtomic } from '@mote/io';
import { openThinkTail, type MoeModel } from '@mote/moe-runtime';
import { MoteError } from '@mote/tensor-core';
import { STATS, type ContrastSummary, type RankingEntry } from './contrast-types.js';
import { checkContrastNames, defaultContrast } from './contrast-sides.js';
import { promptSetHash, type PromptRecord } from './prompts.js';
import { rankRun, type Labeler, type RankOptions } from './rank.js';
import {
  FILES,
  openRunDir,
  readMetas,
  readProgress,
  toLabels,
  writePart,
  type ManifestCore,
  type PromptMeta,
  type TraceFormat,
} from './store.js';
import { BatchTracer, SCOPES, type Scope } from './trace.js';

/** rankTraces re-ranks a run folder without the model; exported here beside runFtri, which ends with it */
export { rankTraces } from './rank.js';

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
