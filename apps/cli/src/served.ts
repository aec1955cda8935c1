// `--server URL --engine vllm|sglang`: the flags that put a command on a served model instead of the local
// runtime, and the one function that opens either. With --server, --model names the local folder that holds
// config.json, the tokenizer and the chat template; no weights are read.
import type { Command } from 'commander';
import { MoteError } from '@mote/tensor-core';
import { connectModel, ENGINES, loadModel, type Engine, type MoeModel } from '@mote/moe-runtime';
import { intArg, numArg } from './options.js';

export interface ServerOpts {
  server?: string;
  engine?: string;
  concurrency?: number;
  timeout?: number;
}

export function serverOptions(cmd: Command): Command {
  return cmd
    .option(
      '--server <url>',
      'run on a vLLM / SGLang server (or `mote serve`) started with --enable-return-routed-experts; --model then only needs config + tokenizer',
    )
    .option('--engine <e>', `the server's protocol: ${ENGINES.join(' | ')}`, 'vllm')
    .option('--concurrency <n>', 'requests in flight with --server', intArg('--concurrency', { min: 1, max: 1024 }), 16)
    .option('--timeout <s>', 'seconds per request with --server', numArg('--timeout', { above: 0 }), 600);
}

/** tokens/s over the requests so far, for progress labels */
export interface Rate {
  label(): string;
}

/** The local runtime, or a served model when --server is given. */
export async function openModel(
  dir: string,
  o: ServerOpts,
  local: Parameters<typeof loadModel>[1] = {},
): Promise<MoeModel & { rate?: Rate }> {
  if (!o.server) return loadModel(dir, local);
  if (!(ENGINES as readonly string[]).includes(o.engine ?? ''))
    throw new MoteError('E_INPUT', `--engine "${o.engine}" is not one of ${ENGINES.join(', ')}`, { field: '--engine' });
  const t0 = performance.now();
  let prompts = 0,
    tokens = 0;
  const m = await connectModel({
    url: o.server,
    engine: o.engine as Engine,
    tokenizer: dir,
    concurrency: o.concurrency,
    timeoutMs: (o.timeout ?? 600) * 1000,
    onRequest: (r) => {
      prompts++;
      tokens += r.promptTokens + r.generatedTokens;
    },
  });
  const rate: Rate = {
    label: () => {
      const s = (performance.now() - t0) / 1000;
      return `${(prompts / s).toFixed(1)} prompts/s ${(tokens / s).toFixed(0)} tok/s`;
    },
  };
  return Object.assign(m, { rate });
}
