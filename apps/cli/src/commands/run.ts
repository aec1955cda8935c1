// mote run EXPERIMENT.json and mote demo: the whole MoTE experiment (fTRI -> policies -> evals -> report),
// resumable; demo runs the bundled organism experiment. Argument parsing, progress and printing only.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { withOutputLock } from '@mote/io';
import { openModel, serverOptions, type ServerOpts } from '../served.js';
import { MoteError } from '@mote/tensor-core';
import { loadExperiment, overrideExperiment, runExperiment, type ExperimentResult, type ExperimentProgress } from '@mote/eval';
import { progressBar, type Progress } from '../progress.js';
import { example, forceNewOption, optionalModelOption, outOption, threadsOption } from '../options.js';

/** The repo root: walk up from this file until models/organism is found. */
export function repoRoot(from = fileURLToPath(import.meta.url)): string {
  let dir = dirname(from);
  for (;;) {
    if (existsSync(join(dir, 'models', 'organism', 'model'))) return dir;
    const up = dirname(dir);
    if (up === dir)
      throw new MoteError(
        'E_IO',
        `cannot find models/organism above ${dirname(from)}; fix: run from a clone of the mote repository, or use \`mote run EXPERIMENT.json\``,
      );
    dir = up;
  }
}

interface RunOpts extends ServerOpts {
  out: string;
  threads?: number;
  forceNew?: boolean;
  model?: string;
  suite?: string;
  ftriPrompts?: string;
  target?: string;
  control?: string;
  capability?: string;
}

function withInputs(cmd: Command): Command {
  threadsOption(cmd);
  forceNewOption(cmd);
  serverOptions(cmd);
  optionalModelOption(cmd, "use this checkpoint instead of the experiment's");
  return cmd
    .option('--suite <file>', "use this JSONL eval suite instead of the experiment's")
    .option('--ftri-prompts <file>', "use this JSONL fTRI prompt set instead of the experiment's")
    .option('--target <category>', 'suite category where the behaviour is measured')
    .option('--control <category>', 'suite category for false refusals')
    .option('--capability <category>', 'suite category with answers for capability');
}

async function runWithProgress(file: string, o: RunOpts): Promise<ExperimentResult> {
  const spec = overrideExperiment(loadExperiment(file), {
    model: o.model,
    suite: o.suite,
    ftriPrompts: o.ftriPrompts,
    categories: { target: o.target, control: o.control, capability: o.capability },
  });
  const { out: outDir, threads } = o;
  let bar: Progress | null = null;
  let stage = '';
  const onProgress = (p: ExperimentProgress) => {
    if (p.stage !== stage) {
      bar?.stop();
      stage = p.stage;
      bar = progressBar(p.stage.padEnd(8));
    }
    bar!.update(p.done, Math.max(p.total, 1), p.detail ?? '');
  };
  const t0 = performance.now();
  // the output is locked before the model loads, so a second run on it fails at once
  const res = await withOutputLock(outDir, {}, async () => {
    const model = o.server ? await openModel(spec.model, o) : undefined;
    return runExperiment(spec, { outDir, onProgress, threads, forceNew: o.forceNew, model });
  });
  (bar as Progress | null)?.stop();
  const a = res.analysis;
  const pc = (x: number) => `${(100 * x).toFixed(1)}%`;
  const B = a.behaviour?.name ?? 'refusal';
  console.log(
    `\n${a.name}: baseline ${B} on ${a.categories.target} ${pc(a.baseline.target.rate)}${a.baseline.control ? `, on ${a.categories.control} ${pc(a.baseline.control.rate)}` : ''}${a.baseline.capability ? `, ${a.categories.capability} accuracy ${pc(a.baseline.capability.rate)}` : ''}`,
  );
  for (const r of a.ranked)
    console.log(
      `  ${r.name.padEnd(14)} ${a.categories.target} ${B} ${pc(r.target.rate).padStart(6)}  McNemar p ${r.mcnemarP.toPrecision(2).padStart(7)}${r.random ? `  random cut ${pc(r.random.cut.mean).padStart(6)} (p ${r.random.empiricalP.toFixed(3)})` : ''}${r.capability ? `  accuracy ${pc(r.capability.rate)}` : ''}`,
    );
  for (const c of a.criteria) console.log(`${c.status.padEnd(10)} ${c.text}`);
  console.log(`\nreport: ${res.report.html}\n        ${res.report.md}\nwall time ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return res;
}

export function register(program: Command): void {
  const run = program
    .command('run <experiment>')
    .description('run an experiment file end to end: fTRI -> policies -> evals -> report (resumable: rerun to continue)');
  outOption(run, 'output folder');
  example(run, 'mote run models/organism/experiment.json -o runs/organism');
  withInputs(run).action(async (file: string, o: RunOpts) => {
    await runWithProgress(resolve(file), o);
  });

  const demo = program
    .command('demo')
    .description(
      'the bundled experiment (models/organism/experiment.json) on the bundled organism model: finds its refusal experts, switches them off, writes the report',
    );
  outOption(demo, 'output folder', 'runs/demo');
  example(demo, 'mote demo -o runs/demo');
  withInputs(demo).action(async (o: RunOpts) => {
    const file = join(repoRoot(), 'models', 'organism', 'experiment.json');
    if (!existsSync(file))
      throw new MoteError('E_IO', `the bundled experiment ${file} is missing; fix: restore it from the repository`, { file });
    await runWithProgress(file, o);
  });
}
