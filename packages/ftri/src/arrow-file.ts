// A bounded reader of one Arrow IPC *file* (the trace parts ftri writes): the frame and every flatbuffer that
// apache-arrow would decode are checked against the bytes first, so a corrupt file is an E_INPUT, never a hang
// or an out-of-memory. Not a general Arrow reader: streams, dictionaries, compression and column types that
// ftri never writes are refused.

import * as arrow from 'apache-arrow';
import { MoteError } from '@mote/tensor-core';

const MAGIC = 'ARROW1';
const CONTINUATION = -1;
const MAX_DEPTH = 4; // ftri's deepest column is list<item>: depth 2
// flatbuffer enums of Arrow's Schema.fbs / Message.fbs
const RECORD_BATCH = 3;
const TYPES: Record<number, string> = { 2: 'Int', 3: 'FloatingPoint', 5: 'Utf8', 6: 'Bool', 12: 'List' };

/**
 * The table of an Arrow IPC file held in memory. apache-arrow alone is not safe on corrupt input: its
 * `tableFromIPC` rereads a footer block forever when the message there is not a record batch (a negative
 * metadata length gives one of type NONE), and its flatbuffer decoding trusts vector lengths, so one flipped
 * byte can make it build millions of objects. Here the frame, the footer and each record batch message are
 * verified first and batches are read once each, by index.
 *
 *   const t = readArrowFile(readFileSync('traces/prompts-00000.arrow'), 'traces/prompts-00000.arrow');
 *   console.log(t.numRows);
 */
export function readArrowFile(bytes: Uint8Array, file: string): arrow.Table {
  const bad = (why: string) =>
    new MoteError('E_INPUT', `${file} is not a complete Arrow trace file (${why}); fix: rerun \`mote ftri\` into a new --out folder`, {
      file,
    });
  try {
    return readChecked(bytes, bad);
  } catch (e) {
    throw e instanceof MoteError ? e : bad((e as Error).message); // apache-arrow's own checks (schemas, int64 sizes)
  }
}

function readChecked(bytes: Uint8Array, bad: (why: string) => MoteError): arrow.Table {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = bytes.byteLength;
  const text = (at: number) => String.fromCharCode(...bytes.subarray(at, at + MAGIC.length));
  if (size < 8 + 10 || text(0) !== MAGIC || text(size - MAGIC.length) !== MAGIC) throw bad(`no ${MAGIC} magic at both ends`);
  const footerLength = view.getInt32(size - 10, true);
  const dataEnd = size - 10 - footerLength; // blocks lie in [8, dataEnd)
  if (footerLength <= 0 || dataEnd < 8) throw bad(`footer length ${footerLength} out of range`);
  const blocks = checkFooter(new Flatbuffer(bytes.subarray(dataEnd, dataEnd + footerLength), bad));
  const reader = arrow.RecordBatchFileReader.from(bytes) as arrow.RecordBatchFileReader;
  reader.open();
  const batches: arrow.RecordBatch[] = [];
  blocks.forEach(({ offset, meta, body }, i) => {
    if (!(offset >= 8 && meta >= 8 && body >= 0 && offset + meta + body <= dataEnd))
      throw bad(`record batch ${i} block (offset ${offset}, metadata ${meta}, body ${body}) lies outside the data`);
    const prefix = view.getInt32(offset, true),
      length = view.getInt32(offset + 4, true);
    if (prefix !== CONTINUATION || length <= 0 || length + 8 > meta)
      throw bad(`record batch ${i}: message prefix (${prefix}, ${length}) is not a continuation marker and a length within ${meta}`);
    checkRecordBatch(new Flatbuffer(bytes.subarray(offset + 8, offset + 8 + length), bad), body, i);
    const batch = reader.readRecordBatch(i);
    if (!batch) throw bad(`block ${i} does not hold a record batch`);
    batches.push(batch);
  });
  return new arrow.Table(reader.schema, batches);
}

/** The footer's record batch blocks, after checking every table, vector and string the footer decode reads. */
function checkFooter(fb: Flatbuffer): Array<{ offset: number; meta: number; body: number }> {
  const footer = fb.root();
  const schema = fb.table(footer, 1);
  if (schema === 0) throw fb.bad('the footer has no schema');
  const fields = fb.vector(schema, 1, 4);
  for (let i = 0; i < fields.length; i++) checkField(fb, fb.ref(fields.start + 4 * i), 1);
  fb.keyValues(schema, 2);
  fb.vector(schema, 3, 8);
  if (fb.vector(footer, 2, 24).length) throw fb.bad('dictionary batches, which ftri never writes');
  fb.keyValues(footer, 4);
  const rb = fb.vector(footer, 3, 24); // struct Block { offset: long; metaDataLength: int; bodyLength: long }
  return Array.from({ length: rb.length }, (_, i) => ({
    offset: fb.i64(rb.start + 24 * i),
    meta: fb.i32(rb.start + 24 * i + 8),
    body: fb.i64(rb.start + 24 * i + 16),
  }));
}

function checkField(fb: Flatbuffer, field: number, depth: number): void {
  if (depth > MAX_DEPTH) throw fb.bad(`columns nested deeper than ${MAX_DEPTH} (or a cycle)`);
  fb.table(field, -1); // bounds of the field table itself
  fb.string(field, 0);
  const type = fb.u8(field, 2);
  if (!TYPES[type]) throw fb.bad(`a column of Arrow type ${type}, which ftri never writes`);
  fb.table(field, 3);
  if (fb.table(field, 4)) throw fb.bad('a dictionary-encoded column, which ftri never writes');
  const children = fb.vector(field, 5, 4);
  for (let i = 0; i < children.length; i++) checkField(fb, fb.ref(children.start + 4 * i), depth + 1);
  fb.keyValues(field, 6);
}

/** One record batch message: its header type, and nodes, buffers and row counts that fit its body. */
function checkRecordBatch(fb: Flatbuffer, body: number, i: number): void {
  const msg = fb.root();
  if (fb.u8(msg, 1) !== RECORD_BATCH) throw fb.bad(`block ${i} holds message type ${fb.u8(msg, 1)}, not a record batch`);
  fb.keyValues(msg, 4);
  const rb = fb.table(msg, 2);
  if (rb === 0) throw fb.bad(`record batch ${i} has no header`);
  // every column ftri writes stores at least one bit per row, so no count exceeds 8 bits per body byte
  const rowsMax = 8 * body + 8;
  const rows = fb.scalarI64(rb, 0);
  if (rows < 0 || rows > rowsMax) throw fb.bad(`record batch ${i} claims ${rows} rows in ${body} bytes`);
  const nodes = fb.vector(rb, 1, 16); // struct FieldNode { length: long; null_count: long }
  for (let k = 0; k < nodes.length; k++) {
    const n = fb.i64(nodes.start + 16 * k);
    if (n < 0 || n > rowsMax) throw fb.bad(`record batch ${i}, column node ${k}: ${n} values in ${body} bytes`);
  }
  const buffers = fb.vector(rb, 2, 16); // struct Buffer { offset: long; length: long }
  for (let k = 0; k < buffers.length; k++) {
    const off = fb.i64(buffers.start + 16 * k),
      len = fb.i64(buffers.start + 16 * k + 8);
    if (off < 0 || len < 0 || off + len > body) throw fb.bad(`record batch ${i}, buffer ${k} [${off}, +${len}) outside its ${body} bytes`);
  }
  if (fb.table(rb, 3)) throw fb.bad(`record batch ${i} is compressed, which ftri never writes`);
  fb.vector(rb, 4, 8);
}

/** Bounds-checked reads of one flatbuffer (the wire format of Arrow's metadata); any overrun is an error. */
class Flatbuffer {
  private view: DataView;
  constructor(
    private bytes: Uint8Array,
    readonly bad: (why: string) => MoteError,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  private at(pos: number, n: number): number {
    if (!(Number.isInteger(pos) && pos >= 0 && pos + n <= this.bytes.length))
      throw this.bad(`a metadata offset ${pos} (+${n}) outside its ${this.bytes.length} bytes`);
    return pos;
  }
  i32(pos: number): number {
    return this.view.getInt32(this.at(pos, 4), true);
  }
  i64(pos: number): number {
    return Number(this.view.getBigInt64(this.at(pos, 8), true));
  }
  /** The position a uoffset at `pos` points to. */
  ref(pos: number): number {
    return this.at(pos + this.view.getUint32(this.at(pos, 4), true), 4);
  }
  root(): number {
    return this.table(this.ref(0), -1);
  }
  /** Position of field `f` of the table at `t` (0 when absent), checked against the table's vtable; f = -1 checks `t` only. */
  private slot(t: number, f: number): number {
    const vt = this.at(t - this.i32(t), 4);
    const vtSize = this.view.getUint16(vt, true),
      tSize = this.view.getUint16(vt + 2, true);
    this.at(vt, vtSize);
    this.at(t, tSize);
    if (vtSize < 4 || vtSize % 2) throw this.bad(`a vtable of ${vtSize} bytes`);
    if (f < 0 || 4 + 2 * f >= vtSize) return 0;
    const o = this.view.getUint16(this.at(vt + 4 + 2 * f, 2), true);
    if (o && o >= tSize) throw this.bad(`a field at ${o} past its table's ${tSize} bytes`);
    return o ? t + o : 0;
  }
  /** The table that field `f` of `t` points to, or 0; with f = -1 the bounds of `t` itself. */
  table(t: number, f: number): number {
    if (f < 0) {
      this.slot(t, -1);
      return t;
    }
    const p = this.slot(t, f);
    if (!p) return 0;
    const sub = this.ref(p);
    this.slot(sub, -1);
    return sub;
  }
  u8(t: number, f: number): number {
    const p = this.slot(t, f);
    return p ? this.view.getUint8(this.at(p, 1)) : 0;
  }
  scalarI64(t: number, f: number): number {
    const p = this.slot(t, f);
    return p ? this.i64(p) : 0;
  }
  /** The vector that field `f` of `t` points to; its `length` elements of `elem` bytes lie inside the buffer. */
  vector(t: number, f: number, elem: number): { start: number; length: number } {
    const p = this.slot(t, f);
    if (!p) return { start: 0, length: 0 };
    const v = this.ref(p);
    const length = this.view.getUint32(v, true);
    this.at(v + 4, length * elem);
    return { start: v + 4, length };
  }
  string(t: number, f: number): void {
    this.vector(t, f, 1);
  }
  /** custom_metadata: a vector of KeyValue { key: string; value: string } tables. */
  keyValues(t: number, f: number): void {
    const kv = this.vector(t, f, 4);
    for (let i = 0; i < kv.length; i++) {
      const e = this.table(this.ref(kv.start + 4 * i), -1);
      this.string(e, 0);
      this.string(e, 1);
    }
  }
}
