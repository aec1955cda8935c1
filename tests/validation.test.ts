// Issue 12's failures of bad checkpoints, each reproduced: a coded MoteError (never a TypeError, a hang or
// a RangeError) naming the file, the field and the fix. Config domains, safetensors headers, shard sets.

import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MoteError, SafetensorsCheckpoint, readSafetensorsHeader } from '@mote/tensor-core';
import { inspectModel, loadModel } from '@mote/moe-runtime';
import { FIXTURES } from './parity.js';

const TINY = join(FIXTURES, 'tiny-moe', 'qwen3_moe');

function copyTiny(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mote-val-'));
  cpSync(TINY, dir, { recursive: true });
  return dir;
}
function withConfig(edit: (c: Record<string, unknown>) => unknown): string {
  const dir = copyTiny();
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(edit(cfg) ?? cfg));
  return dir;
}
async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<MoteError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    expect(e, String((e as Error)?.stack)).toBeInstanceOf(MoteError);
    return e as MoteError;
  }
  throw new Error('expected a MoteError');
}
/** A safetensors file from a raw header text and a data length. */
function rawSafetensors(file: string, headerText: string, dataBytes: number): void {
  const h = Buffer.from(headerText);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  writeFileSync(file, Buffer.concat([len, h, Buffer.alloc(dataBytes)]));
}

describe('config.json domains (issue 12.4, 12.6)', () => {
  it('config.json holding null, an array or a number is E_CONFIG_INVALID', async () => {
    for (const v of ['null', '[]', '42']) {
      const dir = copyTiny();
      writeFileSync(join(dir, 'config.json'), v);
      const e = await codeOf(() => inspectModel(dir));
      expect(e.code).toBe('E_CONFIG_INVALID');
      expect(e.message).toContain('not a JSON object');
    }
  });

  it('model_type "__proto__", "toString" and "constructor" are unknown architectures, not Object members', async () => {
    for (const t of ['__proto__', 'toString', 'constructor', 'hasOwnProperty']) {
      const dir = withConfig((c) => ({ ...c, model_type: t }));
      const e = await codeOf(() => inspectModel(dir));
      expect(e.code).toBe('E_ARCH_UNKNOWN');
      expect(e.message).toContain(JSON.stringify(t));
    }
  });

  it('negative or zero rms_norm_eps and rope_theta, zero heads are E_CONFIG_INVALID naming the field', async () => {
    const cases: [string, unknown][] = [
      ['rms_norm_eps', -1e-6],
      ['rms_norm_eps', 0],
      ['rope_theta', -10000],
      ['rope_theta', 0],
      ['num_attention_heads', 0],
      ['num_key_value_heads', 0],
    ];
    for (const [field, v] of cases) {
      const e = await codeOf(() => inspectModel(withConfig((c) => ({ ...c, [field]: v }))));
      expect(e.code, field).toBe('E_CONFIG_INVALID');
      expect(e.field).toBe(field);
      expect(e.message).toContain(`got ${v}`);
    }
  });

  it('num_hidden_layers 1e9 (found by the fuzzer: per-layer tables exhausted the heap) is E_CONFIG_INVALID', async () => {
    for (const type of ['qwen3_moe', 'deepseek_v3']) {
      const dir = mkdtempSync(join(tmpdir(), 'mote-val-'));
      const cfg = JSON.parse(readFileSync(join(FIXTURES, 'tiny-moe', type, 'config.json'), 'utf8'));
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, num_hidden_layers: 1e9 }));
      const e = await codeOf(() => inspectModel(dir));
      expect(e.code).toBe('E_CONFIG_INVALID');
      expect(e.field).toBe('num_hidden_layers');
    }
  });

  it('moe_intermediate_size 1e9 is refused against the weight files before anything is allocated', async () => {
    const dir = withConfig((c) => ({ ...c, moe_intermediate_size: 1e9 }));
    const e = await codeOf(loadModel(dir, { cache: false }));
    expect(e.code).toBe('E_CONFIG_INVALID');
    expect(e.message).toMatch(/parameters.*bytes/);
  });

  it('config.json that is a FIFO or a folder is a coded error at once, not a hang', async () => {
    const dir = copyTiny();
    rmSync(join(dir, 'config.json'));
    execFileSync('mkfifo', [join(dir, 'config.json')]);
    const e = await codeOf(() => inspectModel(dir));
    expect(e.code).toBe('E_CONFIG_INVALID');
    expect(e.message).toContain('FIFO');
    const d2 = copyTiny();
    rmSync(join(d2, 'config.json'));
    mkdirSync(join(d2, 'config.json'));
    expect((await codeOf(() => inspectModel(d2))).message).toContain('is a folder');
  });
});

describe('safetensors headers and shard sets (issue 12.4, 12.5, 12.6)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mote-st-'));
  const f = join(dir, 'x.safetensors');

  it('a null header, null entries and non-object entries are E_SAFETENSORS_HEADER', async () => {
    for (const h of [
      'null',
      '[1,2]',
      '"x"',
      '{"w": null}',
      '{"w": 7}',
      '{"w": {"dtype": "F32", "shape": null, "data_offsets": [0, 4]}}',
      '{"w": {"dtype": "F32", "shape": [1], "data_offsets": null}}',
      '{"__metadata__": null}',
      '{"w": {"dtype": null, "shape": [1], "data_offsets": [0, 4]}}',
    ]) {
      rawSafetensors(f, h, 4);
      const e = await codeOf(() => readSafetensorsHeader(f));
      expect(['E_SAFETENSORS_HEADER', 'E_DTYPE'], h).toContain(e.code);
    }
  });

  it('overlapping tensor offsets are refused, naming both tensors', async () => {
    rawSafetensors(
      f,
      JSON.stringify({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }),
      12,
    );
    const e = await codeOf(() => readSafetensorsHeader(f));
    expect(e.code).toBe('E_SAFETENSORS_HEADER');
    expect(e.message).toMatch(/tensors a and b overlap/);
  });

  it('a weights file that is a FIFO or a folder is a coded error, not a hang or EISDIR', async () => {
    const d = copyTiny();
    rmSync(join(d, 'model.safetensors'));
    execFileSync('mkfifo', [join(d, 'model.safetensors')]);
    expect((await codeOf(() => SafetensorsCheckpoint.open(d))).message).toContain('FIFO');
    rmSync(join(d, 'model.safetensors'));
    mkdirSync(join(d, 'model.safetensors'));
    const e = await codeOf(loadModel(d, { cache: false }));
    expect(e.code).toBe('E_SAFETENSORS_HEADER');
    expect(e.message).toContain('is a folder');
  });

  it('a stray second *.safetensors file beside model.safetensors is an error, not a silent override', async () => {
    const d = copyTiny();
    cpSync(join(d, 'model.safetensors'), join(d, 'model-override.safetensors'));
    const e = await codeOf(() => SafetensorsCheckpoint.open(d));
    expect(e.code).toBe('E_WEIGHTS_MISSING');
    expect(e.message).toMatch(/2 \*\.safetensors files .*model-override\.safetensors.*index/);
  });

  it('with an index, a shard it does not list is a stray error', async () => {
    const d = copyTiny();
    const names = readSafetensorsHeader(join(d, 'model.safetensors')).entries.map((x) => x.name);
    writeFileSync(
      join(d, 'model.safetensors.index.json'),
      JSON.stringify({ weight_map: Object.fromEntries(names.map((n) => [n, 'model.safetensors'])) }),
    );
    expect(SafetensorsCheckpoint.open(d).names().length).toBe(names.length); // the index alone is fine
    cpSync(join(d, 'model.safetensors'), join(d, 'extra.safetensors'));
    const e = await codeOf(() => SafetensorsCheckpoint.open(d));
    expect(e.message).toContain('extra.safetensors, which model.safetensors.index.json does not list');
  });

  it('an index whose weight_map points outside the folder or at a non-string is refused', async () => {
    const d = copyTiny();
    for (const shard of ['../model.safetensors', 7, null]) {
      writeFileSync(join(d, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { w: shard } }));
      expect((await codeOf(() => SafetensorsCheckpoint.open(d))).code).toBe('E_SAFETENSORS_HEADER');
    }
  });
});
