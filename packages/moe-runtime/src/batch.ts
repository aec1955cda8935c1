// Generation over a JSONL prompt file ({"id","prompt"} per line) into a JSONL output file
// ({"id","prompt","output"} per line), written batch by batch and resumed without redoing or repeating
// lines. The output is a run file of @mote/io: locked, with its settings in `<out>.mote-run.json`.

import { MoteError } from '@mote/tensor-core';
import { appendJsonl, hashJson, modelHash, openRunFile, readJsonlLines, readText, parseJsonl } from '@mote/io';
import type { GenerateOptions, Policy } from './types.js';
import type { MoeModel } from './moe-model.js';

export interface PromptLine {
  id: string;
  prompt: string;
  [k: string]: unknown;
}

/** Read a JSONL prompt file of {"id"?, "prompt"}; ids default to the line's index and must be unique. */
export function readPromptFile(file: string): PromptLine[] {
  const out: PromptLine[] = [];
  const seen = new Set<string>();
  const fix = 'each line must be {"id": ..., "prompt": ...}';
  for (const { value, line } of parseJsonl<PromptLine>(readText(file, 'prompt file'), file, { what: 'prompt file', fix }).lines) {
    const o = value;
    if (o === null || typeof o !== 'object' || Array.isArray(o))
      throw new MoteError('E_INPUT', `${file}:${line}: not a JSON object; ${fix}`, { file, field: `line ${line}` });
    if (typeof o.prompt !== 'string')
      throw new MoteError('E_INPUT', `${file}:${line}: "prompt" must be a string, got ${JSON.stringify(o.prompt)}`, {
        file,
        field: `line ${line}.prompt`,
      });
    if (o.id !== undefined && typeof o.id !== 'string' && typeof o.id !== 'number')
      throw new MoteError('E_INPUT', `${file}:${line}: "id" must be a string or a number, got ${JSON.stringify(o.id)?.slice(0, 60)}`, {
        file,
        field: `line ${line}.id`,
      });
    o.id = o.id === undefined ? String(line - 1) : String(o.id);
    if (seen.has(o.id))
      throw new MoteError('E_INPUT', `${file}:${line}: duplicate id ${JSON.stringify(o.id)}; ids must be unique`, {
        file,
        field: `line ${line}.id`,
      });
    seen.add(o.id);
    out.push(o);
  }
  return out;
}

export interface GenerateFileOptions extends Omit<GenerateOptions, 'onToken'> {
  input: string;
  output: string;
  /** apply the model's chat template with the generation prompt */
  chat?: boolean;
  /** the weight dtype the model was loaded with, for the run manifest (default f32) */
  dtype?: string;
  /** discard what an earlier run wrote to `output` and start over */
  forceNew?: boolean;
  onProgress?: (done: number, total: number) => void;
}

/** The content of a policy that changes results (its name and description do not). */
export function policyHash(policy: Policy | null | undefined): string | null {
  if (!policy) return null;
  const { name: _n, description: _d, ...content } = policy;
  return hashJson(content);
}

/**
 * Generate an answer for every prompt of `input` into `output`; a rerun with the same settings continues
 * where a killed run stopped (E_RESUME if the settings differ, unless forceNew). Batches are fixed by the
 * prompt file, not by what is left, so a resumed file is byte-identical to an uninterrupted one.
 * @example
 * const model = await loadModel('models/organism/model');
 * await generateFile(model, { input: 'prompts.jsonl', output: 'answers.jsonl', chat: true, maxNewTokens: 32 });
 */
export async function generateFile(model: MoeModel, o: GenerateFileOptions): Promise<{ written: number; skipped: number }> {
  const prompts = readPromptFile(o.input);
  const batch = o.batchSize ?? 16;
  if (!Number.isInteger(batch) || batch < 1)
    throw new MoteError('E_INPUT', `batch size must be an integer >= 1, got ${batch}`, { field: 'batchSize' });
  let hash: string;
  try {
    hash = modelHash(model.info.dir);
  } catch {
    hash = 'info:' + hashJson(model.info); // a model without a folder (synthetic)
  }
  const run = openRunFile(o.output, {
    kind: 'generate',
    inputs: [o.input],
    forceNew: o.forceNew,
    settings: {
      model: hash,
      dtype: o.dtype ?? model.info.dtype ?? 'f32',
      policy: policyHash(o.policy),
      prompts: hashJson(prompts.map((p) => [p.id, p.prompt])),
      chat: !!o.chat,
      maxNewTokens: o.maxNewTokens ?? null,
      temperature: o.temperature ?? null,
      topK: o.topK ?? null,
      topP: o.topP ?? null,
      seed: o.seed ?? null,
      stopTokens: o.stopTokens ?? null,
      stopStrings: o.stopStrings ?? null,
      batchSize: batch,
    },
    recorded: { modelDir: model.info.dir, input: o.input, policyName: o.policy?.name ?? null },
  });
  try {
    const ids = new Set(prompts.map((p) => p.id));
    const done = new Set<string>();
    for (const { value, line } of readJsonlLines<{ id?: unknown }>(o.output, {
      resume: true,
      what: 'output file',
      fix: 'rerun with --force-new to start over',
    })) {
      const id = String(value?.id);
      if (!ids.has(id) || done.has(id))
        throw new MoteError(
          'E_RESUME',
          `${o.output}:${line}: id ${JSON.stringify(value?.id)} is ${done.has(id) ? 'a duplicate' : 'not in the prompts'}; the file cannot be trusted; fix: rerun with --force-new`,
          { file: o.output },
        );
      done.add(id);
    }
    const skipped = done.size;
    let count = done.size;
    o.onProgress?.(count, prompts.length);
    for (let i = 0; i < prompts.length; i += batch) {
      const chunk = prompts.slice(i, i + batch);
      if (chunk.every((p) => done.has(p.id))) continue;
      const toks = chunk.map((p) =>
        o.chat ? model.tokenizer.encodeChat([{ role: 'user', content: p.prompt }]) : model.tokenizer.encode(p.prompt),
      );
      const res = await model.generate(toks, { ...o, batchSize: batch });
      // a kill mid-append leaves a prefix of this batch's lines: write the rest, in order
      appendJsonl(
        o.output,
        chunk.flatMap((p, j) => (done.has(p.id) ? [] : [{ id: p.id, prompt: p.prompt, output: res[j].text }])),
      );
      for (const p of chunk) if (!done.has(p.id)) done.add(p.id), count++;
      o.onProgress?.(count, prompts.length);
    }
    run.record({ completed: new Date().toISOString() });
    return { written: prompts.length - skipped, skipped };
  } finally {
    run.release();
  }
}
