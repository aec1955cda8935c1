// mote ftri (trace -> label -> rank -> maps -> report) and mote rank (re-rank existing traces).
// Argument parsing, progress bars and printing only; the work is @mote/ftri's runFtri / rankTraces.

import type { Command } from 'commander';
import { MoteError } from '@mote/tensor-core';
import { openModel, serverOptions, type ServerOpts } from '../served.js';
import { classifyOrganism } from '@mote/eval';
import { expandGrid, loadPromptSet, rankTraces, runFtri, SCOPES, STATS, type Judge, type RankingEntry, type Scope, type Stat } from '@mote/ftri';
import { progressBar, type Progress } from '../progress.js';

/** Judges selectable with --label. `refusal`: the organism / DeepSeek-R1 rule (REFUSED / REASONED / OTHER). */
const JUDGES: Record<string, Judge> = {
  refusal: ({ response }) => classifyOrganism(response),
};

interface StatOpts {
  contrast?: string; stat?: string; level?: string; permutations: number; bootstrap: number; seed: number; topN: number; maps: number; out: string;
}
interface FtriOpts extends StatOpts, ServerOpts {
  model: string; prompts?: string; grid?: string; scope: string; generate?: number; label?: string; batchSize?: number; threads?: number;
  routerProbs?: boolean; tokens: boolean;
}
interface RankOpts extends StatOpts {
  traces: string; label?: string;
}

const int = (name: string) => (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new MoteError('E_INPUT', `${name} must be a non-negative integer, got "${v}"`, { field: name });
  return n;
};

function statOptions(cmd: Command): Command {
  return cmd
    .option('--contrast <A:B>', 'groups, categories or labels to contrast (B may be "rest"); default REFUSED:rest with --label, else the two groups')
    .option('--stat <s>', `ranking statistic: ${STATS.join(' | ')}`, 'diff')
    .option('--level <l>', 'prompt (mean of per-prompt rates) | token (pooled counts)', 'prompt')
    .option('--permutations <n>', 'permutations for p-values (pair-aware)', int('--permutations'), 2000)
    .option('--bootstrap <n>', 'bootstrap resamples for ranking stability', int('--bootstrap'), 200)
    .option('--seed <n>', 'seed of permutations, bootstrap and sampling', int('--seed'), 0)
    .option('--top-n <n>', 'top N for stability, Jaccard and highlighted experts', int('--top-n'), 10)
    .option('--maps <n>', 'representative prompts per side drawn as token x layer maps', int('--maps'), 2)
    .requiredOption('--out <dir>', 'output folder');
}

function checkStat(o: StatOpts): void {
  if (o.stat && !STATS.includes(o.stat as Stat)) throw new MoteError('E_INPUT', `--stat "${o.stat}" is not one of ${STATS.join(', ')}`, { field: '--stat' });
  if (o.level && o.level !== 'prompt' && o.level !== 'token') throw new MoteError('E_INPUT', `--level "${o.level}" must be prompt or token`, { field: '--level' });
}

function judgeFor(label: string | undefined): Judge | undefined {
  if (label === undefined) return undefined;
  const j = JUDGES[label];
  if (!j) throw new MoteError('E_INPUT', `--label "${label}" is not known; use one of ${Object.keys(JUDGES).join(', ')}`, { field: '--label' });
  return j;
}

/** One bar per phase (trace, permutation, bootstrap, maps) on stderr. */
function phaseBars(rate?: { label(): string }): { onProgress: (d: number, t: number, phase: string) => void; stop: () => void } {
  let bar: Progress | null = null, current = '';
  return {
    onProgress(d, t, phase) {
      if (phase !== current) {
        bar?.stop();
        bar = progressBar(phase.padEnd(11));
        current = phase;
      }
      bar!.update(d, t, phase === 'trace' && rate ? rate.label() : '');
    },
    stop: () => bar?.stop(),
  };
}

function printTop(ranking: RankingEntry[], n: number): void {
  const f = (v: number, d = 4): string => (Number.isFinite(v) ? v.toFixed(d) : '-');
  process.stdout.write(`rank  layer  expert  ${ranking[0]?.stat ?? 'score'}     rate_a  rate_b  q        stability\n`);
  for (const e of ranking.slice(0, n))
    process.stdout.write(`${String(e.rank).padStart(4)}  ${String(e.layer).padStart(5)}  ${String(e.expert).padStart(6)}  ${f(e.score).padStart(7)}  ${f(e.rate_a, 3).padStart(6)}  ${f(e.rate_b, 3).padStart(6)}  ${e.q.toExponential(1).padStart(7)}  ${f(e.stability, 2)}\n`);
}

export function register(program: Command): void {
  statOptions(serverOptions(
    program
      .command('ftri')
      .description('fTRI: trace routing over a prompt set, label responses, rank experts by contrast, draw maps and a report')
      .requiredOption('--model <dir>', 'Hugging Face checkpoint folder')
      .option('--prompts <file>', 'JSONL prompt set {"id","prompt","group"?,"pair_id"?,"category"?}')
      .option('--grid <file>', 'template grid JSON expanded into matched pairs')
      .option('--scope <s>', `tokens to trace: ${SCOPES.join(' | ')}`, 'prompt')
      .option('--generate <n>', 'generate N tokens per prompt (greedy) to trace and label the response (default 64 with --label, else 0)', int('--generate'))
      .option('--label <judge>', `label responses and contrast labels: ${Object.keys(JUDGES).join(' | ')}`)
      .option('--batch-size <n>', 'prompts per model call', int('--batch-size'))
      .option('--threads <n>', 'onnxruntime threads', int('--threads'))
      .option('--router-probs', 'also record the full router_probs per token')
      .option('--no-tokens', 'write prompt-level aggregates only (no token rows, no per-prompt maps)'),
  )).action(async (o: FtriOpts) => {
    if (!o.prompts === !o.grid) throw new MoteError('E_INPUT', 'give exactly one of --prompts FILE.jsonl or --grid FILE.json', { field: '--prompts' });
    if (!SCOPES.includes(o.scope as Scope)) throw new MoteError('E_INPUT', `--scope "${o.scope}" is not one of ${SCOPES.join(', ')}`, { field: '--scope' });
    checkStat(o);
    const judge = judgeFor(o.label);
    const generate = o.generate ?? (judge ? 64 : 0);
    const prompts = o.prompts ? loadPromptSet(o.prompts) : expandGrid(o.grid!);
    const model = await openModel(o.model, o, { threads: o.threads });
    const bars = phaseBars(model.rate);
    const t0 = Date.now();
    try {
      const { ranking, summary } = await runFtri({
        model, prompts, outDir: o.out, scope: o.scope as Scope, generate, judge, contrast: o.contrast, stat: o.stat as Stat, level: o.level as 'prompt' | 'token',
        permutations: o.permutations, bootstrap: o.bootstrap, seed: o.seed, topN: o.topN, maps: o.maps, batchSize: o.batchSize,
        routerProbs: o.routerProbs, recordTokens: o.tokens, promptSource: o.prompts ?? o.grid, onProgress: bars.onProgress,
      });
      bars.stop();
      printTop(ranking, o.topN);
      process.stderr.write(`A = ${summary.n_a} prompts, B = ${summary.n_b}; top-${summary.top_n} bootstrap Jaccard ${summary.jaccard_mean.toFixed(3)}; ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
      process.stderr.write(`wrote traces, ranking.{json,csv,parquet}, maps/ and report.html to ${o.out}\n`);
    } finally {
      bars.stop();
      await model.dispose();
    }
  });

  statOptions(
    program
      .command('rank')
      .description('re-rank the traces of an earlier `mote ftri` run (no model needed)')
      .requiredOption('--traces <dir>', 'run folder of `mote ftri`')
      .option('--label <judge>', `relabel the traced responses: ${Object.keys(JUDGES).join(' | ')}`),
  ).action(async (o: RankOpts) => {
    checkStat(o);
    if (!o.contrast) throw new MoteError('E_INPUT', 'mote rank needs --contrast A:B (e.g. REFUSED:rest or sensitive:neutral)', { field: '--contrast' });
    const bars = phaseBars();
    const ranking = await rankTraces({
      tracesDir: o.traces, outDir: o.out, contrast: o.contrast, stat: o.stat as Stat, level: o.level as 'prompt' | 'token', judge: judgeFor(o.label),
      permutations: o.permutations, bootstrap: o.bootstrap, seed: o.seed, topN: o.topN, maps: o.maps, onProgress: bars.onProgress,
    });
    bars.stop();
    printTop(ranking, o.topN);
    process.stderr.write(`wrote ranking.{json,csv,parquet}, maps/ and report.html to ${o.out}\n`);
  });
}
