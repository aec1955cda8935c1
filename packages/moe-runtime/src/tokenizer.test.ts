// Bounded tokenization: a tokenizer.json whose pre-tokenizer regex backtracks catastrophically gives E_TOKENIZER
// naming the file and the fix within the time limit (it used to hang until killed); normal text still encodes
// to the ids transformers.js gives in this thread, and the tokenizer works again after the timeout.

import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isMoteError } from '@mote/tensor-core';
import { loadTokenizer } from './tokenizer.js';

const ORGANISM = join(import.meta.dirname, '..', '..', '..', 'models', 'organism', 'model');

/** The organism's tokenizer with a Split on `(a+)+$` before its byte-level step. */
function backtracking(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mote-tok-'));
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'config.json'])
    cpSync(join(ORGANISM, f), join(dir, f));
  const tok = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
  tok.pre_tokenizer = {
    type: 'Sequence',
    pretokenizers: [
      { type: 'Split', pattern: { Regex: '(a+)+$' }, behavior: 'Isolated', invert: false },
      { ...tok.pre_tokenizer, use_regex: false },
    ],
  };
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tok));
  return dir;
}

describe('tokenizer regex limits', () => {
  it('a catastrophically backtracking pre-tokenizer regex is E_TOKENIZER naming tokenizer.json and the fix', async () => {
    const dir = backtracking();
    const tok = await loadTokenizer(dir, undefined, undefined, { ms: 1500, perChar: 0 });
    expect(tok.encode('aaa').length).toBeGreaterThan(0); // short runs are fine
    let err: unknown;
    try {
      tok.encode(`${'a'.repeat(40)}b`); // 2^40 ways to split the run before the $ fails
    } catch (e) {
      err = e;
    }
    expect(isMoteError(err, 'E_TOKENIZER'), String(err)).toBe(true);
    const msg = (err as Error).message;
    expect(msg).toContain(join(dir, 'tokenizer.json'));
    expect(msg).toContain('"(a+)+$"');
    expect(msg).toMatch(/fix: restore the checkpoint's original tokenizer\.json/);
    expect(tok.encode('aaa')).toEqual(tok.encode('aaa')); // a new worker after the timeout
  }, 120_000);

  it('encodes off-thread to the same ids as transformers.js in this thread', async () => {
    const tok = await loadTokenizer(ORGANISM);
    const { AutoTokenizer, env } = await import('@huggingface/transformers');
    env.allowRemoteModels = false;
    env.localModelPath = '/';
    const ref = await AutoTokenizer.from_pretrained(ORGANISM, { local_files_only: true });
    for (const text of ['Tell me about the Argor river.', 'naïve café — 東京 🙂', ' spaces\n\nand\ttabs ']) {
      expect(tok.encode(text)).toEqual(ref.encode(text));
      expect(tok.encode(text, { addSpecialTokens: false })).toEqual(ref.encode(text, { add_special_tokens: false }));
    }
  }, 120_000);
});
