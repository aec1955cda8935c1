// Cost of bounded tokenization: mote encodes in a worker thread under a time limit (a catastrophic pre-tokenizer
// regex is a coded error, not a hang); the baseline is the same transformers.js tokenizer called in this thread,
// which is what encode did before. Long and short prompts, alternating samples, best of each; prints the ratios.
// Usage: node bench/encode.mjs [model dir]. Not a test: no assertions.

import { cpus } from 'node:os';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadModel } from '@mote/moe-runtime';
import { cpuFeatures } from './machine.mjs';
import { sample } from './quiet.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = process.argv[2] ?? join(ROOT, 'models', 'organism', 'model');
console.log(`cpu: ${cpus()[0]?.model} · ${cpus().length} cores · ${cpuFeatures().join(' ')}`);

// transformers.js is a dependency of @mote/moe-runtime, not of the root
const hf = createRequire(join(ROOT, 'packages', 'moe-runtime', 'package.json')).resolve('@huggingface/transformers');
const { AutoTokenizer, env } = await import(pathToFileURL(hf).href);
env.allowRemoteModels = false;
env.allowLocalModels = true;
env.localModelPath = '/';
const base = await AutoTokenizer.from_pretrained(dir, { local_files_only: true });
const model = await loadModel(dir, { threads: 1, cache: false });
const prompts = readFileSync(join(ROOT, 'models', 'organism', 'prompts', 'ftri.jsonl'), 'utf8')
  .trim()
  .split('\n')
  .map((l) => JSON.parse(l).prompt)
  .join(' ');
const cases = {
  'long (100,000 chars)': prompts.repeat(Math.ceil(100_000 / prompts.length)).slice(0, 100_000),
  'short (44 chars)': prompts.slice(0, 44),
};
const ROUNDS = Number(process.env.ROUNDS ?? 30);
for (const [name, text] of Object.entries(cases)) {
  const reps = name.startsWith('long') ? 1 : 200;
  const ids = model.tokenizer.encode(text);
  const same = JSON.stringify(ids) === JSON.stringify(base.encode(text));
  let tBase = Infinity,
    tMote = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    tBase = Math.min(
      tBase,
      (
        await sample(() => {
          for (let i = 0; i < reps; i++) base.encode(text);
        })
      ).wall / reps,
    );
    tMote = Math.min(
      tMote,
      (
        await sample(() => {
          for (let i = 0; i < reps; i++) model.tokenizer.encode(text);
        })
      ).wall / reps,
    );
  }
  console.log(
    `${name.padEnd(22)} ${String(ids.length).padStart(6)} tokens  in-thread ${(tBase * 1e3).toFixed(3)} ms  mote ${(tMote * 1e3).toFixed(3)} ms  ratio ${(tMote / tBase).toFixed(3)}  ids identical: ${same}`,
  );
}
await model.dispose();
process.exit(0);
