// The bytes of a weight-cache entry: a graph's large initializers written to `<name>.bin` as ONNX external
// data (page aligned, so onnxruntime can map them), and float32 row tables read from memory or from a raw
// file a row at a time. Not the entry's key, layout or life cycle (cache.ts).

import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { writeAll } from '@mote/io';
import type { F32Tensor, GraphBuilder } from '@mote/tensor-core';

/** initializers below this many bytes stay inside the .onnx */
const INLINE_MAX = 4096;
/** external data offsets are page aligned so onnxruntime can map them */
const ALIGN = 4096;

/** Write g's large initializers into dir/name.bin (then point them there and free their JS bytes). Returns its size. */
export function writeBin(g: GraphBuilder, dir: string, name: string): number {
  const { inits } = g.parts();
  const bin = `${name}.bin`;
  const fd = openSync(join(dir, bin), 'w');
  let off = 0;
  const placed: { i: (typeof inits)[number]; offset: number; length: number }[] = [];
  try {
    for (const i of inits) {
      if (!i.raw || i.raw.byteLength < INLINE_MAX) continue;
      const pad = (ALIGN - (off % ALIGN)) % ALIGN;
      if (pad) {
        writeAll(fd, new Uint8Array(pad));
        off += pad;
      }
      writeAll(fd, i.raw);
      placed.push({ i, offset: off, length: i.raw.byteLength });
      off += i.raw.byteLength;
    }
  } finally {
    closeSync(fd);
  }
  for (const p of placed) {
    p.i.external = { location: bin, offset: p.offset, length: p.length };
    p.i.raw = undefined;
  }
  return off;
}

/** Rows of a [rows, cols] float32 table. `row(i)` is valid until the next call. */
export interface RowTable {
  shape: number[];
  row(i: number): Float32Array;
  close(): void;
}

export function memoryRows(t: F32Tensor): RowTable {
  const cols = t.shape[1];
  return { shape: t.shape, row: (i) => t.data.subarray(i * cols, (i + 1) * cols), close: () => {} };
}

/** Rows read with positional reads from a raw float32 file (the OS file cache keeps the hot ones). */
export function fileRows(file: string, shape: number[]): RowTable {
  const cols = shape[1];
  const buf = new Float32Array(cols);
  const bytes = new Uint8Array(buf.buffer);
  let fd: number | null = openSync(file, 'r');
  return {
    shape,
    row(i) {
      if (fd === null) fd = openSync(file, 'r');
      readSync(fd, bytes, 0, bytes.byteLength, i * bytes.byteLength);
      return buf;
    },
    close() {
      if (fd !== null) {
        closeSync(fd);
        fd = null;
      }
    },
  };
}
