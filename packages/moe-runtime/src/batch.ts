// Generation over a JSONL prompt file ({"id","prompt"} per line) into a JSONL output file
// ({"id","prompt","output"} per line), written as results arrive and resumed without redoing lines.

import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { assertRegularFile, MoteError } from '@mote/tensor-core';
import type { GenerateOptions, MoeModel } from './types.js';

export interface PromptLine { id: string; prompt: string; [k: string]: unknown }

export function readPromptFile(file: string): PromptLine[] {
  if (!existsSync(file)) throw new MoteError('E_INPUT', `prompt file ${file} does not exist`, { file });
  assertRegularFile(file, 'E_INPUT', 'prompt file');
  const out: PromptLine[] = [];
  const seen = new Set<string>();
  readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let o: PromptLine;
    try { o = JSON.parse(line); } catch (e) {
      throw new MoteError('E_INPUT', `${file}:${i + 1} is not valid JSON (${(e as Error).message}); each line must be {"id": ..., "prompt": ...}`, { file, field: `line ${i + 1}` });
    }
    if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new MoteError('E_INPUT', `${file}:${i + 1} is ${JSON.stringify(o).slice(0, 40)}, not an object; each line must be {"id": ..., "prompt": ...}`, { file, field: `line ${i + 1}` });
    if (typeof o.prompt !== 'string') throw new MoteError('E_INPUT', `${file}:${i + 1}: "prompt" must be a string, got ${JSON.stringify(o.prompt)}`, { file, field: `line ${i + 1}.prompt` });
    o.id = o.id === undefined ? String(i) : String(o.id);
    if (seen.has(o.id)) throw new MoteError('E_INPUT', `${file}:${i + 1}: duplicate id ${JSON.stringify(o.id)}; ids must be unique`, { file, field: `line ${i + 1}.id` });
    seen.add(o.id);
    out.push(o);
  });
  return out;
}

/** Ids already complete in an output file; a torn last line (crash mid-write) is cut off. */
export function completedIds(out: string): Set<string> {
  if (!existsSync(out)) return new Set();
  assertRegularFile(out, 'E_INPUT', 'output file');
  const text = readFileSync(out, 'utf8');
  const lines = text.split('\n');
  const done = new Set<string>();
  const good: string[] = [];
  for (const line of lines) {
    if (!line.trim()) continue;
    try { done.add(String(JSON.parse(line).id)); good.push(line); } catch { /* torn line: dropped and redone */ }
  }
  const clean = good.length ? good.join('\n') + '\n' : '';
  if (clean !== text) writeFileSync(out, clean);
  return done;
}

export interface GenerateFileOptions extends Omit<GenerateOptions, 'onToken'> {
  input: string;
  output: string;
  /** apply the model's chat template with the generation prompt */
  chat?: boolean;
  onProgress?: (done: number, total: number) => void;
}

export async function generateFile(model: MoeModel, o: GenerateFileOptions): Promise<{ written: number; skipped: number }> {
  const prompts = readPromptFile(o.input);
  const done = completedIds(o.output);
  const todo = prompts.filter((p) => !done.has(p.id));
  const batch = Math.max(1, o.batchSize ?? 16);
  o.onProgress?.(prompts.length - todo.length, prompts.length);
  for (let i = 0; i < todo.length; i += batch) {
    const chunk = todo.slice(i, i + batch);
    const ids = chunk.map((p) => (o.chat ? model.tokenizer.encodeChat([{ role: 'user', content: p.prompt }]) : model.tokenizer.encode(p.prompt)));
    const res = await model.generate(ids, { ...o, batchSize: batch });
    appendFileSync(o.output, chunk.map((p, j) => JSON.stringify({ id: p.id, prompt: p.prompt, output: res[j].text }) + '\n').join(''));
    o.onProgress?.(prompts.length - todo.length + i + chunk.length, prompts.length);
  }
  return { written: todo.length, skipped: prompts.length - todo.length };
}
