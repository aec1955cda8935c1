// Released low-precision weight formats read transparently by the runtime: DeepSeek-V3/R1 fp8 (F8_E4M3 +
// F32 weight_scale_inv in 128x128 blocks, bf16 router) and gpt-oss MXFP4 experts (U8 blocks + e8m0 scales).
// Synthetic checkpoints are written here from the tiny fixtures; a model loaded from them must equal a
// float32 model of the dequantised values, and fp8 must sit within e4m3 rounding of its source.

import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  SafetensorsCheckpoint,
  bf16ToF32,
  dequantFp8Blocks,
  f32ToBf16Bytes,
  isMoteError,
  quantFp8Blocks,
  readScaledF32,
  writeSafetensors,
  type TensorToWrite,
} from '@mote/tensor-core';
import { loadModel, type Model } from '@mote/moe-runtime';
import { FIXTURES, readGolden } from './parity.js';
import { f32, gptOssMxfp4, readAll, tmpDir, writeCheckpoint } from './checkpoints.js';

async function logitsOf(dir: string, ids: number[]): Promise<Float32Array> {
  const m: Model = await loadModel(dir, { threads: 1 });
  try {
    return (await m.forward([ids])).logits!.data as Float32Array;
  } finally {
    await m.dispose();
  }
}

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

describe('fp8 block-quantised safetensors (DeepSeek-V3/R1 release format)', () => {
  it('a synthetic F8_E4M3 + weight_scale_inv file dequantises to within e4m3 rounding of its source', () => {
    const [R, C] = [200, 300]; // not multiples of 128: partial edge blocks on both axes
    const src = Float32Array.from({ length: R * C }, (_, i) => Math.sin(i * 0.37) * (1 + (i % 11)) * (Math.floor(i / C) < 128 ? 0.01 : 3));
    const q = quantFp8Blocks(src, [R, C]);
    expect(q.scaleShape).toEqual([2, 3]);
    const dir = tmpDir();
    writeSafetensors(join(dir, 'model.safetensors'), [
      { name: 'layer.weight', dtype: 'F8_E4M3', shape: [R, C], bytes: q.bytes },
      f32('layer.weight_scale_inv', [2, 3], q.scaleInv),
      { name: 'plain.weight', dtype: 'BF16', shape: [2], bytes: f32ToBf16Bytes(Float32Array.from([1 / 3, -2])) },
    ]);
    const ck = SafetensorsCheckpoint.open(dir);
    const w = readScaledF32(ck, 'layer.weight', [R, C]);
    expect(w.shape).toEqual([R, C]);
    // exactly W[i,j] = fp8(W[i,j]) * scale_inv[floor(i/128), floor(j/128)] ...
    expect(maxDiff(w.data, dequantFp8Blocks(q.bytes, [R, C], q.scaleInv))).toBe(0);
    // ... which is within fp8 rounding of the source: half an e4m3 ulp (2^-4 relative; 2^-10 x scale subnormal)
    let worst = 0;
    for (let i = 0; i < R; i++)
      for (let j = 0; j < C; j++) {
        const scale = q.scaleInv[Math.floor(i / 128) * 3 + Math.floor(j / 128)];
        const err = Math.abs(w.data[i * C + j] - src[i * C + j]);
        worst = Math.max(worst, err / Math.max(Math.abs(src[i * C + j]) * 2 ** -4, scale * 2 ** -10));
      }
    expect(worst).toBeLessThanOrEqual(1.0001);
    // bf16 tensors (no scale) still go through the plain reader
    expect(Array.from(readScaledF32(ck, 'plain.weight').data)).toEqual([0.333984375, -2]);
    ck.close();
  });

  it('rejects a scale grid that does not fit the weight, naming both tensors', () => {
    const dir = tmpDir();
    writeSafetensors(join(dir, 'model.safetensors'), [
      { name: 'w.weight', dtype: 'F8_E4M3', shape: [200, 300], bytes: new Uint8Array(60000) },
      f32('w.weight_scale_inv', [3, 3], new Float32Array(9)),
    ]);
    const ck = SafetensorsCheckpoint.open(dir);
    let err: unknown;
    try {
      readScaledF32(ck, 'w.weight');
    } catch (e) {
      err = e;
    }
    expect(isMoteError(err, 'E_SHAPE')).toBe(true);
    expect(String(err)).toMatch(/w\.weight_scale_inv.*\[3,3\].*\[200,300\].*\[2, 3\]/);
    ck.close();
  });

  it('a deepseek_v3 checkpoint in R1 format (fp8 linears, bf16 router) runs like float32 of the same values', async () => {
    const src = join(FIXTURES, 'tiny-moe', 'deepseek_v3');
    const all = readAll(src);
    const fp8: TensorToWrite[] = [];
    const ref: TensorToWrite[] = [];
    let quantised = 0;
    for (const [name, t] of all) {
      const linear =
        t.shape.length === 2 && /\.(q_a_proj|q_b_proj|kv_a_proj_with_mqa|kv_b_proj|o_proj|gate_proj|up_proj|down_proj)\.weight$/.test(name);
      if (linear) {
        const q = quantFp8Blocks(t.data, t.shape as [number, number]);
        fp8.push({ name, dtype: 'F8_E4M3', shape: t.shape, bytes: q.bytes }, f32(`${name}_scale_inv`, q.scaleShape, q.scaleInv));
        ref.push(f32(name, t.shape, dequantFp8Blocks(q.bytes, t.shape as [number, number], q.scaleInv)));
        quantised++;
      } else if (/mlp\.gate\.weight$/.test(name)) {
        const b = f32ToBf16Bytes(t.data.slice());
        fp8.push({ name, dtype: 'BF16', shape: t.shape, bytes: b });
        ref.push(f32(name, t.shape, bf16ToF32(new Uint16Array(b.buffer, b.byteOffset, t.data.length))));
      } else {
        fp8.push(f32(name, t.shape, t.data));
        ref.push(f32(name, t.shape, t.data));
      }
    }
    expect(quantised).toBeGreaterThan(20);
    const r1Config = (c: Record<string, unknown>) => {
      c.quantization_config = { activation_scheme: 'dynamic', fmt: 'e4m3', quant_method: 'fp8', weight_block_size: [128, 128] };
    };
    const ids = readGolden('deepseek_v3').cases[1].input_ids;
    const a = await logitsOf(writeCheckpoint(src, fp8, r1Config), ids);
    const b = await logitsOf(writeCheckpoint(src, ref), ids);
    expect(maxDiff(a, b)).toBeLessThan(1e-5);
    // and fp8 is a real perturbation of the float32 fixture, not a no-op
    expect(maxDiff(a, await logitsOf(src, ids))).toBeGreaterThan(1e-4);
  });
});

describe('MXFP4 experts (gpt-oss release format)', () => {
  it('a gpt_oss checkpoint with *_blocks/*_scales experts runs like float32 of the dequantised values', async () => {
    const src = join(FIXTURES, 'tiny-moe', 'gpt_oss');
    const { mx, ref } = gptOssMxfp4(src);
    expect(mx.filter((t) => t.name.endsWith('_blocks')).length).toBe(2 * readGolden('gpt_oss').moe_layers.length);
    const ids = readGolden('gpt_oss').cases[1].input_ids;
    const a = await logitsOf(writeCheckpoint(src, mx), ids);
    const b = await logitsOf(writeCheckpoint(src, ref), ids);
    expect(maxDiff(a, b)).toBeLessThan(1e-5);
    expect(maxDiff(a, await logitsOf(src, ids))).toBeGreaterThan(1e-4);
  });
});
