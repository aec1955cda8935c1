// safetensors writer: streams tensors to a file (header first, then data in order). For synthetic
// checkpoints, tests and caches; it never holds more than one tensor's bytes at a time.

import { closeSync, openSync, writeSync } from 'node:fs';
import { SAFETENSORS_DTYPE_BYTES } from './dtype.js';
import { numel } from './tensor.js';

export interface TensorToWrite {
  name: string;
  dtype: string; // safetensors dtype: F32, BF16, F8_E4M3, ...
  shape: number[];
  /** the little-endian bytes, or a function producing them when written */
  bytes: Uint8Array | (() => Uint8Array);
}

export function writeSafetensors(file: string, tensors: TensorToWrite[], metadata: Record<string, string> = { format: 'pt' }): void {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let off = 0;
  for (const t of tensors) {
    const len = numel(t.shape) * SAFETENSORS_DTYPE_BYTES[t.dtype];
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + len] };
    off += len;
  }
  let h = Buffer.from(JSON.stringify(header));
  const pad = (8 - (h.length % 8)) % 8;
  if (pad) h = Buffer.concat([h, Buffer.from(' '.repeat(pad))]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  const fd = openSync(file, 'w');
  try {
    writeSync(fd, len);
    writeSync(fd, h);
    for (const t of tensors) {
      const b = typeof t.bytes === 'function' ? t.bytes() : t.bytes;
      const want = numel(t.shape) * SAFETENSORS_DTYPE_BYTES[t.dtype];
      if (b.byteLength !== want)
        throw new Error(`writeSafetensors: ${t.name} has ${b.byteLength} bytes, shape [${t.shape}] of ${t.dtype} needs ${want}`);
      let done = 0;
      while (done < b.byteLength) done += writeSync(fd, b, done, Math.min(b.byteLength - done, 1 << 30));
    }
  } finally {
    closeSync(fd);
  }
}

/** float32 -> bfloat16 bytes, round to nearest even. */
export function f32ToBf16Bytes(x: Float32Array): Uint8Array {
  const u = new Uint32Array(x.buffer, x.byteOffset, x.length);
  const out = new Uint16Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = u[i];
    out[i] = (v + 0x7fff + ((v >>> 16) & 1)) >>> 16;
  }
  return new Uint8Array(out.buffer);
}

export function f32Bytes(x: Float32Array): Uint8Array {
  return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
}
