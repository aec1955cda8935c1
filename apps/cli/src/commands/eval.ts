// mote eval: run a suite under the baseline and each --policy, judge, and write responses.jsonl,
// summary.json and report.{md,html} (@mote/eval). Argument parsing, progress and printing only.
import { existsSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { MoteError } from '@mote/tensor-core';
import { openModel, serverOptions, type ServerOpts } from '../served.js';
import { loadPolicy } from '@mote/mote';
import { loadSuite, runEval, writeEvalReport, rateCI, DEFAULT_JUDGES, ORGANISM_JUDGES, type JudgeConfig } from '@mote/eval';
import { progressBar } from '../progress.js';
import { intArg, numArg } from './policy.js';

const collect = (v: string, prev: string[] = []) => [...prev, v];

function judgesFrom(arg: string | undefined): JudgeConfig {
  if (!arg || arg === 'default') return DEFAULT_JUDGES;
  if (arg === 'organism') return ORGANISM_JUDGES;
  if (!existsSync(arg)) throw new MoteError('E_INPUT', `--judges "${arg}" is neither "default", "organism" nor a JSON file; fix: pass a file like {"*": {"refusal": "refusal", "answer": "exact"}}`, { field: '--judges' });
  try {
    return JSON.parse(readFileSync(arg, 'utf8')) as JudgeConfig;
  } catch (e) {
    throw new MoteError('E_INPUT', `--judges ${arg} is not valid JSON (${(e as Error).message})`, { file: arg, field: '--judges' });
  }
}

interface Opts extends ServerOpts {
  model: string; suite: string; policy?: string[]; judges?: string; maxNewTokens: number; batchSize: number; temperature?: number;
  topK?: number; topP?: number; seed: number; threads?: number; out: string;
}

export function register(program: Command): void {
  serverOptions(program
    .command('eval')
    .description('evaluate a JSONL suite under the baseline and each policy; resumable (rerun skips finished items)')
    .requiredOption('--model <dir>', 'Hugging Face checkpoint folder')
    .requiredOption('--suite <file>', 'JSONL suite {"id","prompt","category"?,"answer"?}')
    .option('--policy <file>', 'policy JSON (repeat for several)', collect)
    .option('--judges <spec>', 'default | organism | JSON file {"<category>"|"*": {"refusal": ..., "answer": ...}}', 'default')
    .option('--max-new-tokens <n>', 'most new tokens per response (eos counts)', intArg('--max-new-tokens', 1), 64)
    .option('--batch-size <n>', 'sequences per generate call', intArg('--batch-size', 1), 64)
    .option('--temperature <t>', 'sampling temperature (0 = greedy)', numArg('--temperature'))
    .option('--top-k <k>', 'sampling top-k', intArg('--top-k', 1))
    .option('--top-p <p>', 'sampling top-p', numArg('--top-p'))
    .option('--seed <s>', 'sampling seed', intArg('--seed'), 0)
    .option('--threads <n>', 'onnxruntime threads', intArg('--threads', 1))
    .requiredOption('--out <dir>', 'output folder'))
    .action(async (o: Opts) => {
      const judges = judgesFrom(o.judges);
      const suite = loadSuite(o.suite);
      const model = await openModel(o.model, o, { threads: o.threads });
      const policies = (o.policy ?? []).map((f) => loadPolicy(f, model.info));
      const bar = progressBar('eval');
      const res = await runEval({
        model, suite, policies, outDir: o.out, judges, maxNewTokens: o.maxNewTokens, batchSize: o.batchSize,
        temperature: o.temperature, topK: o.topK, topP: o.topP, seed: o.seed,
        onProgress: (p) => bar.update(p.doneAll, p.totalAll, model.rate ? `${p.policy} ${model.rate.label()}` : p.policy),
      });
      bar.stop();
      const settings = { maxNewTokens: o.maxNewTokens, decoding: o.temperature ? `T=${o.temperature} seed ${o.seed}` : 'greedy', judges: o.judges };
      const rep = await writeEvalReport(o.out, res.summary, { model: o.model, suite: o.suite, settings });
      for (const p of res.summary.policies) {
        const cats = Object.entries(p.categories).map(([c, s]) => `${c}: refusal ${rateCI(s.refusal_rate, s.refusal_ci)}${s.accuracy !== undefined ? `, acc ${rateCI(s.accuracy, s.accuracy_ci)}` : ''}`);
        console.log(`${p.name.padEnd(16)} ${cats.join(' | ')}${p.mcnemar_p !== undefined ? ` | McNemar p ${p.mcnemar_p.toPrecision(3)}` : ''}`);
      }
      console.log(`wrote ${res.file}, ${o.out}/summary.json, ${rep.md}, ${rep.html}`);
      await model.dispose();
    });
}
