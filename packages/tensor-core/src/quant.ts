// Symmetric block quantisation of float32 weight rows, the rounding of llama.cpp's q8_0 / q4_0 (fp16 scale;
// bit-identical to them at block 32), laid out for onnxruntime's com.microsoft MatMulNBits (uint8 with the
// default zero point 128 / 8, any power-of-two block from 16) or as GGUF q8_0 / q4_0 blocks (block 32 only).
// Not a kernel: packing only.
// Shapes: N output rows, K inputs per row (K % block == 0), nb = K / block blocks per row.

/** llama.cpp's q8_0 / q4_0 block, GGUF's and MXFP4's: the default block of every function here */
export const QBLOCK = 32;
export type QuantBits = 8 | 4;

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);

/** float32 -> IEEE half bits, round to nearest even (as ggml's GGML_FP32_TO_FP16 on x86 F16C). */
export function f32ToF16Bits(x: number): number {
  f32buf[0] = x;
  const u = u32buf[0];
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  let mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}

/** IEEE half bits -> float32 value. */
export function f16BitsToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 0x1f) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/**
 * Quantise one block of `len` values (32 for ggml) the way ggml's quantize_row_q{8,4}_0_ref does. Writes the
 * signed integer levels (q8: -127..127, q4: -8..7) into `q` and returns the fp16 scale bits.
 */
export function quantBlock(x: Float32Array, off: number, bits: QuantBits, q: Int8Array, len = QBLOCK): number {
  let amax = 0;
  let max = 0;
  for (let j = 0; j < len; j++) {
    const v = x[off + j];
    const a = Math.abs(v);
    if (a > amax) {
      amax = a;
      max = v;
    }
  }
  if (bits === 8) {
    const d = Math.fround(amax / 127);
    const id = d ? Math.fround(1 / d) : 0;
    for (let j = 0; j < len; j++) {
      const v = Math.fround(x[off + j] * id);
      q[j] = Math.sign(v) * Math.round(Math.abs(v)); // roundf: half away from zero
    }
    return f32ToF16Bits(d);
  }
  const d = Math.fround(max / -8);
  const id = d ? Math.fround(1 / d) : 0;
  for (let j = 0; j < len; j++) {
    const v = Math.fround(Math.fround(x[off + j] * id) + 8.5);
    q[j] = Math.min(15, Math.trunc(v)) - 8;
  }
  return f32ToF16Bits(d);
}

export interface NBitsWeight {
  bits: QuantBits;
  /** N output rows, K inputs */
  n: number;
  k: number;
  /** values per scale along K (MatMulNBits block_size) */
  block: number;
  /** [N, K/block, block*bits/8] uint8 (MatMulNBits input B) */
  data: Uint8Array;
  /** [N * K/block] float32 (MatMulNBits input scales), the fp16 scale widened */
  scales: Float32Array;
}

/**
 * Rows of a Linear weight W [N, K] (HF [out, in] layout) as MatMulNBits B + scales. 4-bit: element 2i in
 * the low nibble of byte i, stored as q + 8; 8-bit: q + 128. Dequantised: (stored - zp) * scale.
 */
export function quantizeNBits(w: Float32Array, n: number, k: number, bits: QuantBits, block = QBLOCK): NBitsWeight {
  if (block < 16 || (block & (block - 1)) !== 0) throw new Error(`quantizeNBits: block ${block} is not a power of two >= 16`);
  if (k % block !== 0) throw new Error(`quantizeNBits: K=${k} is not a multiple of ${block}`);
  const nb = k / block;
  const blob = (block * bits) / 8;
  const data = new Uint8Array(n * nb * blob);
  const scales = new Float32Array(n * nb);
  const q = new Int8Array(block);
  for (let r = 0; r < n; r++) {
    for (let b = 0; b < nb; b++) {
      const s = quantBlock(w, r * k + b * block, bits, q, block);
      scales[r * nb + b] = f16BitsToF32(s);
      const o = (r * nb + b) * blob;
      if (bits === 8) for (let j = 0; j < block; j++) data[o + j] = q[j] + 128;
      else for (let j = 0; j < block / 2; j++) data[o + j] = (q[2 * j] + 8) | ((q[2 * j + 1] + 8) << 4);
    }
  }
  return { bits, n, k, block, data, scales };
}

/** Dequantise a MatMulNBits weight back to float32 [N, K] (tests and accuracy checks). */
export function dequantizeNBits(wq: NBitsWeight): Float32Array {
  const { n, k, bits, block, data, scales } = wq;
  const nb = k / block;
  const blob = (block * bits) / 8;
  const out = new Float32Array(n * k);
  for (let r = 0; r < n; r++) {
    for (let b = 0; b < nb; b++) {
      const s = scales[r * nb + b];
      const o = (r * nb + b) * blob;
      const dst = r * k + b * block;
      if (bits === 8) for (let j = 0; j < block; j++) out[dst + j] = (data[o + j] - 128) * s;
      else
        for (let j = 0; j < block / 2; j++) {
          out[dst + 2 * j] = ((data[o + j] & 15) - 8) * s;
          out[dst + 2 * j + 1] = ((data[o + j] >> 4) - 8) * s;
        }
    }
  }
  return out;
}

/** GGUF block bytes of rows W [N, K]: q8_0 = {f16 d, int8 qs[32]}, q4_0 = {f16 d, uint8 qs[16]} (qs[j] = q[j] | q[j+16] << 4). */
export function quantizeGgufBlocks(w: Float32Array, n: number, k: number, bits: QuantBits): Uint8Array {
  if (k % QBLOCK !== 0) throw new Error(`quantizeGgufBlocks: K=${k} is not a multiple of ${QBLOCK}`);
  const nb = k / QBLOCK;
  const bsz = bits === 8 ? 34 : 18;
  const out = new Uint8Array(n * nb * bsz);
  const dv = new DataView(out.buffer);
  const q = new Int8Array(QBLOCK);
  for (let r = 0; r < n; r++) {
    for (let b = 0; b < nb; b++) {
      const o = (r * nb + b) * bsz;
      dv.setUint16(o, quantBlock(w, r * k + b * QBLOCK, bits, q), true);
      if (bits === 8) for (let j = 0; j < QBLOCK; j++) out[o + 2 + j] = q[j] & 0xff;
      else for (let j = 0; j < QBLOCK / 2; j++) out[o + 2 + j] = (q[j] + 8) | ((q[j + 16] + 8) << 4);
    }
  }
  return out;
}

/** URL of the running tensor-core module (source file or bundle): caches hash it to notice new code. */
export const TENSOR_CORE_MODULE: string = import.meta.url;
