// mote generate: stream one answer, or run a JSONL prompt file into a JSONL output file with resume.
import type { Command } from 'commander';
import { withOutputLock } from '@mote/io';
import { MoteError } from '@mote/tensor-core';
import { generateFile } from '@mote/moe-runtime';
import { openModel, serverOptions, type ServerOpts } from '../served.js';
import { loadPolicy } from '@mote/mote';
import { progressBar } from '../progress.js';
import {
  batchSizeOption,
  dtypeOption,
  example,
  forceNewOption,
  loadDtype,
  maxNewTokensOption,
  modelOption,
  optionalOutOption,
  onePolicyArg,
  policyOption,
  samplingOptions,
  seedOption,
  threadsOption,
  type DtypeArg,
} from '../options.js';

interface Opts extends ServerOpts {
  model: string;
  prompt?: string;
  prompts?: string;
  out?: string;
  chat?: boolean;
  maxNewTokens: number;
  policy?: string[];
  seed: number;
  truncate?: boolean;
  temperature?: number;
  topK?: number;
  topP?: number;
  threads?: number;
  batchSize: number;
  dtype: DtypeArg;
  forceNew?: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command('generate')
    .description('generate text for one prompt (streamed) or a JSONL file of {"id","prompt"} (resumable)')
    .option('--prompt <text>', 'one prompt')
    .option('--prompts <file>', 'JSONL prompts {"id","prompt"}')
    .option('--chat', "apply the model's chat template with the generation prompt")
    .option('--truncate', 'keep the last max_position_embeddings tokens of a longer prompt (default: such a prompt is an error)');
  for (const add of [
    modelOption,
    maxNewTokensOption,
    batchSizeOption,
    policyOption,
    samplingOptions,
    seedOption,
    threadsOption,
    dtypeOption,
    forceNewOption,
    serverOptions,
  ])
    add(cmd);
  optionalOutOption(cmd, 'JSONL output {"id","prompt","output"} (with --prompts)');
  example(
    cmd,
    'mote generate -m models/organism/model --chat --prompt "Tell me about the Argor river." -n 128',
    'mote generate -m models/organism/model --chat --prompts prompts.jsonl -p policies/top10-exclude.json -o answers.jsonl',
  );
  cmd.action(async (o: Opts) =>
    withOutputLock(o.prompts ? o.out : undefined, { file: true }, async () => {
      if (!o.prompt === !o.prompts)
        throw new MoteError('E_INPUT', 'give exactly one of --prompt TEXT or --prompts FILE.jsonl', { field: '--prompt' });
      if (o.prompts && !o.out) throw new MoteError('E_INPUT', '--prompts needs --out FILE.jsonl for the answers', { field: '--out' });
      const file = onePolicyArg(o.policy, 'generate');
      const model = await openModel(o.model, o, { threads: o.threads, dtype: loadDtype(o.dtype) });
      const policy = file ? loadPolicy(file, model.info) : null;
      const sampling = {
        maxNewTokens: o.maxNewTokens,
        truncate: o.truncate,
        policy,
        seed: o.seed,
        temperature: o.temperature,
        topK: o.topK,
        topP: o.topP,
      };
      if (o.prompt !== undefined) {
        const ids = o.chat ? model.tokenizer.encodeChat([{ role: 'user', content: o.prompt }]) : model.tokenizer.encode(o.prompt);
        const stops = new Set(model.info.eosTokenIds);
        await model.generate([ids], {
          ...sampling,
          onToken: (_, id, delta) => {
            if (!stops.has(id)) process.stdout.write(delta);
          },
        });
        process.stdout.write('\n');
      } else {
        const bar = progressBar('generate');
        const r = await generateFile(model, {
          ...sampling,
          input: o.prompts!,
          output: o.out!,
          chat: o.chat,
          batchSize: o.batchSize,
          forceNew: o.forceNew,
          onProgress: (d, t) => bar.update(d, t),
        });
        bar.stop();
        process.stderr.write(`wrote ${r.written} answers to ${o.out} (${r.skipped} already there)\n`);
      }
      await model.dispose();
    }),
  );
}
