// Test checkpoints derived from the fixtures: read every tensor as float32, write a checkpoint folder with
// the fixture's config and tokenizer, and gpt-oss's experts in the release's MXFP4 format.

import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SafetensorsCheckpoint, dequantMxfp4, f32Bytes, quantMxfp4, writeSafetensors, type TensorToWrite } from '@mote/tensor-core';

/** A fresh temporary folder. */
export const tmpDir = () => mkdtempSync(join(tmpdir(), 'mote-ckpt-'));

/** All tensors of a fixture checkpoint as float32. */
export function readAll(dir: string): Map<string, { shape: number[]; data: Float32Array }> {
  const ck = SafetensorsCheckpoint.open(dir);
  const out = new Map(
    ck.names().map((n) => {
      const t = ck.readF32(n);
      return [n, { shape: t.shape, data: t.data }];
    }),
  );
  ck.close();
  return out;
}

/** A checkpoint folder: the fixture's config/tokenizer files plus the given tensors. */
export function writeCheckpoint(from: string, tensors: TensorToWrite[], config?: (c: Record<string, unknown>) => void): string {
  const dir = tmpDir();
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json'])
    copyFileSync(join(from, f), join(dir, f));
  const cfg = JSON.parse(readFileSync(join(from, 'config.json'), 'utf8'));
  config?.(cfg);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg, null, 2));
  writeSafetensors(join(dir, 'model.safetensors'), tensors);
  return dir;
}

export const f32 = (name: string, shape: number[], data: Float32Array): TensorToWrite => ({
  name,
  dtype: 'F32',
  shape,
  bytes: f32Bytes(data),
});

/**
 * The gpt_oss fixture with its experts in the release format (HF keeps x @ W [E, in, out]; the release stores
 * [E, out, in/32, 16] blocks + [E, out, in/32] scales), and the same checkpoint with those experts as the
 * float32 of the dequantised MXFP4 values (the reference the MXFP4 checkpoint must run like).
 */
export function gptOssMxfp4(src: string): { mx: TensorToWrite[]; ref: TensorToWrite[] } {
  const mx: TensorToWrite[] = [];
  const ref: TensorToWrite[] = [];
  for (const [name, t] of readAll(src)) {
    const m = /^(.*\.mlp\.experts\.(gate_up_proj|down_proj))$/.exec(name);
    if (!m) {
      mx.push(f32(name, t.shape, t.data));
      ref.push(f32(name, t.shape, t.data));
      continue;
    }
    const [E, n, o] = t.shape;
    const outIn = new Float32Array(E * o * n);
    for (let e = 0; e < E; e++)
      for (let i = 0; i < n; i++) for (let j = 0; j < o; j++) outIn[(e * o + j) * n + i] = t.data[(e * n + i) * o + j];
    const q = quantMxfp4(outIn);
    mx.push(
      { name: `${name}_blocks`, dtype: 'U8', shape: [E, o, n / 32, 16], bytes: q.blocks },
      { name: `${name}_scales`, dtype: 'U8', shape: [E, o, n / 32], bytes: q.scales },
    );
    const deq = dequantMxfp4(q.blocks, q.scales); // [E, out, in]
    const inOut = new Float32Array(E * n * o);
    for (let e = 0; e < E; e++)
      for (let i = 0; i < n; i++) for (let j = 0; j < o; j++) inOut[(e * n + i) * o + j] = deq[(e * o + j) * n + i];
    ref.push(f32(name, t.shape, inOut));
  }
  return { mx, ref };
}
