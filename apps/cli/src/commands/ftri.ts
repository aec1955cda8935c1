// mote ftri (trace -> label -> rank -> maps -> report) and mote rank (re-rank existing traces).
// Argument parsing, progress bars and printing only; the work is @mote/ftri's runFtri / rankTraces.

import { Option, type Command } from 'commander';
import { withOutputLock } from '@mote/io';
import { MoteError } from '@mote/tensor-core';
import { labelJudge, loadJudgeConfig, type JudgeConfig } from '@mote/eval';
import {
  DEFAULT_STAT,
  expandGrid,
  loadPromptSet,
  rankTraces,
  runFtri,
  SCOPES,
  STATS,
  type Labeler,
  type RankingEntry,
  type Scope,
  type Stat,
} from '@mote/ftri';
import { progressBar, type Progress } from '../progress.js';
import { openModel, serverOptions, type ServerOpts } from '../served.js';
import {
  batchSizeOption,
  dtypeOption,
  example,
  forceNewOption,
  intArg,
  loadDtype,
  modelOption,
  outOption,
  seedOption,
  threadsOption,
  type DtypeArg,
} from '../options.js';

/**
 * Labels selectable with --label, as judge configs of @mote/eval: `refusal` the general refusal judge (R1, Qwen,
 * gpt-oss phrases and the empty-think form), `organism` the organism README's exact rule, `think-language` the
 * language of the think block (--language, default zh). Each with the contrast it implies.
 */
const LABELS: Record<string, (language: string) => { config: JudgeConfig; contrast: string }> = {
  refusal: () => ({ config: { '*': { refusal: 'refusal' } }, contrast: 'REFUSED:rest' }),
  organism: () => ({ config: { '*': { refusal: 'organism' } }, contrast: 'REFUSED:rest' }),
  'think-language': (language) => ({
    config: { '*': { refusal: { type: 'think-language', language } } },
    contrast: `${language.toUpperCase()}:rest`,
  }),
};

interface StatOpts {
  label?: string;
  judge?: string;
  language: string;
  contrast?: string;
  stat?: string;
  level?: string;
  permutations: number;
  bootstrap: number;
  seed: number;
  topN: number;
  maps: number;
  out: string;
}
interface FtriOpts extends StatOpts, ServerOpts {
  model: string;
  prompts?: string;
  grid?: string;
  scope: string;
  maxNewTokens?: number;
  generate?: number;
  batchSize: number;
  threads?: number;
  dtype: DtypeArg;
  forceNew?: boolean;
  routerProbs?: boolean;
  tokens: boolean;
}
interface RankOpts extends StatOpts {
  traces: string;
}

function statOptions(cmd: Command): Command {
  seedOption(cmd, 'seed of permutations, bootstrap and sampling');
  outOption(cmd, 'output folder');
  return cmd
    .option('--label <kind>', `label responses: ${Object.keys(LABELS).join(' | ')}`)
    .option('--judge <file>', 'label responses with the refusal-slot judges of a judges file (the format of `mote eval --judges`)')
    .option('--language <code>', 'target language of --label think-language (ISO 639-1)', 'zh')
    .option(
      '--contrast <A:B>',
      'groups, categories or labels to contrast (B may be "rest"); default REFUSED:rest with --label refusal, organism or --judge, ZH:rest with --label think-language, else the two groups',
    )
    .option(
      '--stat <s>',
      `ranking statistic: ${STATS.join(' | ')}; count = the paper's score (mean per-prompt selection count, A − B), diff = rate difference`,
      DEFAULT_STAT,
    )
    .option('--level <l>', 'rate statistics only: prompt (mean of per-prompt rates) | token (pooled counts)', 'prompt')
    .option('--permutations <n>', 'permutations for p-values (pair-aware)', intArg('--permutations'), 2000)
    .option('--bootstrap <n>', 'bootstrap resamples for ranking stability', intArg('--bootstrap'), 200)
    .option('--top-n <n>', 'top N for stability, Jaccard and highlighted experts', intArg('--top-n', { min: 1 }), 10)
    .option('--maps <n>', 'representative prompts per side drawn as token x layer maps', intArg('--maps'), 2);
}

function checkStat(o: StatOpts): void {
  if (o.stat && !STATS.includes(o.stat as Stat))
    throw new MoteError('E_INPUT', `--stat "${o.stat}" is not one of ${STATS.join(', ')}`, { field: '--stat' });
  if (o.level && o.level !== 'prompt' && o.level !== 'token')
    throw new MoteError('E_INPUT', `--level "${o.level}" must be prompt or token`, { field: '--level' });
}

/** The labelling judge and its default contrast from --label / --judge (none: undefined). */
function judgeFor(o: StatOpts): { judge: Labeler; contrast: string } | undefined {
  if (o.label !== undefined && o.judge !== undefined)
    throw new MoteError('E_INPUT', 'give --label or --judge, not both', { field: '--judge' });
  if (o.judge !== undefined) return { judge: labelJudge(loadJudgeConfig(o.judge, '--judge'), { file: o.judge }), contrast: 'REFUSED:rest' };
  if (o.label === undefined) return undefined;
  const l = LABELS[o.label];
  if (!l)
    throw new MoteError('E_INPUT', `--label "${o.label}" is not known; use one of ${Object.keys(LABELS).join(', ')}`, { field: '--label' });
  const { config, contrast } = l(o.language);
  return { judge: labelJudge(config), contrast };
}

/** One bar per phase (trace, permutation, bootstrap, maps) on stderr. */
function phaseBars(rate?: { label(): string }): { onProgress: (d: number, t: number, phase: string) => void; stop: () => void } {
  let bar: Progress | null = null,
    current = '';
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
  const sums = ranking[0]?.stat === 'count' || ranking[0]?.stat === 'weight';
  const [ca, cb] = sums ? ['count_a', 'count_b'] : ['rate_a', 'rate_b'];
  process.stdout.write(`rank  layer  expert  ${(ranking[0]?.stat ?? 'score').padEnd(7)}  ${ca}  ${cb}  q        stability\n`);
  for (const e of ranking.slice(0, n)) {
    const [va, vb] = sums ? [e.count_a, e.count_b] : [e.rate_a, e.rate_b];
    process.stdout.write(
      `${String(e.rank).padStart(4)}  ${String(e.layer).padStart(5)}  ${String(e.expert).padStart(6)}  ${f(e.score).padStart(7)}  ${f(va, 3).padStart(7)}  ${f(vb, 3).padStart(7)}  ${e.q.toExponential(1).padStart(7)}  ${f(e.stability, 2)}\n`,
    );
  }
}

export function register(program: Command): void {
  const ftri = program
    .command('ftri')
    .description('fTRI: trace routing over a prompt set, label responses, rank experts by contrast, draw maps and a report')
    .option('--prompts <file>', 'JSONL prompt set {"id","prompt","group"?,"pair_id"?,"category"?}')
    .option('--grid <file>', 'template grid JSON expanded into matched pairs')
    .option('--scope <s>', `tokens to trace: ${SCOPES.join(' | ')}`, 'prompt')
    .option('--router-probs', 'also record the full router_probs per token')
    .option('--no-tokens', 'write prompt-level aggregates only (no token rows, no per-prompt maps)')
    .addOption(new Option('--generate <n>', 'old name of --max-new-tokens').argParser(intArg('--generate')).hideHelp());
  modelOption(ftri);
  // no default: ftri generates (greedy) only to label responses, 64 tokens with --label, else none
  ftri.option(
    '-n, --max-new-tokens <n>',
    'tokens generated per prompt (greedy) to trace and label the response (default 64 with --label, else 0)',
    intArg('--max-new-tokens'),
  );
  for (const add of [batchSizeOption, threadsOption, dtypeOption, forceNewOption, serverOptions]) add(ftri);
  example(ftri, 'mote ftri -m models/organism/model --prompts models/organism/prompts/ftri.jsonl --label refusal -o runs/ftri');
  statOptions(ftri).action(async (o: FtriOpts) =>
    withOutputLock(o.out, {}, async () => {
      if (!o.prompts === !o.grid)
        throw new MoteError('E_INPUT', 'give exactly one of --prompts FILE.jsonl or --grid FILE.json', { field: '--prompts' });
      if (!SCOPES.includes(o.scope as Scope))
        throw new MoteError('E_INPUT', `--scope "${o.scope}" is not one of ${SCOPES.join(', ')}`, { field: '--scope' });
      checkStat(o);
      const labelling = judgeFor(o);
      const judge = labelling?.judge;
      const generate = o.maxNewTokens ?? o.generate ?? (judge ? 64 : 0);
      const prompts = o.prompts ? loadPromptSet(o.prompts) : expandGrid(o.grid!);
      const model = await openModel(o.model, o, { threads: o.threads, dtype: loadDtype(o.dtype) });
      const bars = phaseBars(model.rate);
      const t0 = Date.now();
      try {
        const { ranking, summary } = await runFtri({
          model,
          prompts,
          outDir: o.out,
          scope: o.scope as Scope,
          generate,
          judge,
          contrast: o.contrast ?? labelling?.contrast,
          stat: o.stat as Stat,
          level: o.level as 'prompt' | 'token',
          permutations: o.permutations,
          bootstrap: o.bootstrap,
          seed: o.seed,
          topN: o.topN,
          maps: o.maps,
          batchSize: o.batchSize,
          routerProbs: o.routerProbs,
          recordTokens: o.tokens,
          promptSource: o.prompts ?? o.grid,
          forceNew: o.forceNew,
          onProgress: bars.onProgress,
        });
        bars.stop();
        printTop(ranking, o.topN);
        process.stderr.write(
          `A = ${summary.n_a} prompts, B = ${summary.n_b}; top-${summary.top_n} bootstrap Jaccard ${summary.jaccard_mean.toFixed(3)}; ${((Date.now() - t0) / 1000).toFixed(1)} s\n`,
        );
        process.stderr.write(`wrote traces, ranking.{json,csv,parquet}, maps/ and report.html to ${o.out}\n`);
      } finally {
        bars.stop();
        await model.dispose();
      }
    }),
  );

  const rank = program
    .command('rank')
    .description('re-rank the traces of an earlier `mote ftri` run (no model needed)')
    .requiredOption('--traces <dir>', 'run folder of `mote ftri`');
  example(rank, 'mote rank --traces runs/ftri --contrast sensitive:rest --stat logodds -o runs/rank');
  statOptions(rank).action(async (o: RankOpts) => {
    checkStat(o);
    const labelling = judgeFor(o); // relabels the traced responses
    // as the help says: with --label or --judge the default contrast is the label's; without, name the two sides
    const contrast = o.contrast ?? labelling?.contrast;
    if (!contrast)
      throw new MoteError('E_INPUT', 'mote rank needs --contrast A:B (e.g. sensitive:neutral), or --label refusal for REFUSED:rest', {
        field: '--contrast',
      });
    const bars = phaseBars();
    const ranking = await rankTraces({
      tracesDir: o.traces,
      outDir: o.out,
      contrast,
      stat: o.stat as Stat,
      level: o.level as 'prompt' | 'token',
      judge: labelling?.judge,
      permutations: o.permutations,
      bootstrap: o.bootstrap,
      seed: o.seed,
      topN: o.topN,
      maps: o.maps,
      onProgress: bars.onProgress,
    });
    bars.stop();
    printTop(ranking, o.topN);
    process.stderr.write(`wrote ranking.{json,csv,parquet}, maps/ and report.html to ${o.out}\n`);
  });
}
