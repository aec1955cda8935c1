// mote mtbench: MT-Bench-style capability (multi-turn suite, a judge model's 1-10 ratings, paired differences
// with bootstrap intervals per policy). Argument parsing and printing only; the work is @mote/eval's runMtBench.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { withOutputLock, writeAtomic } from '@mote/io';
import { MoteError } from '@mote/tensor-core';
import { loadModel } from '@mote/moe-runtime';
import { loadPolicy } from '@mote/mote';
import { loadConversations, runMtBench } from '@mote/eval';
import { progressBar } from '../progress.js';
import {
  batchSizeOption,
  dtypeOption,
  example,
  intArg,
  loadDtype,
  modelOption,
  outOption,
  policyArgs,
  policyOption,
  seedOption,
  threadsOption,
  type DtypeArg,
} from '../options.js';

/** "2048" or "math=4096,*=2048" -> a limit or per-category limits. */
function limits(v: string): number | Record<string, number> {
  if (/^\d+$/.test(v)) return Number(v);
  const out: Record<string, number> = {};
  for (const part of v.split(',')) {
    const m = /^([^=]+)=(\d+)$/.exec(part.trim());
    if (!m || Number(m[2]) < 1)
      throw new MoteError('E_INPUT', `--max-new-tokens "${v}": use N or CATEGORY=N,...,*=N (positive integers)`, {
        field: '--max-new-tokens',
      });
    out[m[1]] = Number(m[2]);
  }
  return out;
}

interface Opts {
  model: string;
  suite: string;
  policy?: string[];
  judgeModel?: string;
  maxNewTokens?: string;
  judgeMaxNewTokens: number;
  batchSize: number;
  seed: number;
  threads?: number;
  dtype: DtypeArg;
  out: string;
}

export function register(program: Command): void {
  const cmd = program
    .command('mtbench')
    .description(
      'MT-Bench-style capability: answer multi-turn conversations under the baseline and each policy, rate every answer 1-10 with a judge model, compare paired',
    )
    .requiredOption('--suite <file>', 'JSONL conversations {"id","category"?,"turns":[...],"reference"?:[...]}')
    .option('--judge-model <dir>', 'the judge (default: the model itself)')
    .option('-n, --max-new-tokens <spec>', 'per turn: N or CATEGORY=N,...,*=N (default 2048 so reasoning models finish)')
    .option('--judge-max-new-tokens <n>', "the judge's token budget", intArg('--judge-max-new-tokens', { min: 1 }), 1024);
  for (const add of [modelOption, policyOption, batchSizeOption, threadsOption, dtypeOption]) add(cmd);
  seedOption(cmd, 'bootstrap seed');
  outOption(cmd, 'output folder (scores.jsonl, comparisons.json; not resumable)');
  example(cmd, 'mote mtbench -m models/organism/model --suite conversations.jsonl -p policies/top10-exclude.json -o runs/mtbench');
  cmd.action(async (o: Opts) =>
    withOutputLock(o.out, {}, async () => {
      const conversations = loadConversations(o.suite);
      const model = await loadModel(o.model, { threads: o.threads, dtype: loadDtype(o.dtype) });
      const judge = o.judgeModel ? await loadModel(o.judgeModel, { threads: o.threads, dtype: loadDtype(o.dtype) }) : model;
      try {
        const policies = policyArgs(o.policy).map((f, i) => {
          const p = loadPolicy(f, model.info);
          return { name: p.name ?? `policy${i + 1}`, policy: p };
        });
        const bar = progressBar('answers');
        const r = await runMtBench({
          model,
          judge,
          conversations,
          policies,
          maxNewTokens: o.maxNewTokens ? limits(o.maxNewTokens) : undefined,
          judgeMaxNewTokens: o.judgeMaxNewTokens,
          batchSize: o.batchSize,
          seed: o.seed,
          onProgress: (d, t) => bar.update(d, t),
        });
        bar.stop();
        mkdirSync(o.out, { recursive: true });
        writeAtomic(
          join(o.out, 'scores.jsonl'),
          Object.entries(r.scores)
            .flatMap(([policy, ss]) => ss.map((s) => JSON.stringify({ policy, ...s })))
            .join('\n') + '\n',
        );
        writeAtomic(join(o.out, 'comparisons.json'), JSON.stringify(r.comparisons, null, 1) + '\n');
        const f = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '–');
        for (const [name, ss] of Object.entries(r.scores)) {
          const rated = ss.filter((s) => s.rating !== null);
          console.log(
            `${name.padEnd(16)} mean rating ${f(rated.reduce((s, x) => s + x.rating!, 0) / rated.length)} (${rated.length}/${ss.length} rated; ${ss.filter((s) => s.hitLimit).length} answers at the token limit)`,
          );
        }
        for (const c of r.comparisons)
          console.log(`${c.name.padEnd(16)} − baseline: ${f(c.diff)} [${f(c.ci[0])}, ${f(c.ci[1])}] over ${c.n} rated pairs`);
        console.log(`wrote ${join(o.out, 'scores.jsonl')}, ${join(o.out, 'comparisons.json')}`);
      } finally {
        if (judge !== model) await judge.dispose();
        await model.dispose();
      }
    }),
  );
}
