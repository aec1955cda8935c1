// mote generate: stream one answer, or run a JSONL prompt file into a JSONL output file with resume.
import type { Command } from 'commander';
import { MoteError } from '@mote/tensor-core';
import { generateFile } from '@mote/moe-runtime';
import { openModel, serverOptions, type ServerOpts } from '../served.js';
import { loadPolicy } from '@mote/mote';
import { progressBar } from '../progress.js';

interface Opts extends ServerOpts {
  model: string; prompt?: string; prompts?: string; out?: string; chat?: boolean; maxNewTokens: number; policy?: string;
  seed?: number; temperature?: number; topK?: number; topP?: number; threads?: number; batchSize: number; dtype?: 'f32' | 'int8' | 'int4';
}

export function register(program: Command): void {
  serverOptions(program
    .command('generate')
    .description('generate text for one prompt (streamed) or a JSONL file of {"id","prompt"} (resumable)')
    .requiredOption('--model <dir>', 'Hugging Face checkpoint folder')
    .option('--prompt <text>', 'one prompt')
    .option('--prompts <file>', 'JSONL prompts {"id","prompt"}')
    .option('--out <file>', 'JSONL output {"id","prompt","output"} (with --prompts)')
    .option('--chat', "apply the model's chat template with the generation prompt")
    .option('--max-new-tokens <n>', 'most new tokens per answer', (v) => Number(v), 64)
    .option('--policy <file>', 'intervention policy JSON')
    .option('--seed <n>', 'sampling seed', (v) => Number(v))
    .option('--temperature <t>', 'sampling temperature (0 = greedy)', (v) => Number(v))
    .option('--top-k <n>', 'sample from the k most likely tokens', (v) => Number(v))
    .option('--top-p <p>', 'nucleus sampling mass', (v) => Number(v))
    .option('--batch-size <n>', 'sequences decoded together', (v) => Number(v), 16)
    .option('--threads <n>', 'onnxruntime threads', (v) => Number(v))
    .option('--dtype <dtype>', 'weight dtype: f32 (default, exact), int8, int4 (cached after the first load)'))
    .action(async (o: Opts) => {
      if (!o.prompt === !o.prompts) throw new MoteError('E_INPUT', 'give exactly one of --prompt TEXT or --prompts FILE.jsonl', { field: '--prompt' });
      if (o.prompts && !o.out) throw new MoteError('E_INPUT', '--prompts needs --out FILE.jsonl for the answers', { field: '--out' });
      const model = await openModel(o.model, o, { threads: o.threads, dtype: o.dtype });
      const policy = o.policy ? loadPolicy(o.policy, model.info) : null;
      const sampling = { maxNewTokens: o.maxNewTokens, policy, seed: o.seed, temperature: o.temperature, topK: o.topK, topP: o.topP };
      if (o.prompt !== undefined) {
        const ids = o.chat ? model.tokenizer.encodeChat([{ role: 'user', content: o.prompt }]) : model.tokenizer.encode(o.prompt);
        const stops = new Set(model.info.eosTokenIds);
        await model.generate([ids], { ...sampling, onToken: (_, id, delta) => { if (!stops.has(id)) process.stdout.write(delta); } });
        process.stdout.write('\n');
      } else {
        const bar = progressBar('generate');
        const r = await generateFile(model, { ...sampling, input: o.prompts!, output: o.out!, chat: o.chat, batchSize: o.batchSize, onProgress: (d, t) => bar.update(d, t) });
        bar.stop();
        process.stderr.write(`wrote ${r.written} answers to ${o.out} (${r.skipped} already there)\n`);
      }
      await model.dispose();
    });
}
