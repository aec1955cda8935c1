// Bad input gets a coded MoteError naming the file or field, the bad value and the fix.

import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MoteError, SafetensorsCheckpoint } from '@mote/tensor-core';
import { hookName, inspectModel, loadModel } from '@mote/moe-runtime';
import { FIXTURES } from './parity.js';

const TINY = join(FIXTURES, 'tiny-moe', 'qwen3_moe');

function copyTiny(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mote-err-'));
  cpSync(TINY, dir, { recursive: true });
  return dir;
}

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<MoteError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    expect(e).toBeInstanceOf(MoteError);
    return e as MoteError;
  }
  throw new Error('expected a MoteError');
}

/** Write a safetensors file from a header object and a data length. */
function writeSafetensors(file: string, header: object, dataBytes: number): void {
  const h = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  writeFileSync(file, Buffer.concat([len, h, Buffer.alloc(dataBytes)]));
}

describe('coded errors', () => {
  it('missing config.json names the folder and the fix', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mote-err-'));
    const e = await codeOf(loadModel(dir));
    expect(e.code).toBe('E_CONFIG_MISSING');
    expect(e.message).toContain(`config.json not found in ${dir}`);
    expect(e.file).toBe(join(dir, 'config.json'));
    expect(e.message).toContain('checkpoint folder');
  });

  it('unknown model_type names the value and the supported ones', async () => {
    const dir = copyTiny();
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, model_type: 'llama4_moe' }));
    const e = await codeOf(() => inspectModel(dir));
    expect(e.code).toBe('E_ARCH_UNKNOWN');
    expect(e.message).toContain('"llama4_moe"');
    expect(e.message).toContain('qwen3_moe');
    expect(e.field).toBe('model_type');
  });

  it('a bad config field names the field, the value and the architecture', async () => {
    const dir = copyTiny();
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, num_experts: 0 }));
    const e = await codeOf(() => inspectModel(dir));
    expect(e.code).toBe('E_CONFIG_INVALID');
    expect(e.message).toMatch(/num_experts must be .* of qwen3_moe, got 0/);
  });

  it('a missing shard of a sharded checkpoint names the shard', async () => {
    const dir = copyTiny();
    writeFileSync(
      join(dir, 'model.safetensors.index.json'),
      JSON.stringify({ weight_map: { 'model.norm.weight': 'model-00002-of-00002.safetensors' } }),
    );
    const e = await codeOf(() => SafetensorsCheckpoint.open(dir));
    expect(e.code).toBe('E_WEIGHTS_MISSING');
    expect(e.message).toContain('model-00002-of-00002.safetensors');
    expect(e.message).toContain('download the missing shard');
  });

  it('header offsets out of range name the tensor and the offsets', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mote-err-'));
    writeSafetensors(join(dir, 'model.safetensors'), { w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, 8);
    const e = await codeOf(() => SafetensorsCheckpoint.open(dir));
    expect(e.code).toBe('E_SAFETENSORS_HEADER');
    expect(e.message).toContain('tensor w data_offsets [0, 16]');
    expect(e.field).toBe('w.data_offsets');
  });

  it('a tensor whose dtype does not match what the architecture reads names the tensor and dtype', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mote-err-'));
    writeSafetensors(join(dir, 'model.safetensors'), { w: { dtype: 'I64', shape: [2], data_offsets: [0, 16] } }, 16);
    const ck = SafetensorsCheckpoint.open(dir);
    const e = await codeOf(() => ck.readF32('w'));
    expect(e.code).toBe('E_DTYPE');
    expect(e.message).toContain('dtype I64');
    expect(e.field).toBe('w.dtype');
  });

  it('a weight whose shape disagrees with config.json names both shapes', async () => {
    const dir = copyTiny();
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, moe_intermediate_size: 48 }));
    const e = await codeOf(loadModel(dir));
    expect(e.code).toBe('E_SHAPE');
    expect(e.message).toMatch(/has shape \[32,64\] but the config implies \[48,64\]/);
  });

  it('token ids outside the vocabulary name the id and the range', async () => {
    const model = await loadModel(TINY, { threads: 1 });
    const e = await codeOf(model.forward([[0, 5, 512]]));
    expect(e.code).toBe('E_TOKEN_RANGE');
    expect(e.message).toContain('token id 512');
    expect(e.message).toContain('[0, 512)');
    await model.dispose();
  });

  it('a malformed policy names the entry, the value and the allowed values', async () => {
    const model = await loadModel(TINY, { threads: 1 });
    const bad = [
      [{ mode: 'mute', layer: 0, expert: 1 }, 'interventions[0].mode'],
      [{ mode: 'exclude', layer: 7, expert: 1 }, 'interventions[0].layer'],
      [{ mode: 'exclude', layer: 0, expert: 99 }, 'interventions[0].expert'],
      [{ mode: 'scale', layer: 0, expert: 1 }, 'interventions[0].value'],
      [{ mode: 'drop', layer: 0, expert: 1, scope: 'answer-ish' }, 'interventions[0].scope'],
    ] as const;
    for (const [iv, field] of bad) {
      const e = await codeOf(model.forward([[0, 5, 6]], { policy: { interventions: [iv as never] } }));
      expect(e.code).toBe('E_POLICY');
      expect(e.field).toBe(field);
    }
    await model.dispose();
  });

  it('a hook that sets a negative expert weight is refused, naming the layer and the expert', async () => {
    const model = await loadModel(TINY, { threads: 1 });
    const hooks = {
      [hookName(1, 'topk_weights')]: (t: { data: unknown; shape: number[]; dtype: string }) => ({
        ...t,
        data: (t.data as Float32Array).map((v) => -v),
      }),
    };
    const e = await codeOf(model.forward([[0, 5, 6]], { hooks: hooks as never }));
    expect(e.code).toBe('E_POLICY');
    expect(e.message).toMatch(/layer 1: expert \d+ got weight -/);
    await model.dispose();
  });
});
