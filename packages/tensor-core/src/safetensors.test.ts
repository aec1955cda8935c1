import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SafetensorsCheckpoint } from './safetensors.js';
import { f32Bytes, f32ToBf16Bytes, writeSafetensors } from './safetensors-write.js';
import { bf16ToF32, f16ToF32, f8e4m3ToF32, f32ToF8e4m3 } from './dtype.js';

describe('safetensors', () => {
  it('round-trips f32 and bf16 tensors and reads them lazily by name', () => {
    const dir = mkdtempSync(join(tmpdir(), 'st-'));
    const a = Float32Array.from([1.5, -2, 3.25, 0]);
    const b = Float32Array.from([1 / 3, 100.7]);
    writeSafetensors(join(dir, 'model.safetensors'), [
      { name: 'a', dtype: 'F32', shape: [2, 2], bytes: f32Bytes(a) },
      { name: 'b', dtype: 'BF16', shape: [2], bytes: () => f32ToBf16Bytes(b) },
    ]);
    const ck = SafetensorsCheckpoint.open(dir);
    expect(ck.names().sort()).toEqual(['a', 'b']);
    expect(Array.from(ck.readF32('a', [2, 2]).data)).toEqual([1.5, -2, 3.25, 0]);
    // bf16 keeps 8 mantissa bits: 1/3 -> 0.333984375, 100.7 -> 100.5
    expect(Array.from(ck.readF32('b').data)).toEqual([0.333984375, 100.5]);
    ck.close();
  });
});

describe('dtype conversions (textbook bit patterns)', () => {
  it('bf16', () => {
    expect(Array.from(bf16ToF32(Uint16Array.from([0x3f80, 0xc000, 0x7f80, 0x0000])))).toEqual([1, -2, Infinity, 0]);
  });
  it('f16', () => {
    // 0x3c00 = 1, 0xc000 = -2, 0x7bff = 65504 (max), 0x0001 = 2^-24 (smallest subnormal)
    expect(Array.from(f16ToF32(Uint16Array.from([0x3c00, 0xc000, 0x7bff, 0x0001])))).toEqual([1, -2, 65504, 2 ** -24]);
  });
  it('f8 e4m3fn', () => {
    // 0x38 = 1, 0x7e = 448 (max), 0x01 = 2^-9 (smallest subnormal), 0xb8 = -1, 0x7f = NaN
    const v = f8e4m3ToF32(Uint8Array.from([0x38, 0x7e, 0x01, 0xb8, 0x7f]));
    expect(Array.from(v.slice(0, 4))).toEqual([1, 448, 2 ** -9, -1]);
    expect(Number.isNaN(v[4])).toBe(true);
    expect(f32ToF8e4m3(1)).toBe(0x38);
    expect(f32ToF8e4m3(-448)).toBe(0xfe);
    expect(f32ToF8e4m3(1000)).toBe(0x7e);
  });
});
