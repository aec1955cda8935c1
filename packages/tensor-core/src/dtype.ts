// Conversions of checkpoint storage dtypes (bf16, f16, f8_e4m3, f32) to float32. Pure functions on bytes.

/** Bytes per element of each safetensors dtype string. */
export const SAFETENSORS_DTYPE_BYTES: Record<string, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  F8_E4M3: 1,
  F8_E5M2: 1,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

export function bf16ToF32(src: Uint16Array, dst = new Float32Array(src.length)): Float32Array {
  const u = new Uint32Array(dst.buffer, dst.byteOffset, dst.length);
  for (let i = 0; i < src.length; i++) u[i] = src[i] << 16;
  return dst;
}

const F16_TABLE = (() => {
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const m = h & 0x3ff;
    t[h] = e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
  }
  return t;
})();

export function f16ToF32(src: Uint16Array, dst = new Float32Array(src.length)): Float32Array {
  for (let i = 0; i < src.length; i++) dst[i] = F16_TABLE[src[i]];
  return dst;
}

/** OCP float8 E4M3FN: 1 sign, 4 exponent (bias 7), 3 mantissa; no infinities, S.1111.111 is NaN. */
export const F8_E4M3_TABLE = (() => {
  const t = new Float32Array(256);
  for (let b = 0; b < 256; b++) {
    const s = b & 0x80 ? -1 : 1;
    const e = (b >> 3) & 0xf;
    const m = b & 0x7;
    t[b] = e === 0xf && m === 0x7 ? NaN : e === 0 ? s * m * 2 ** -9 : s * (1 + m / 8) * 2 ** (e - 7);
  }
  return t;
})();

export function f8e4m3ToF32(src: Uint8Array, dst = new Float32Array(src.length)): Float32Array {
  for (let i = 0; i < src.length; i++) dst[i] = F8_E4M3_TABLE[src[i]];
  return dst;
}

/** Round a float32 to the nearest E4M3FN byte (saturating at ±448), for tests and synthetic checkpoints. */
export function f32ToF8e4m3(x: number): number {
  if (Number.isNaN(x)) return 0x7f;
  let best = 0;
  let bestErr = Infinity;
  const a = Math.min(Math.abs(x), 448);
  for (let b = 0; b < 0x7f; b++) {
    const err = Math.abs(F8_E4M3_TABLE[b] - a);
    if (err < bestErr || (err === bestErr && (b & 1) === 0)) {
      best = b;
      bestErr = err;
    }
  }
  return (x < 0 ? 0x80 : 0) | best;
}

/** Decode little-endian bytes of a safetensors dtype into float32. */
export function bytesToF32(dtype: string, bytes: Uint8Array): Float32Array {
  const n = bytes.byteLength / (SAFETENSORS_DTYPE_BYTES[dtype] ?? NaN);
  const aligned = (k: number) => (bytes.byteOffset % k === 0 ? bytes : bytes.slice());
  switch (dtype) {
    case 'F32': {
      const b = aligned(4);
      return new Float32Array(b.buffer, b.byteOffset, n).slice();
    }
    case 'F64': {
      const b = aligned(8);
      return Float32Array.from(new Float64Array(b.buffer, b.byteOffset, n));
    }
    case 'BF16': {
      const b = aligned(2);
      return bf16ToF32(new Uint16Array(b.buffer, b.byteOffset, n));
    }
    case 'F16': {
      const b = aligned(2);
      return f16ToF32(new Uint16Array(b.buffer, b.byteOffset, n));
    }
    case 'F8_E4M3':
      return f8e4m3ToF32(bytes);
    case 'I8':
      return Float32Array.from(new Int8Array(bytes.buffer, bytes.byteOffset, n));
    case 'U8':
      return Float32Array.from(bytes);
    default:
      throw new Error(`no float32 conversion for dtype ${dtype}`);
  }
}
