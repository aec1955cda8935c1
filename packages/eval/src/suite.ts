// Task suites: JSONL files of {id, prompt | messages, category?, answer?, ...}, read as they are.
// models/organism/prompts/eval-dev.jsonl is one. Not judges (judges.ts) and not generation (runner.ts).

import { basename } from 'node:path';
import { parseJsonl, readText } from '@mote/io';
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
  const items: SuiteItem[] = [];
  const { lines } = parseJsonl(readText(file, 'suite'), file, { what: 'suite', comments: true, fix: 'one JSON object per line' });
  for (const { value, line } of lines)
    items.push(suiteItem(value, `${file}:${line}`, `${basename(file).replace(/\.jsonl?$/, '')}-${line}`));
  return makeSuite(items, { name: basename(file).replace(/\.jsonl?$/, ''), file });
}

/** Validate one suite item (as parsed JSON). `fallbackId` is used when the item has no id. */
export function suiteItem(json: unknown, where: string, fallbackId: string): SuiteItem {
  const bad = (field: string, got: unknown, fix: string): never => {
    throw new MoteError('E_INPUT', `suite ${where}: "${field}" = ${JSON.stringify(got)} is invalid; fix: ${fix}`, { field });
  };
  if (json === null || typeof json !== 'object' || Array.isArray(json))
    bad('(line)', json, 'write a JSON object {"id", "prompt", "category"?, "answer"?}');
  const o = json as Record<string, unknown>;
  const id =
    o.id === undefined
      ? fallbackId
      : typeof o.id === 'string' || typeof o.id === 'number'
        ? String(o.id)
        : bad('id', o.id, 'use a string id');
  let messages: ChatMessage[] | undefined;
  if (o.messages !== undefined) {
    if (!Array.isArray(o.messages) || !o.messages.every((m) => m && typeof m.role === 'string' && typeof m.content === 'string'))
      bad('messages', o.messages, 'use [{"role": "user", "content": "..."}, ...]');
    messages = o.messages as ChatMessage[];
  }
  const lastUser = messages ? [...messages].reverse().find((m) => m.role === 'user')?.content : undefined;
  const prompt = typeof o.prompt === 'string' ? o.prompt : lastUser;
  if (typeof prompt !== 'string' || (!messages && prompt.length === 0))
    bad('prompt', o.prompt, 'give a non-empty "prompt" string (or "messages")');
  if (o.category !== undefined && typeof o.category !== 'string') bad('category', o.category, 'use a string category');
  if (o.answer !== undefined && o.answer !== null && typeof o.answer !== 'string' && typeof o.answer !== 'number')
    bad('answer', o.answer, 'use a string (or number) answer');
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
      throw new MoteError(
        'E_INPUT',
        `suite ${opts.file ?? opts.name ?? ''}: id "${it.id}" appears twice (items ${seen.get(it.id)! + 1} and ${i + 1}); fix: make ids unique (resume uses them)`,
        { file: opts.file, field: 'id' },
      );
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
