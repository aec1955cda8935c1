// `generate --out FILE` (generateFile) on the organism: the file interface kept, and protected: a foreign
// file, the prompts file itself, changed settings, torn or corrupt lines (issue 12, "Resume ignores what
// changed"). One model load for all cases.
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateFile, loadModel, type MoeModel } from '@mote/moe-runtime';
import { isMoteError } from '@mote/tensor-core';

const ORG = join(import.meta.dirname, '..', 'models', 'organism');
let model: MoeModel;
let dir = '';
let prompts = '';
const policy = { name: 'off', interventions: [{ mode: 'exclude' as const, layer: 1, expert: 2 }] };
const base = () => ({ input: prompts, chat: true, maxNewTokens: 12, batchSize: 2 });
const caught = async (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected an error');
    },
    (e) => e as Error & { code: string; field?: string },
  );

beforeAll(async () => {
  model = await loadModel(join(ORG, 'model'), { threads: 1 });
  dir = mkdtempSync(join(tmpdir(), 'mote-genout-'));
  prompts = join(dir, 'p.jsonl');
  writeFileSync(
    prompts,
    readFileSync(join(ORG, 'prompts', 'eval-dev.jsonl'), 'utf8')
      .split('\n')
      .slice(0, 4)
      .join('\n') + '\n',
  );
});
afterAll(async () => model?.dispose());

describe('generate --out', () => {
  it('refuses a file it did not create, and the prompts file, leaving both untouched', async () => {
    const notes = join(dir, 'notes.jsonl');
    writeFileSync(notes, 'my notes, not JSON\n{"id":"dev-0000","output":"mine"}\n');
    for (const forceNew of [false, true]) {
      const e = await caught(generateFile(model, { ...base(), output: notes, forceNew }));
      expect(isMoteError(e, 'E_RESUME') && e.message).toMatch(/was not written by `mote generate`/);
    }
    expect(readFileSync(notes, 'utf8')).toBe('my notes, not JSON\n{"id":"dev-0000","output":"mine"}\n');
    const before = readFileSync(prompts, 'utf8');
    const e = await caught(generateFile(model, { ...base(), output: prompts }));
    expect(isMoteError(e, 'E_INPUT') && e.message).toMatch(/--out .* is also the input/);
    expect(readFileSync(prompts, 'utf8')).toBe(before);
    expect(isMoteError(await caught(generateFile(model, { ...base(), output: join(dir, 'no', 'a.jsonl') })), 'E_IO')).toBe(true);
    mkdirSync(join(dir, 'adir'));
    expect((await caught(generateFile(model, { ...base(), output: join(dir, 'adir') }))).message).toMatch(/is a folder/);
  });

  it('resumes only with the same settings: another policy is E_RESUME naming it; force-new starts over', async () => {
    const out = join(dir, 'a.jsonl');
    expect(await generateFile(model, { ...base(), output: out })).toEqual({ written: 4, skipped: 0 });
    const plain = readFileSync(out, 'utf8');
    expect(await generateFile(model, { ...base(), output: out })).toEqual({ written: 0, skipped: 4 });
    const e = await caught(generateFile(model, { ...base(), output: out, policy }));
    expect(isMoteError(e, 'E_RESUME') && e.field).toBe('policy');
    expect(e.message).toMatch(/different settings \(policy: null -> "[0-9a-f]{20}.*--force-new/);
    const e2 = await caught(generateFile(model, { ...base(), output: out, maxNewTokens: 8 }));
    expect(e2.field).toBe('maxNewTokens');
    expect(readFileSync(out, 'utf8')).toBe(plain);
    expect(await generateFile(model, { ...base(), output: out, policy, forceNew: true })).toEqual({ written: 4, skipped: 0 });
    expect(readFileSync(out, 'utf8').trim().split('\n')).toHaveLength(4);
    // the policy's content decides, not its name
    const renamed = { ...policy, name: 'other-name' };
    expect(await generateFile(model, { ...base(), output: out, policy: renamed })).toEqual({ written: 0, skipped: 4 });
    const edited = { ...policy, interventions: [{ mode: 'exclude' as const, layer: 1, expert: 3 }] };
    expect((await caught(generateFile(model, { ...base(), output: out, policy: edited }))).field).toBe('policy');
  });

  it('redoes a torn last line, and does not trust a corrupt or duplicated one', async () => {
    const out = join(dir, 'b.jsonl');
    await generateFile(model, { ...base(), output: out });
    const full = readFileSync(out, 'utf8');
    const lines = full.trim().split('\n');
    writeFileSync(out, lines.slice(0, 2).join('\n') + '\n' + lines[2].slice(0, 15)); // a kill mid-append
    expect(await generateFile(model, { ...base(), output: out })).toEqual({ written: 2, skipped: 2 });
    expect(readFileSync(out, 'utf8')).toBe(full);
    writeFileSync(out, [lines[0], '{"id": broken', lines[2]].join('\n') + '\n');
    expect((await caught(generateFile(model, { ...base(), output: out }))).message).toMatch(/b\.jsonl:2 is not valid JSON.*--force-new/);
    writeFileSync(out, [lines[0], lines[0]].join('\n') + '\n');
    expect((await caught(generateFile(model, { ...base(), output: out }))).message).toMatch(/b\.jsonl:2: id "dev-0000" is a duplicate/);
    appendFileSync(out, '');
    expect(existsSync(`${out}.lock`)).toBe(false);
  });
});
