// Tokenizer and chat template of a checkpoint folder, through @huggingface/transformers, offline.

import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { MoteError } from '@mote/tensor-core';
import type { ChatMessage, Tokenizer } from './types.js';
import { boundedRenderer, type TemplateLimits } from './chat-render.js';

interface HfTokenizer {
  encode(text: string, o?: { add_special_tokens?: boolean }): number[];
  decode(ids: number[], o?: { skip_special_tokens?: boolean }): string;
  apply_chat_template(m: ChatMessage[], o: Record<string, unknown>): string | number[];
}

/** The tokenizer of a checkpoint folder; its chat template renders in a worker under `limits` (chat-render.ts). */
export async function loadTokenizer(dir: string, chatTemplate?: string, limits?: TemplateLimits): Promise<Tokenizer> {
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
    encode: (text, o = {}) => tok.encode(text, { add_special_tokens: o.addSpecialTokens ?? true }),
    // transformers.js throws on no ids; an empty continuation (stop token first) decodes to ''
    decode: (x, o = {}) => (x.length ? tok.decode(x, { skip_special_tokens: o.skipSpecialTokens ?? false }) : ''),
    applyChatTemplate: (m, o = {}) => render(m, o.addGenerationPrompt ?? true),
    // the template writes its own special tokens (e.g. <bos>), so the render is encoded without adding more
    encodeChat: (m, o = {}) => tok.encode(render(m, o.addGenerationPrompt ?? true), { add_special_tokens: false }),
    tokenId(token) {
      if (!ids.has(token)) {
        const e = tok.encode(token, { add_special_tokens: false });
        ids.set(token, e.length === 1 && tok.decode(e, { skip_special_tokens: false }) === token ? e[0] : null);
      }
      return ids.get(token)!;
    },
  };
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
