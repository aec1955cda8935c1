// A trace part's bytes: the token rows and the sparse prompt x layer x expert aggregates of one batch as a
// column set, written as an Arrow IPC file or a Parquet file, and the check that a written one is whole. Not
// the run folder, its log or its readers (store.ts, trace-read.ts). Shapes: R token rows, K top-k, E experts, L MoE layers, F = L*E.

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import * as arrow from 'apache-arrow';
import { parquetMetadata } from 'hyparquet';
import { parquetWriteBuffer } from 'hyparquet-writer';
import type { PromptRecord } from './prompts.js';
import { FLAG_ANSWER, FLAG_GENERATED, FLAG_THINK, type BatchAggregate, type TokenRows } from './trace.js';
import { VERSION } from './version.js';

/** What the column sets of one batch are built from. */
export interface ColumnsInput {
  prompts: readonly PromptRecord[]; // the full prompt set (index -> record)
  agg: BatchAggregate;
  rows: TokenRows;
  layers: number[];
  expertCount: number;
  topK: number;
  tokenText: (id: number) => string;
}

// A column set shared by the Arrow and Parquet writers.
export type Col =
  | { name: string; kind: 'i32'; data: Int32Array }
  | { name: string; kind: 'f32'; data: Float32Array }
  | { name: string; kind: 'bool'; data: Uint8Array }
  | { name: string; kind: 'str'; data: string[] }
  | { name: string; kind: 'list_i32'; data: Int32Array; width: number }
  | { name: string; kind: 'list_f32'; data: Float32Array; width: number };
export interface Cols {
  length: number;
  cols: Col[];
}

export function tokenColumns(inp: ColumnsInput): Cols {
  const r = inp.rows,
    n = r.n;
  const ids = new Array<string>(n),
    text = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    ids[i] = inp.prompts[r.prompt[i]].id;
    text[i] = inp.tokenText(r.tokenId[i]);
  }
  const flag = (bit: number): Uint8Array => r.flags.map((f) => (f & bit ? 1 : 0));
  const cols: Col[] = [
    { name: 'prompt_id', kind: 'str', data: ids },
    { name: 'prompt_index', kind: 'i32', data: r.prompt },
    { name: 'pos', kind: 'i32', data: r.pos },
    { name: 'token_id', kind: 'i32', data: r.tokenId },
    { name: 'token', kind: 'str', data: text },
    { name: 'generated', kind: 'bool', data: flag(FLAG_GENERATED) },
    { name: 'in_think', kind: 'bool', data: flag(FLAG_THINK) },
    { name: 'in_answer', kind: 'bool', data: flag(FLAG_ANSWER) },
    { name: 'layer', kind: 'i32', data: r.layer },
    { name: 'topk_ids', kind: 'list_i32', data: r.topkIds, width: inp.topK },
    { name: 'topk_weights', kind: 'list_f32', data: r.topkWeights, width: inp.topK },
  ];
  if (r.routerProbs) cols.push({ name: 'router_probs', kind: 'list_f32', data: r.routerProbs, width: inp.expertCount });
  return { length: n, cols };
}

/** Sparse prompt x layer x expert aggregates: one row per (prompt, layer, expert) selected at least once. */
export function aggColumns(inp: ColumnsInput): Cols {
  const { agg, layers, expertCount: E } = inp;
  const F = layers.length * E;
  const pid: string[] = [],
    pidx: number[] = [],
    lay: number[] = [],
    exp: number[] = [],
    cnt: number[] = [],
    w: number[] = [],
    nt: number[] = [];
  agg.promptIndex.forEach((gi, s) => {
    for (let f = 0; f < F; f++) {
      const c = agg.counts[s * F + f];
      if (c === 0) continue;
      pid.push(inp.prompts[gi].id);
      pidx.push(gi);
      lay.push(layers[Math.floor(f / E)]);
      exp.push(f % E);
      cnt.push(c);
      w.push(agg.weights[s * F + f]);
      nt.push(agg.tokens[s]);
    }
  });
  return {
    length: pid.length,
    cols: [
      { name: 'prompt_id', kind: 'str', data: pid },
      { name: 'prompt_index', kind: 'i32', data: Int32Array.from(pidx) },
      { name: 'layer', kind: 'i32', data: Int32Array.from(lay) },
      { name: 'expert', kind: 'i32', data: Int32Array.from(exp) },
      { name: 'count', kind: 'i32', data: Int32Array.from(cnt) },
      { name: 'weight', kind: 'f32', data: Float32Array.from(w) },
      { name: 'n_tokens', kind: 'i32', data: Int32Array.from(nt) },
    ],
  };
}

export function arrowFile(c: Cols): Uint8Array {
  const vecs: Record<string, arrow.Vector> = {};
  for (const col of c.cols) {
    switch (col.kind) {
      case 'i32':
        vecs[col.name] = arrow.makeVector(col.data);
        break;
      case 'f32':
        vecs[col.name] = arrow.makeVector(col.data);
        break;
      case 'bool':
        vecs[col.name] = arrow.vectorFromArray(
          Array.from(col.data, (v) => v === 1),
          new arrow.Bool(),
        );
        break;
      case 'str':
        vecs[col.name] = arrow.vectorFromArray(col.data, new arrow.Utf8());
        break;
      case 'list_i32':
      case 'list_f32': {
        const item = col.kind === 'list_i32' ? new arrow.Int32() : new arrow.Float32();
        const type = new arrow.List(new arrow.Field('item', item, false));
        const offsets = Int32Array.from({ length: c.length + 1 }, (_, i) => i * col.width);
        const child = arrow.makeData({ type: item, length: col.data.length, data: col.data } as never);
        vecs[col.name] = arrow.makeVector(arrow.makeData({ type, length: c.length, nullCount: 0, valueOffsets: offsets, child } as never));
        break;
      }
    }
  }
  return arrow.tableToIPC(new arrow.Table(vecs), 'file');
}

export function parquetFile(c: Cols): Uint8Array {
  const columnData: { name: string; data: unknown[] | Int32Array | Float32Array }[] = [];
  const schema: Record<string, unknown>[] = [{ name: 'root', num_children: c.cols.length }];
  for (const col of c.cols) {
    switch (col.kind) {
      case 'i32':
        columnData.push({ name: col.name, data: col.data });
        schema.push({ name: col.name, type: 'INT32', repetition_type: 'REQUIRED' });
        break;
      case 'f32':
        columnData.push({ name: col.name, data: col.data });
        schema.push({ name: col.name, type: 'FLOAT', repetition_type: 'REQUIRED' });
        break;
      case 'bool':
        columnData.push({ name: col.name, data: Array.from(col.data, (v) => v === 1) });
        schema.push({ name: col.name, type: 'BOOLEAN', repetition_type: 'REQUIRED' });
        break;
      case 'str':
        columnData.push({ name: col.name, data: col.data });
        schema.push({ name: col.name, type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' });
        break;
      case 'list_i32':
      case 'list_f32': {
        const rows: number[][] = new Array(c.length);
        for (let i = 0; i < c.length; i++) rows[i] = Array.from(col.data.subarray(i * col.width, (i + 1) * col.width));
        columnData.push({ name: col.name, data: rows });
        schema.push(
          { name: col.name, repetition_type: 'REQUIRED', converted_type: 'LIST', num_children: 1 },
          { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
          { name: 'element', type: col.kind === 'list_i32' ? 'INT32' : 'FLOAT', repetition_type: 'REQUIRED' },
        );
        break;
      }
    }
  }
  const buf = parquetWriteBuffer({ columnData: columnData as never, schema: schema as never, createdBy: `@mote/ftri ${VERSION}` });
  return new Uint8Array(buf);
}

const ARROW_MAGIC = 'ARROW1';
const PARQUET_MAGIC = 'PAR1';

/**
 * What is wrong with a written part file, or null: an Arrow IPC file must start and end with its magic, a
 * Parquet file must end with a footer that parses and holds `rows` rows. Reads the file's ends only (a
 * truncated file loses its end). `rows`: the part's logged row count.
 * @example traceFileProblem('run/traces/prompts-00000.parquet', 12); // null, or e.g. 'it ends without PAR1'
 */
export function traceFileProblem(file: string, rows: number): string | null {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const read = (at: number, n: number): Buffer => {
      const b = Buffer.alloc(Math.max(0, Math.min(n, size - at)));
      readSync(fd, b, 0, b.length, at);
      return b;
    };
    if (file.endsWith('.arrow')) {
      if (size < 2 * ARROW_MAGIC.length + 2) return `it is ${size} bytes, too short for an Arrow IPC file`;
      if (read(0, 6).toString('latin1') !== ARROW_MAGIC) return 'it does not start with the Arrow magic ARROW1';
      if (read(size - 6, 6).toString('latin1') !== ARROW_MAGIC) return 'it ends without the Arrow magic ARROW1 (truncated)';
      return null;
    }
    if (file.endsWith('.parquet')) {
      if (size < 12) return `it is ${size} bytes, too short for a Parquet file`;
      if (read(0, 4).toString('latin1') !== PARQUET_MAGIC) return 'it does not start with the Parquet magic PAR1';
      const tail = read(size - 8, 8);
      if (tail.subarray(4).toString('latin1') !== PARQUET_MAGIC) return 'it ends without the Parquet magic PAR1 (truncated)';
      const footer = tail.readUInt32LE(0);
      if (footer + 12 > size) return `its footer length ${footer} does not fit its ${size} bytes`;
      let got: number;
      try {
        got = Number(parquetMetadata(read(size - 8 - footer, footer + 8)).num_rows);
      } catch (e) {
        return `its footer does not parse (${(e as Error).message})`;
      }
      return got === rows ? null : `its footer holds ${got} rows, the progress log ${rows}`;
    }
    return null;
  } finally {
    closeSync(fd);
  }
}
