// Task suites: JSONL files of {id, prompt | messages, category?, answer?, ...}, read as they are.
// models/organism/prompts/eval-dev.jsonl is one. Not judges (judges.ts) and not generation (runner.ts).

import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { MoteError } from '@mote/tensor-core';
import type { ChatMessage } from '@mote/moe-runtime';

export interface SuiteItem {
  id: string;
  /** the user turn; with `messages` this is the last user message (for judges and reports) */
  prompt: string;
  /** judges are chosen per category; "default" when the line has none */
  category: string;
  /** the expected final answer, if any (numbers are turned into strings) */
  answer?: string;
  /** a full chat instead of one user prompt */
  messages?: ChatMessage[];
  [extra: string]: unknown;
}
export interface Suite {
  name: string;
  file?: string;
  items: SuiteItem[];
}

/** Read a JSONL suite. Blank lines and lines starting with // are skipped. Errors name file:line and field. */
export function loadSuite(file: string): Suite {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new MoteError('E_IO', `cannot read suite ${file}: ${(e as Error).message}; fix: check the path`, { file });
  }
  const items: SuiteItem[] = [];
  text.split('\n').forEach((line, i) => {
    const t = line.trim();
    if (!t || t.startsWith('//')) return;
    let json: unknown;
    try {
      json = JSON.parse(t);
    } catch (e) {
      throw new MoteError('E_INPUT', `suite ${file}:${i + 1} is not valid JSON (${(e as Error).message}); fix: one JSON object per line`, { file, field: `line ${i + 1}` });
    }
    items.push(suiteItem(json, `${file}:${i + 1}`, `${basename(file).replace(/\.jsonl?$/, '')}-${i + 1}`));
  });
  return makeSuite(items, { name: basename(file).replace(/\.jsonl?$/, ''), file });
}

/** Validate one suite item (as parsed JSON). `fallbackId` is used when the item has no id. */
export function suiteItem(json: unknown, where: string, fallbackId: string): SuiteItem {
  const bad = (field: string, got: unknown, fix: string): never => {
    throw new MoteError('E_INPUT', `suite ${where}: "${field}" = ${JSON.stringify(got)} is invalid; fix: ${fix}`, { field });
  };
  if (json === null || typeof json !== 'object' || Array.isArray(json)) bad('(line)', json, 'write a JSON object {"id", "prompt", "category"?, "answer"?}');
  const o = json as Record<string, unknown>;
  const id = o.id === undefined ? fallbackId : typeof o.id === 'string' || typeof o.id === 'number' ? String(o.id) : bad('id', o.id, 'use a string id');
  let messages: ChatMessage[] | undefined;
  if (o.messages !== undefined) {
    if (!Array.isArray(o.messages) || !o.messages.every((m) => m && typeof m.role === 'string' && typeof m.content === 'string'))
      bad('messages', o.messages, 'use [{"role": "user", "content": "..."}, ...]');
    messages = o.messages as ChatMessage[];
  }
  const lastUser = messages ? [...messages].reverse().find((m) => m.role === 'user')?.content : undefined;
  const prompt = typeof o.prompt === 'string' ? o.prompt : lastUser;
  if (typeof prompt !== 'string' || (!messages && prompt.length === 0)) bad('prompt', o.prompt, 'give a non-empty "prompt" string (or "messages")');
  if (o.category !== undefined && typeof o.category !== 'string') bad('category', o.category, 'use a string category');
  if (o.answer !== undefined && o.answer !== null && typeof o.answer !== 'string' && typeof o.answer !== 'number') bad('answer', o.answer, 'use a string (or number) answer');
  return {
    ...o,
    id,
    prompt: prompt as string,
    category: (o.category as string | undefined) ?? 'default',
    ...(o.answer !== undefined && o.answer !== null ? { answer: String(o.answer) } : {}),
    ...(messages ? { messages } : {}),
  } as SuiteItem;
}

/** A suite from items in memory (ids must be unique). */
export function makeSuite(items: SuiteItem[], opts: { name?: string; file?: string } = {}): Suite {
  const seen = new Map<string, number>();
  items.forEach((it, i) => {
    if (seen.has(it.id))
      throw new MoteError('E_INPUT', `suite ${opts.file ?? opts.name ?? ''}: id "${it.id}" appears twice (items ${seen.get(it.id)! + 1} and ${i + 1}); fix: make ids unique (resume uses them)`, { file: opts.file, field: 'id' });
    seen.set(it.id, i);
  });
  return { name: opts.name ?? 'suite', file: opts.file, items };
}

/** Categories in order of first appearance. */
export function suiteCategories(suite: Suite): string[] {
  return [...new Set(suite.items.map((i) => i.category))];
}

/** The chat messages of an item. */
export function itemMessages(item: SuiteItem): ChatMessage[] {
  return item.messages ?? [{ role: 'user', content: item.prompt }];
}
