// The MoTE experiment end to end: fTRI ranking -> policies (top-N off for several N and modes, matched
// random baselines, top-N forced on) -> evals -> analysis -> one report. Each stage writes its outputs
// under outDir and is skipped when they are present and complete, so a killed run resumes. This file runs
// the stages; the spec is in experiment-spec.ts, the plan of policies in experiment-plan.ts.

import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { hashFile, hashJson, modelHash, openRunFolder, readRunManifest, writeAtomic } from '@mote/io';
import { join } from 'node:path';
import { loadModel, type MoeModel } from '@mote/moe-runtime';
import { loadPromptSet, readRanking, runFtri, type RankedExpert } from '@mote/ftri';
import { writePolicy } from '@mote/mote';
import { loadSuite } from './suite.js';
import { labelJudge, resolveJudges, type JudgeSpec } from './judges.js';
import { runEval, type ResponseRecord } from './runner.js';
import { analyzeExperiment, type ExperimentAnalysis } from './analysis.js';
import { writeExperimentReport } from './experiment-report.js';
import type { WrittenReport } from './report.js';
import { experimentJudges, experimentWarnings, type ExperimentSpec } from './experiment-spec.js';
import { checkCategories, planExperiment } from './experiment-plan.js';

/** the spec's entry points, beside the run that takes the spec */
export { validateExperiment, loadExperiment, experimentWarnings } from './experiment-spec.js';

export interface ExperimentProgress {
  stage: 'load' | 'ftri' | 'policies' | 'eval' | 'report';
  done: number;
  total: number;
  detail?: string;
}
export interface RunExperimentOptions {
  outDir: string;
  /** each of experimentWarnings(spec), before anything runs (default: written to stderr) */
  onWarning?: (message: string) => void;
  onProgress?: (p: ExperimentProgress) => void;
  /** an already loaded model (otherwise spec.model is loaded) */
  model?: MoeModel;
  threads?: number;
  /** discard what an earlier run with other settings left in outDir and start over */
  forceNew?: boolean;
  /** a ranking to use instead of running fTRI (one computed elsewhere; written to ftri/ranking.json) */
  ranking?: RankedExpert[];
  /** overrides the experiment's dtype */
  dtype?: 'f32' | 'int8' | 'int4' | 'auto';
}
export interface ExperimentResult {
  outDir: string;
  analysis: ExperimentAnalysis;
  report: WrittenReport;
  timings: Record<string, number>;
}

function now(): number {
  return performance.now() / 1000;
}

/** Run (or resume) the whole experiment into outDir. */
export async function runExperiment(spec: ExperimentSpec, opts: RunExperimentOptions): Promise<ExperimentResult> {
  const { outDir } = opts;
  const progress = opts.onProgress ?? (() => {});
  const timings: Record<string, number> = {};
  const t0 = now();
  for (const w of experimentWarnings(spec)) (opts.onWarning ?? ((m: string) => process.stderr.write(`warning: ${m}\n`)))(w);
  const { file: _f, ...bare } = spec;
  const hashOf = (f: string) => (existsSync(f) ? hashFile(f) : null);
  let mhash: string | null = null;
  try {
    mhash = opts.model ? modelHash(opts.model.info.dir) : modelHash(spec.model);
  } catch {
    mhash = opts.model ? 'info:' + hashJson(opts.model.info) : null; // a model without a folder (synthetic)
  }
  // the spec and the content of every file it names: a folder holds one experiment
  const run = openRunFolder(outDir, {
    kind: 'experiment',
    forceNew: opts.forceNew,
    settings: {
      ...bare,
      files: { model: mhash, suite: hashOf(spec.suite), ftriPrompts: hashOf(spec.ftri.prompts) },
      givenRanking: opts.ranking ? hashJson(opts.ranking) : null,
    },
  });
  try {
    writeAtomic(join(outDir, 'experiment.json'), JSON.stringify(bare, null, 2) + '\n');
    return await stages();
  } finally {
    run.release();
  }

  async function stages(): Promise<ExperimentResult> {
    progress({ stage: 'load', done: 0, total: 1, detail: spec.model });
    let t = now();
    const model =
      opts.model ?? (await loadModel(spec.model, { threads: opts.threads ?? spec.threads, dtype: opts.dtype ?? spec.dtype ?? 'auto' }));
    const suite = loadSuite(spec.suite);
    const judgeConfig = experimentJudges(spec);
    const judgesFor = resolveJudges(judgeConfig, { gradingModel: model, file: spec.file });
    checkCategories(spec, suite);
    timings.load = now() - t;
    progress({ stage: 'load', done: 1, total: 1 });

    // 1. fTRI ranking
    t = now();
    const ftriDir = join(outDir, 'ftri');
    const rankingFile = join(ftriDir, 'ranking.json');
    let ranking: RankedExpert[] | null = opts.ranking ?? null;
    if (ranking) {
      mkdirSync(ftriDir, { recursive: true });
      writeAtomic(rankingFile, JSON.stringify(ranking, null, 1) + '\n');
    }
    // the stage is done when runFtri recorded its folder complete (ranking, maps and report all written)
    else if (readRunManifest(ftriDir)?.recorded.ranked && existsSync(rankingFile)) {
      try {
        ranking = readRanking(rankingFile);
        if (!ranking.length) ranking = null;
      } catch {
        ranking = null; // torn or foreign file: redo the stage
      }
    }
    if (ranking) {
      progress({ stage: 'ftri', done: 1, total: 1, detail: 'ranking.json present, skipped' });
    } else {
      const ftriJudge = labelJudge(spec.ftri.judge ? { '*': { refusal: spec.ftri.judge as JudgeSpec } } : judgeConfig, { file: spec.file });
      const prompts = loadPromptSet(spec.ftri.prompts);
      await runFtri({
        model,
        prompts,
        outDir: ftriDir,
        generate: spec.ftri.generate,
        contrast: spec.ftri.contrast,
        stat: spec.ftri.stat,
        scope: spec.ftri.scope,
        permutations: spec.ftri.permutations,
        bootstrap: spec.ftri.bootstrap,
        seed: spec.ftri.seed,
        batchSize: spec.ftri.batchSize ?? spec.generation.batchSize,
        promptSource: spec.ftri.prompts,
        judge: ftriJudge,
        onProgress: (done, total, phase) => progress({ stage: 'ftri', done, total, detail: phase }),
      });
      // read back what runFtri wrote, so a fresh and a resumed run analyse the very same objects
      ranking = readRanking(rankingFile);
    }
    timings.ftri = now() - t;

    // 2. policies (deterministic from the ranking and seeds; rewritten each time, cheap)
    t = now();
    const plan = planExperiment(spec, ranking, model, suite);
    const polDir = join(outDir, 'policies');
    const all = [...plan.ranked, ...plan.force, ...plan.random, ...plan.forceRandom];
    all.forEach((p, i) => {
      writePolicy(join(polDir, `${p.name}.json`), p.policy);
      if (i % 50 === 49 || i === all.length - 1) progress({ stage: 'policies', done: i + 1, total: all.length });
    });
    writeAtomic(
      join(polDir, 'index.json'),
      JSON.stringify(
        {
          ranked: plan.ranked.map((r) => r.name),
          force: plan.force.map((r) => r.name),
          random: plan.random.map((r) => r.name),
          randomIds: plan.randomIds,
          forceCategories: plan.forceCategories,
          forceRandom: plan.forceRandom.map((r) => r.name),
          forceRandomIds: plan.forceRandomIds,
        },
        null,
        1,
      ) + '\n',
    );
    timings.policies = now() - t;

    // 3. evals (resumable per item)
    t = now();
    const g = spec.generation;
    const evalRes = await runEval({
      model,
      suite,
      policies: plan.runs,
      outDir: join(outDir, 'eval'),
      judges: judgesFor,
      maxNewTokens: g.maxNewTokens,
      batchSize: g.batchSize,
      temperature: g.temperature,
      topK: g.topK,
      topP: g.topP,
      seed: g.seed,
      onProgress: (p) => progress({ stage: 'eval', done: p.doneAll, total: p.totalAll, detail: p.policy }),
    });
    timings.eval = now() - t;

    // 4. analysis + report
    t = now();
    progress({ stage: 'report', done: 0, total: 1 });
    const analysis = analyzeExperiment({
      spec,
      ranking,
      plan,
      records: evalRes.records as ResponseRecord[],
      summary: evalRes.summary,
      suite,
    });
    timings.report = now() - t; // provisional, so the report can show it
    timings.total = now() - t0;
    const prev = existsSync(join(outDir, 'timings.json'))
      ? (JSON.parse(readFileSync(join(outDir, 'timings.json'), 'utf8')) as Record<string, number>[])
      : [];
    const report = await writeExperimentReport(outDir, analysis, { timings, model: model.info, previousRuns: prev.length });
    timings.report = now() - t;
    timings.total = now() - t0;
    writeAtomic(join(outDir, 'results.json'), JSON.stringify({ ...analysis, timings }, null, 1) + '\n');
    writeAtomic(join(outDir, 'timings.json'), JSON.stringify([...prev, timings], null, 1) + '\n');
    progress({ stage: 'report', done: 1, total: 1, detail: report.html });
    if (!opts.model) await model.dispose();
    return { outDir, analysis, report, timings };
  }
}
