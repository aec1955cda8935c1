// mote eval: run a suite under the baseline and each --policy, judge, and write responses.jsonl,
// summary.json and report.{md,html} (@mote/eval). Argument parsing, progress and printing only.
import type { Command } from 'commander';
import { withOutputLock } from '@mote/io';
import { openModel, serverOptions, type ServerOpts } from '../served.js';
import { loadPolicy } from '@mote/mote';
import { loadSuite, runEval, writeEvalReport, rateCI, loadJudgeConfig } from '@mote/eval';
import { progressBar } from '../progress.js';
import {
  batchSizeOption,
  dtypeOption,
  example,
  forceNewOption,
  loadDtype,
  maxNewTokensOption,
  modelOption,
  outOption,
  policyArgs,
  policyOption,
  samplingOptions,
  seedOption,
  threadsOption,
  type DtypeArg,
} from '../options.js';

interface Opts extends ServerOpts {
  model: string;
  suite: string;
  policy?: string[];
  judges?: string;
  maxNewTokens: number;
  batchSize: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  seed: number;
  threads?: number;
  out: string;
  dtype: DtypeArg;
  forceNew?: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command('eval')
    .description('evaluate a JSONL suite under the baseline and each policy; resumable (rerun skips finished items)')
    .requiredOption('--suite <file>', 'JSONL suite {"id","prompt","category"?,"answer"?}')
    .option('--judges <spec>', 'default | organism | JSON file {"<category>"|"*": {"refusal": ..., "answer": ...}}', 'default');
  for (const add of [
    modelOption,
    policyOption,
    maxNewTokensOption,
    batchSizeOption,
    samplingOptions,
    seedOption,
    threadsOption,
    dtypeOption,
    forceNewOption,
    serverOptions,
  ])
    add(cmd);
  outOption(cmd, 'output folder');
  example(
    cmd,
    'mote eval -m models/organism/model --suite models/organism/prompts/eval-dev.jsonl --judges organism -p policies/sweep -o runs/eval',
  );
  cmd.action(async (o: Opts) =>
    withOutputLock(o.out, {}, async () => {
      const judges = loadJudgeConfig(o.judges);
      const suite = loadSuite(o.suite);
      const files = policyArgs(o.policy);
      const model = await openModel(o.model, o, { threads: o.threads, dtype: loadDtype(o.dtype) });
      const policies = files.map((f) => loadPolicy(f, model.info));
      const bar = progressBar('eval');
      const res = await runEval({
        model,
        suite,
        policies,
        outDir: o.out,
        judges,
        maxNewTokens: o.maxNewTokens,
        batchSize: o.batchSize,
        temperature: o.temperature,
        topK: o.topK,
        topP: o.topP,
        seed: o.seed,
        forceNew: o.forceNew,
        onProgress: (p) => bar.update(p.doneAll, p.totalAll, model.rate ? `${p.policy} ${model.rate.label()}` : p.policy),
      });
      bar.stop();
      const settings = {
        maxNewTokens: o.maxNewTokens,
        decoding: o.temperature ? `T=${o.temperature} seed ${o.seed}` : 'greedy',
        judges: o.judges,
      };
      const rep = await writeEvalReport(o.out, res.summary, { model: o.model, suite: o.suite, settings });
      for (const p of res.summary.policies) {
        const cats = Object.entries(p.categories).map(
          ([c, s]) =>
            `${c}: refusal ${rateCI(s.refusal_rate, s.refusal_ci)}${s.accuracy !== undefined ? `, acc ${rateCI(s.accuracy, s.accuracy_ci)}` : ''}`,
        );
        console.log(
          `${p.name.padEnd(16)} ${cats.join(' | ')}${p.mcnemar_p !== undefined ? ` | McNemar p ${p.mcnemar_p.toPrecision(3)}` : ''}`,
        );
      }
      const cut = res.records.filter((r) => r.stop === 'max_new_tokens').length;
      if (cut)
        console.log(
          `${cut} of ${res.records.length} responses stopped at --max-new-tokens ${o.maxNewTokens} (reasoning may be cut; raise it)`,
        );
      console.log(`wrote ${res.file}, ${o.out}/summary.json, ${rep.md}, ${rep.html}`);
      await model.dispose();
    }),
  );
}
