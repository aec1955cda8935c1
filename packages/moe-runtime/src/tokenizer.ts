// Tokenizer and chat template of a checkpoint folder, through @huggingface/transformers, offline. Encoding runs in
// a worker thread under a time limit: a pre-tokenizer regex from the model folder that backtracks
// catastrophically is a coded error, not a hang (decode and single-token lookups stay in this thread).

import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { MoteError } from '@mote/tensor-core';
import type { ChatMessage, Tokenizer } from './types.js';
import { boundedRenderer, type TemplateLimits } from './chat-render.js';
import { syncWorker, type SyncWorker } from './sync-worker.js';

/** The encoding worker: the same tokenizer, loaded once; replies with the ids of one text. */
const ENCODER = `
const { AutoTokenizer, env } = require(data.transformers);
env.allowRemoteModels = false; env.allowLocalModels = true; env.useFSCache = false; env.localModelPath = '/';
const tok = await AutoTokenizer.from_pretrained(data.dir, { local_files_only: true });
return ({ text, add }) => ({ ids: tok.encode(text, { add_special_tokens: add }) });
`;

// one encoding worker per tokenizer file (loads of the same checkpoint share it; a rewritten file gets a new one)
const encoders = new Map<string, SyncWorker>();
function encoderOf(dir: string): SyncWorker {
  const st = statSync(join(dir, 'tokenizer.json'));
  const key = `${dir}\0${st.size}\0${st.mtimeMs}`;
  let w = encoders.get(key);
  if (!w) {
    const transformers = createRequire(import.meta.url).resolve('@huggingface/transformers');
    w = syncWorker(ENCODER, { dir, transformers });
    encoders.set(key, w);
  }
  return w;
}

export interface EncodeLimits {
  /** most milliseconds one encode may take: `ms` plus `perChar` x the text's length (default 10,000 + 0.05) */
  ms?: number;
  perChar?: number;
}

interface HfTokenizer {
  encode(text: string, o?: { add_special_tokens?: boolean }): number[];
  decode(ids: number[], o?: { skip_special_tokens?: boolean }): string;
  apply_chat_template(m: ChatMessage[], o: Record<string, unknown>): string | number[];
}

/** The tokenizer of a checkpoint folder; its chat template renders in a worker under `limits` (chat-render.ts). */
export async function loadTokenizer(
  dir: string,
  chatTemplate?: string,
  limits?: TemplateLimits,
  encodeLimits: EncodeLimits = {},
): Promise<Tokenizer> {
  const abs = resolve(dir);
  if (!existsSync(join(abs, 'tokenizer.json'))) {
    throw new MoteError(
      'E_TOKENIZER',
      `no tokenizer.json in ${abs}; copy the checkpoint's tokenizer files (tokenizer.json, tokenizer_config.json) into the folder`,
      { file: join(abs, 'tokenizer.json') },
    );
  }
  const { AutoTokenizer, env } = await import('@huggingface/transformers');
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.useFSCache = false;
  env.localModelPath = '/';
  let tok: HfTokenizer;
  try {
    tok = (await AutoTokenizer.from_pretrained(abs, { local_files_only: true })) as unknown as HfTokenizer;
  } catch (e) {
    throw new MoteError('E_TOKENIZER', `could not load the tokenizer in ${abs}: ${(e as Error).message}`, { file: abs });
  }
  const bounded = boundedRenderer(abs, chatTemplate, limits);
  const encoder = encoderOf(abs);
  const encode = (text: string, add: boolean): number[] => {
    const ms = (encodeLimits.ms ?? 10_000) + (encodeLimits.perChar ?? 0.05) * text.length;
    const r = encoder.call<{ ids?: number[]; error?: string }>({ text, add }, ms);
    if ('timedOut' in r) throw slowTokenizer(abs, text.length, ms);
    if (r.reply.error !== undefined)
      throw new MoteError('E_TOKENIZER', `the tokenizer in ${abs} failed to encode ${text.length} characters: ${r.reply.error}`, {
        file: join(abs, 'tokenizer.json'),
      });
    return r.reply.ids!;
  };
  const render = (messages: ChatMessage[], addGenerationPrompt: boolean): string => {
    try {
      return bounded(messages, { add_generation_prompt: addGenerationPrompt });
    } catch (e) {
      if (e instanceof MoteError) throw e;
      throw new MoteError('E_TOKENIZER', `the chat template of ${abs} failed: ${(e as Error).message}; pass a chatTemplate override`, {
        file: join(abs, 'tokenizer_config.json'),
        field: 'chat_template',
      });
    }
  };
  const ids = new Map<string, number | null>();
  return {
    encode: (text, o = {}) => encode(text, o.addSpecialTokens ?? true),
    // transformers.js throws on no ids; an empty continuation (stop token first) decodes to ''
    decode: (x, o = {}) => (x.length ? tok.decode(x, { skip_special_tokens: o.skipSpecialTokens ?? false }) : ''),
    applyChatTemplate: (m, o = {}) => render(m, o.addGenerationPrompt ?? true),
    // the template writes its own special tokens (e.g. <bos>), so the render is encoded without adding more
    encodeChat: (m, o = {}) => encode(render(m, o.addGenerationPrompt ?? true), false),
    tokenId(token) {
      if (!ids.has(token)) {
        const e = tok.encode(token, { add_special_tokens: false });
        ids.set(token, e.length === 1 && tok.decode(e, { skip_special_tokens: false }) === token ? e[0] : null);
      }
      return ids.get(token)!;
    },
  };
}

/** The error for an encode over its time limit, with the tokenizer's regexes (the usual cause) named. */
function slowTokenizer(dir: string, chars: number, ms: number): MoteError {
  const file = join(dir, 'tokenizer.json');
  const patterns: string[] = [];
  try {
    const json = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    const walk = (v: unknown, at: string) => {
      if (v === null || typeof v !== 'object') return;
      const o = v as Record<string, unknown>;
      if (typeof o.Regex === 'string') patterns.push(`${at}: ${JSON.stringify(o.Regex)}`);
      for (const [k, x] of Object.entries(o)) walk(x, `${at}.${k}`);
    };
    walk((json as Record<string, unknown>).pre_tokenizer, 'pre_tokenizer');
    walk((json as Record<string, unknown>).normalizer, 'normalizer');
  } catch {
    /* the message still names the file */
  }
  return new MoteError(
    'E_TOKENIZER',
    `tokenizing ${chars} characters with ${file} did not finish within ${Math.round(ms)} ms: a pre-tokenizer or normalizer regex ` +
      `backtracks catastrophically on this text${patterns.length ? ` (its regexes: ${patterns.join('; ').slice(0, 400)})` : ''}; ` +
      `fix: restore the checkpoint's original tokenizer.json, or rewrite the pattern without nested quantifiers (e.g. (a+)+ -> a+)`,
    { file, field: 'pre_tokenizer' },
  );
}

/**
 * The part of a rendered generation prompt that belongs to the response: an opened, unclosed `<think>` and
 * what follows (R1-style templates open the assistant turn with `<think>\n`); '' otherwise.
 * @example
 *   openThinkTail('<|Assistant|><think>\n'); // '<think>\n'
 */
export function openThinkTail(renderedPrompt: string): string {
  const i = renderedPrompt.lastIndexOf('<think>');
  return i >= 0 && renderedPrompt.indexOf('</think>', i) < 0 ? renderedPrompt.slice(i) : '';
}
