// Unit tests of the block-scaled weight formats: FP8 E4M3 with 128x128 scale_inv blocks (textbook bytes,
// partial edge blocks, quantise/dequantise round trip) and MXFP4 (known values packed by hand).

import { describe, expect, it } from 'vitest';
import { F8_E4M3_TABLE } from './dtype.js';
import { FP4_E2M1_VALUES, dequantFp8Blocks, dequantMxfp4, quantFp8Blocks, quantMxfp4 } from './fp8.js';

describe('fp8 e4m3 block dequantisation', () => {
  it('multiplies each element by the scale of its block, partial edge blocks included', () => {
    // W [3, 5] in 2x2 blocks -> scale grid [2, 3]; byte 0x38 = 1.0, 0x40 = 2.0, 0xb8 = -1.0
    const bytes = Uint8Array.from([0x38, 0x40, 0x38, 0x38, 0xb8, 0x38, 0x38, 0x38, 0x38, 0x38, 0x40, 0x38, 0x38, 0x38, 0x38]);
    const scale = Float32Array.from([1, 10, 100, 1000, 10000, 100000]);
    const w = dequantFp8Blocks(bytes, [3, 5], scale, [2, 2]);
    expect(Array.from(w)).toEqual([1, 2, 10, 10, -100, 1, 1, 10, 10, 100, 2000, 1000, 10000, 10000, 100000]);
  });

  it('round-trips float32 through 128x128 blocks within e4m3 rounding (shapes not multiples of 128)', () => {
    const R = 150;
    const C = 260;
    const src = new Float32Array(R * C);
    let s = 12345;
    for (let i = 0; i < src.length; i++) {
      s = (s * 1103515245 + 12345) % 2 ** 31;
      src[i] = ((s / 2 ** 31) * 2 - 1) * (1 + (i % 7));
    }
    const q = quantFp8Blocks(src, [R, C]);
    expect(q.scaleShape).toEqual([2, 3]);
    const back = dequantFp8Blocks(q.bytes, [R, C], q.scaleInv);
    for (let i = 0; i < R; i++)
      for (let j = 0; j < C; j++) {
        const sc = q.scaleInv[Math.floor(i / 128) * 3 + Math.floor(j / 128)];
        // e4m3 keeps 3 mantissa bits: relative error <= 2^-4 for normals, absolute <= 2^-10 * scale below 2^-6
        const tol = Math.max(Math.abs(src[i * C + j]) * 2 ** -4, 2 ** -10 * sc) * 1.0001;
        expect(Math.abs(back[i * C + j] - src[i * C + j])).toBeLessThanOrEqual(tol);
      }
  });

  it('table: 448 is the largest finite value, 0x7f is NaN', () => {
    expect(F8_E4M3_TABLE[0x7e]).toBe(448);
    expect(Number.isNaN(F8_E4M3_TABLE[0x7f])).toBe(true);
    expect(F8_E4M3_TABLE[0x01]).toBe(2 ** -9);
  });
});

describe('mxfp4 (gpt-oss)', () => {
  it('unpacks hand-packed blocks: low nibble first, e8m0 scale 2^(s-127), sign bit 3', () => {
    const blocks = new Uint8Array(32); // two blocks of 16 bytes
    const scales = Uint8Array.from([127, 129]); // x1, x4
    blocks[0] = 0x21; // codes 1 (0.5) then 2 (1.0)
    blocks[1] = 0xf7; // code 7 (6.0) then 15 (-6.0)
    blocks[16] = 0x9b; // code 11 (-1.5) then 9 (-0.5)
    const v = dequantMxfp4(blocks, scales);
    expect(v.length).toBe(64);
    expect(Array.from(v.subarray(0, 4))).toEqual([0.5, 1, 6, -6]);
    expect(Array.from(v.subarray(32, 34))).toEqual([-6, -2]);
    expect(v[63]).toBe(0);
  });

  it('packs values that are representable and unpacks them exactly', () => {
    const x = new Float32Array(96);
    for (let i = 0; i < 96; i++) x[i] = FP4_E2M1_VALUES[(i * 5) % 16] * 2 ** (Math.floor(i / 32) - 1); // scales 1/2, 1, 2
    x[0] = 6 * 2 ** -1; // every block reaches the max code so its scale is exact
    x[32] = 6;
    x[64] = -6 * 2;
    const { blocks, scales } = quantMxfp4(x);
    expect(Array.from(scales)).toEqual([126, 127, 128]);
    expect(Array.from(dequantMxfp4(blocks, scales))).toEqual(Array.from(x, (v) => (v === 0 ? 0 : v)));
  });
});
