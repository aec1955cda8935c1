// mote plan: what a model costs and where it can run, from config.json alone (@mote/moe-runtime planModel).
import type { Command } from 'commander';
import { MoteError } from '@mote/tensor-core';
import { formatPlan, planModel, PLAN_DTYPES, type PlanDtype } from '@mote/moe-runtime';
import { example, intArg, numArg } from '../options.js';

interface Opts {
  model: string;
  dtype: string;
  context: number;
  prompts: number;
  tokens: number;
  bandwidth?: number;
  json?: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command('plan')
    .description('weight and KV bytes, FLOPs and bytes per token, whether this machine can run the model, else the vLLM/SGLang commands')
    .requiredOption('-m, --model <dir|config.json>', 'checkpoint folder or its config.json (no weights needed)')
    .option('--dtype <d>', `weight dtype of mote's CPU runtime: ${Object.keys(PLAN_DTYPES).join(' | ')}`, 'f32')
    .option('--context <n>', 'tokens per sequence (KV sizing, attention FLOPs)', intArg('--context', { min: 1 }), 4096)
    .option('--prompts <n>', 'prompts of the planned run', intArg('--prompts', { min: 1 }), 1000)
    .option('--tokens <n>', 'tokens per prompt (prompt + generated) for time estimates', intArg('--tokens', { min: 1 }), 320)
    .option('--bandwidth <GBs>', "this machine's memory bandwidth in GB/s (default 20)", numArg('--bandwidth', { above: 0 }))
    .option('--json', 'print the plan as JSON');
  example(cmd, 'mote plan -m tests/fixtures/deepseek-r1/config.json --context 4096 --prompts 20000');
  cmd.action((o: Opts) => {
    if (!(o.dtype in PLAN_DTYPES))
      throw new MoteError('E_INPUT', `--dtype "${o.dtype}" is not one of ${Object.keys(PLAN_DTYPES).join(', ')}`, { field: '--dtype' });
    const p = planModel({
      model: o.model,
      dtype: o.dtype as PlanDtype,
      context: o.context,
      prompts: o.prompts,
      tokensPerPrompt: o.tokens,
      machine: { bandwidthGBs: o.bandwidth },
    });
    process.stdout.write(o.json ? JSON.stringify(p, null, 2) + '\n' : formatPlan(p));
  });
}
