// ONNX graph builder: typed ops -> ModelProto bytes, with a minimal protobuf writer (no protobuf runtime).
// It knows ONNX, not models: the runtime describes its layers with it. Field numbers follow onnx.proto.

import { numel, type Tensor } from './tensor.js';

export type ElemType = 'float32' | 'float16' | 'int32' | 'int64' | 'uint8' | 'int8' | 'bool' | 'bfloat16';
const ELEM: Record<ElemType, number> = { float32: 1, uint8: 2, int8: 3, int32: 6, int64: 7, bool: 9, float16: 10, bfloat16: 16 };
const ELEM_BYTES: Record<ElemType, number> = { float32: 4, uint8: 1, int8: 1, int32: 4, int64: 8, bool: 1, float16: 2, bfloat16: 2 };

// ---- protobuf writer -------------------------------------------------------------------------------
class Pb {
  private chunks: Uint8Array[] = [];
  private cur: number[] = [];
  private flush() {
    if (this.cur.length) {
      this.chunks.push(Uint8Array.from(this.cur));
      this.cur = [];
    }
  }
  private varint(v: number | bigint) {
    let x = BigInt.asUintN(64, BigInt(v));
    while (x >= 0x80n) {
      this.cur.push(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.cur.push(Number(x));
  }
  private key(field: number, wire: number) {
    this.varint((field << 3) | wire);
  }
  int(field: number, v: number | bigint) {
    this.key(field, 0);
    this.varint(v);
    return this;
  }
  float(field: number, v: number) {
    this.key(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.cur.push(...b);
    return this;
  }
  bytes(field: number, b: Uint8Array) {
    this.key(field, 2);
    this.varint(b.byteLength);
    this.flush();
    this.chunks.push(b);
    return this;
  }
  str(field: number, s: string) {
    return this.bytes(field, new TextEncoder().encode(s));
  }
  msg(field: number, m: Pb) {
    return this.bytes(field, m.finish());
  }
  finish(): Uint8Array {
    this.flush();
    const total = this.chunks.reduce((a, c) => a + c.byteLength, 0);
    const out = new Uint8Array(total);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.byteLength;
    }
    return out;
  }
}

// ---- graph model -----------------------------------------------------------------------------------
export type AttrValue =
  | number
  | string
  | number[]
  | { float: number }
  | { floats: number[] }
  | { tensor: Tensor }
  | { graph: GraphBuilder };
export type Dim = number | string;

export interface ExternalRef {
  /** file path relative to the model file's folder */
  location: string;
  offset: number;
  length: number;
}

export interface NodeSpec {
  op: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, AttrValue>;
  name: string;
}
export interface Init {
  name: string;
  elem: ElemType;
  dims: number[];
  raw?: Uint8Array;
  external?: ExternalRef;
}
export interface ValueInfo {
  name: string;
  elem: ElemType;
  dims: Dim[];
}

/** Build one ONNX graph. Names are unique strings; ops return their output names. */
export class GraphBuilder {
  private nodes: NodeSpec[] = [];
  private inits: Init[] = [];
  private inputs: ValueInfo[] = [];
  private outputs: ValueInfo[] = [];
  private counter = 0;
  private readonly opsets = new Map<string, number>([['', 17]]);

  /** `names` prefixes the names fresh() makes: a subgraph (an If / Loop body) takes one so that its names
   *  never collide with the outer graph's. */
  constructor(
    readonly name = 'graph',
    private readonly names = '',
  ) {}

  fresh(prefix = 't'): string {
    return `${this.names}${prefix}_${this.counter++}`;
  }
  useDomain(domain: string, version: number): this {
    this.opsets.set(domain, version);
    return this;
  }
  input(name: string, elem: ElemType, dims: Dim[]): string {
    this.inputs.push({ name, elem, dims });
    return name;
  }
  output(name: string, elem: ElemType, dims: Dim[]): this {
    this.outputs.push({ name, elem, dims });
    return this;
  }
  /** A constant initializer held inline (raw little-endian bytes). */
  init(name: string, t: Tensor | { elem: ElemType; dims: number[]; raw: Uint8Array }): string {
    if ('raw' in t) {
      this.inits.push({ name, elem: t.elem, dims: t.dims, raw: t.raw });
    } else {
      const d = t.data as unknown as ArrayBufferView;
      this.inits.push({ name, elem: t.dtype as ElemType, dims: t.shape, raw: new Uint8Array(d.buffer, d.byteOffset, d.byteLength) });
    }
    return name;
  }
  /** An initializer whose bytes stay in an external file (e.g. a weight cache or a safetensors file). */
  initExternal(name: string, elem: ElemType, dims: number[], ref: ExternalRef): string {
    if (ref.length !== numel(dims) * ELEM_BYTES[elem])
      throw new Error(`initExternal ${name}: length ${ref.length} != ${numel(dims)} x ${elem}`);
    this.inits.push({ name, elem, dims, external: ref });
    return name;
  }
  constF32(values: number[] | Float32Array, dims: number[] = [values.length]): string {
    return this.init(this.fresh('c'), { dtype: 'float32', shape: dims, data: Float32Array.from(values) });
  }
  constI64(values: number[], dims: number[] = [values.length]): string {
    return this.init(this.fresh('c'), { dtype: 'int64', shape: dims, data: BigInt64Array.from(values.map(BigInt)) });
  }

  /** Add a node; returns its outputs (count from `outputs`, default 1). */
  op(
    op: string,
    inputs: string[],
    attrs: Record<string, AttrValue> = {},
    opts: { domain?: string; outputs?: number | string[] } = {},
  ): string[] {
    const outs = Array.isArray(opts.outputs) ? opts.outputs : Array.from({ length: opts.outputs ?? 1 }, () => this.fresh(op.toLowerCase()));
    this.nodes.push({ op, domain: opts.domain ?? '', inputs, outputs: outs, attrs, name: this.fresh(`n_${op}`) });
    return outs;
  }
  /** Single-output op. */
  op1(op: string, inputs: string[], attrs: Record<string, AttrValue> = {}, domain?: string, out?: string): string {
    return this.op(op, inputs, attrs, { domain, outputs: out ? [out] : 1 })[0];
  }

  // conveniences for the ops every model uses
  matmul(a: string, b: string) {
    return this.op1('MatMul', [a, b]);
  }
  add(a: string, b: string) {
    return this.op1('Add', [a, b]);
  }
  sub(a: string, b: string) {
    return this.op1('Sub', [a, b]);
  }
  mul(a: string, b: string) {
    return this.op1('Mul', [a, b]);
  }
  div(a: string, b: string) {
    return this.op1('Div', [a, b]);
  }
  reshape(x: string, shape: number[]) {
    return this.op1('Reshape', [x, this.constI64(shape)]);
  }
  transpose(x: string, perm: number[]) {
    return this.op1('Transpose', [x], { perm });
  }
  concat(xs: string[], axis: number) {
    return this.op1('Concat', xs, { axis });
  }
  softmax(x: string, axis = -1) {
    return this.op1('Softmax', [x], { axis });
  }
  sigmoid(x: string) {
    return this.op1('Sigmoid', [x]);
  }
  silu(x: string) {
    return this.mul(x, this.sigmoid(x));
  }
  /** x @ W^T for W stored [out, in] (HF Linear layout), optional bias; x is 2-D [N, in]. */
  linear(x: string, w: string, bias?: string) {
    return this.op1('Gemm', bias ? [x, w, bias] : [x, w], { transB: 1 });
  }
  slice(x: string, starts: number[], ends: number[], axes: number[]) {
    return this.op1('Slice', [x, this.constI64(starts), this.constI64(ends), this.constI64(axes)]);
  }

  /** The graph's parts, live, for passes that rewrite a built graph (quantisation, external weights). */
  parts(): { nodes: NodeSpec[]; inits: Init[]; inputs: ValueInfo[]; outputs: ValueInfo[] } {
    return { nodes: this.nodes, inits: this.inits, inputs: this.inputs, outputs: this.outputs };
  }

  toBytes(producer = 'mote'): Uint8Array {
    const m = new Pb().int(1, 8).str(2, producer);
    m.msg(7, graphProto(this));
    for (const [domain, version] of this.opsets) m.msg(8, new Pb().str(1, domain).int(2, version));
    return m.finish();
  }
}

/** GraphProto of a builder: the model's main graph, or the body of an If / Loop attribute (a body reads
 *  the outer graph's values and initializers by name; its opsets are the main graph's). */
function graphProto(b: GraphBuilder): Pb {
  const { nodes, inits, inputs, outputs } = b.parts();
  const g = new Pb();
  for (const n of nodes) g.msg(1, nodeProto(n));
  g.str(2, b.name);
  for (const i of inits) g.msg(5, tensorProto(i));
  for (const v of inputs) g.msg(11, valueInfo(v));
  for (const v of outputs) g.msg(12, valueInfo(v));
  return g;
}

function nodeProto(n: NodeSpec): Pb {
  const p = new Pb();
  for (const i of n.inputs) p.str(1, i);
  for (const o of n.outputs) p.str(2, o);
  p.str(3, n.name).str(4, n.op);
  for (const [k, v] of Object.entries(n.attrs)) p.msg(5, attrProto(k, v));
  if (n.domain) p.str(7, n.domain);
  return p;
}

function attrProto(name: string, v: AttrValue): Pb {
  const p = new Pb().str(1, name);
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`attribute ${name}: use { float: ${v} } for float attributes`);
    return p.int(3, v).int(20, 2);
  }
  if (typeof v === 'string') return p.str(4, v).int(20, 3);
  if (Array.isArray(v)) {
    for (const x of v) p.int(8, x);
    return p.int(20, 7);
  }
  if ('float' in v) return p.float(2, v.float).int(20, 1);
  if ('floats' in v) {
    for (const x of v.floats) p.float(7, x);
    return p.int(20, 6);
  }
  if ('graph' in v) return p.msg(6, graphProto(v.graph)).int(20, 5);
  const t = v.tensor;
  const d = t.data as unknown as ArrayBufferView;
  p.msg(5, tensorProto({ name: '', elem: t.dtype as ElemType, dims: t.shape, raw: new Uint8Array(d.buffer, d.byteOffset, d.byteLength) }));
  return p.int(20, 4);
}

function tensorProto(t: Init): Pb {
  const p = new Pb();
  for (const d of t.dims) p.int(1, d);
  p.int(2, ELEM[t.elem]).str(8, t.name);
  if (t.raw) p.bytes(9, t.raw);
  if (t.external) {
    const kv = (k: string, v: string) => new Pb().str(1, k).str(2, v);
    p.msg(13, kv('location', t.external.location));
    p.msg(13, kv('offset', String(t.external.offset)));
    p.msg(13, kv('length', String(t.external.length)));
    p.int(14, 1);
  }
  return p;
}

function valueInfo(v: ValueInfo): Pb {
  const shape = new Pb();
  for (const d of v.dims) shape.msg(1, typeof d === 'number' ? new Pb().int(1, d) : new Pb().str(2, d));
  const tensorType = new Pb().int(1, ELEM[v.elem]).msg(2, shape);
  return new Pb().str(1, v.name).msg(2, new Pb().msg(1, tensorType));
}
