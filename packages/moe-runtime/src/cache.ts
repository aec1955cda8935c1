// The weight cache. The first load of a checkpoint converts its weights (bf16/fp8 -> f32, or int8/int4
// via quantize.ts) and writes every session's graph as `<name>.onnx` whose initializers live in
// `<name>.bin` beside it (ONNX external data, page-aligned), under
// <cacheRoot>/<content hash>/<dtype>-<runtime hash>/. Later loads create sessions from those files:
// no conversion, no JS copy of the weights, no protobuf 2 GB limit. cacheRoot: LoadOptions.cache, else
// $MOTE_CACHE, else ~/.cache/mote; `cache: false` or MOTE_CACHE=off builds in memory as before.
// Not a model store: only what the runtime derived from a checkpoint folder it was given.

import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MoteError, Session, TENSOR_CORE_MODULE, type F32Tensor, type GraphBuilder, type SessionOptions } from '@mote/tensor-core';
import { fuseSiblingMatMuls } from './fuse.js';
import { quantizeGraph, weightBits, WEIGHT_DTYPES, type WeightDtype } from './quantize.js';

/** bump when the cache layout changes */
const FORMAT = 1;
/** initializers below this many bytes stay inside the .onnx */
const INLINE_MAX = 4096;
/** external data offsets are page aligned so onnxruntime can map them */
const ALIGN = 4096;

/** The cache root for a `cache` load option: false/'off' = no cache. */
export function cacheRoot(opt?: string | boolean): string | null {
  if (opt === false) return null;
  if (typeof opt === 'string' && opt !== '') return opt === 'off' ? null : opt;
  const env = process.env.MOTE_CACHE;
  if (env === 'off' || env === '0' || env === 'false') return null;
  return env || join(homedir(), '.cache', 'mote');
}

function checkpointFiles(dir: string): string[] {
  return readdirSync(dir).filter((f) => f === 'config.json' || f === 'model.safetensors.index.json' || f.endsWith('.safetensors')).sort().map((f) => join(dir, f));
}

/**
 * sha256 (first 32 hex) of the checkpoint's config.json and weight files, content only. Computed once per
 * file set: a stat fingerprint (path, size, mtime, inode) maps to the hash in <root>/index/.
 */
export function checkpointHash(dir: string, root: string): string {
  const files = checkpointFiles(dir);
  const stats = files.map((f) => { const s = statSync(f); return [f, s.size, s.mtimeMs, s.ino]; });
  const fp = createHash('sha256').update(JSON.stringify(stats)).digest('hex').slice(0, 32);
  const indexFile = join(root, 'index', `${fp}.json`);
  if (existsSync(indexFile)) {
    try { return JSON.parse(readFileSync(indexFile, 'utf8')).hash as string; } catch { /* rewrite below */ }
  }
  const h = createHash('sha256');
  const buf = Buffer.allocUnsafe(16 << 20);
  for (const f of files) {
    h.update(basename(f));
    const fd = openSync(f, 'r');
    try {
      for (let n: number; (n = readSync(fd, buf, 0, buf.length, null)) > 0;) h.update(buf.subarray(0, n));
    } finally {
      closeSync(fd);
    }
  }
  const hash = h.digest('hex').slice(0, 32);
  writeAtomic(indexFile, JSON.stringify({ hash, dir, files: stats }));
  return hash;
}

let runtimeHashMemo: string | null = null;
/** Hash of the code that builds graphs (this package and tensor-core, source or bundle): new code, new graphs. */
export function runtimeHash(): string {
  if (runtimeHashMemo) return runtimeHashMemo;
  const h = createHash('sha256').update(`format ${FORMAT}`);
  for (const url of [import.meta.url, TENSOR_CORE_MODULE]) {
    const file = fileURLToPath(url);
    const files = file.endsWith('.ts') ? listSources(dirname(file)) : [file];
    for (const f of files) h.update(basename(f)).update(readFileSync(f));
  }
  runtimeHashMemo = h.digest('hex').slice(0, 12);
  return runtimeHashMemo;
}

function listSources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...listSources(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

function writeAtomic(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

function writeAll(fd: number, b: Uint8Array): void {
  for (let done = 0; done < b.byteLength;) done += writeSync(fd, b, done, Math.min(b.byteLength - done, 1 << 30));
}

interface Manifest {
  format: number;
  dtype: WeightDtype;
  checkpoint: string;
  hash: string;
  runtime: string;
  graphs: string[];
  tensors: Record<string, { shape: number[] }>;
  complete: boolean;
}

export interface CacheStats {
  /** true when every graph and tensor came from the cache */
  hit: boolean;
  /** the cache folder, or null without a cache */
  dir: string | null;
  dtype: WeightDtype;
}

/** Sessions and tensors of one load, from the cache folder or built (and then cached). */
export class WeightCache {
  private readonly manifest: Manifest | null;
  private constructor(
    readonly dtype: WeightDtype,
    /** final folder (null: no cache) */
    readonly dir: string | null,
    /** folder written during a miss, renamed to `dir` by commit() */
    private readonly work: string | null,
    hitManifest: Manifest | null,
    private readonly fresh: Manifest | null,
  ) {
    this.manifest = hitManifest;
  }

  get stats(): CacheStats {
    return { hit: this.manifest !== null, dir: this.dir, dtype: this.dtype };
  }

  static open(checkpointDir: string, dtype: WeightDtype, cache?: string | boolean): WeightCache {
    if (!WEIGHT_DTYPES.includes(dtype)) {
      throw new MoteError('E_INPUT', `dtype ${JSON.stringify(dtype)} is not supported; use one of ${WEIGHT_DTYPES.join(', ')}`, { field: 'dtype' });
    }
    const root = cacheRoot(cache);
    if (!root) return new WeightCache(dtype, null, null, null, null);
    const hash = checkpointHash(checkpointDir, root);
    const runtime = runtimeHash();
    const dir = join(root, hash, `${dtype}-${runtime}`);
    const mf = join(dir, 'manifest.json');
    if (existsSync(mf)) {
      try {
        const m = JSON.parse(readFileSync(mf, 'utf8')) as Manifest;
        if (m.complete && m.format === FORMAT) return new WeightCache(dtype, dir, null, m, null);
      } catch { /* rebuild */ }
    }
    const work = `${dir}.tmp-${process.pid}-${Date.now()}`;
    mkdirSync(work, { recursive: true });
    const fresh: Manifest = { format: FORMAT, dtype, checkpoint: checkpointDir, hash, runtime, graphs: [], tensors: {}, complete: false };
    return new WeightCache(dtype, dir, work, null, fresh);
  }

  /** A session for graph `name`: from the cached .onnx, else built by `build`, quantised to the dtype and cached. */
  async session(name: string, build: () => GraphBuilder, opts: SessionOptions): Promise<Session> {
    // the f32 lm_head only ever multiplies the few rows that need logits: unpacked, onnxruntime maps its
    // weights from the cache file instead of copying them at load, and its GEMV kernel streams them as fast
    opts = name === 'head' && this.dtype === 'f32' ? { ...opts, extra: { session: { disable_prepacking: '1' } } } : opts;
    if (this.manifest) {
      const file = join(this.dir!, `${name}.onnx`);
      if (!this.manifest.graphs.includes(name) || !existsSync(file)) {
        throw new MoteError('E_IO', `the weight cache ${this.dir} has no graph ${name}; delete that folder and load again to rebuild it`, { file: this.dir! });
      }
      return Session.create(file, opts);
    }
    const g = build();
    fuseSiblingMatMuls(g, (a, b) => weightBits(a, this.dtype) === weightBits(b, this.dtype));
    quantizeGraph(g, this.dtype);
    if (!this.work) return Session.create(g.toBytes(), opts);
    const file = writeGraph(g, this.work, name);
    this.fresh!.graphs.push(name);
    return Session.create(file, opts);
  }

  /** A float32 tensor the runtime keeps in JS (embeddings, biases): from the cache, else made and cached. */
  tensor(name: string, make: () => F32Tensor): F32Tensor {
    if (this.manifest) {
      const meta = this.manifest.tensors[name];
      const file = join(this.dir!, `${name}.f32`);
      if (!meta || !existsSync(file)) throw new MoteError('E_IO', `the weight cache ${this.dir} has no tensor ${name}; delete that folder and load again to rebuild it`, { file: this.dir! });
      const b = readFileSync(file);
      return { dtype: 'float32', shape: meta.shape, data: new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4) };
    }
    const t = make();
    if (this.work) {
      const fd = openSync(join(this.work, `${name}.f32`), 'w');
      try { writeAll(fd, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)); } finally { closeSync(fd); }
      this.fresh!.tensors[name] = { shape: t.shape };
    }
    return t;
  }

  /**
   * A row table [rows, cols] the runtime reads a few rows of per step (token embeddings): with a cache it
   * stays on disk and rows are read on demand (memory-light: the table is not held in JS), else in memory.
   */
  rows(name: string, make: () => F32Tensor): RowTable {
    const t = this.manifest ? null : make();
    if (t && !this.work) return memoryRows(t);
    if (t) this.tensor(name, () => t);
    const file = join(this.manifest ? this.dir! : this.work!, `${name}.f32`);
    const shape = t ? t.shape : this.manifest!.tensors[name]?.shape;
    if (!shape || !existsSync(file)) throw new MoteError('E_IO', `the weight cache ${this.dir} has no tensor ${name}; delete that folder and load again to rebuild it`, { file: this.dir! });
    return fileRows(file, shape);
  }

  /** After a miss: publish the written folder (first writer wins) and drop stale builds of this dtype. */
  commit(): void {
    if (!this.work || !this.fresh || !this.dir) return;
    this.fresh.complete = true;
    writeFileSync(join(this.work, 'manifest.json'), JSON.stringify(this.fresh, null, 1));
    if (existsSync(this.dir)) {
      rmSync(this.work, { recursive: true, force: true });
    } else {
      try { renameSync(this.work, this.dir); } catch { rmSync(this.work, { recursive: true, force: true }); }
    }
    // builds of this dtype by other runtime versions, untouched for a day, are stale
    const parent = dirname(this.dir);
    const dayAgo = Date.now() - 24 * 3600 * 1000;
    for (const e of readdirSync(parent)) {
      const p = join(parent, e);
      if (p === this.dir || !e.startsWith(`${this.dtype}-`)) continue;
      try { if (statSync(p).mtimeMs < dayAgo) rmSync(p, { recursive: true, force: true }); } catch { /* gone */ }
    }
  }

  /** After a failed load: remove the partial folder. */
  abort(): void {
    if (this.work) rmSync(this.work, { recursive: true, force: true });
  }
}

/** Write g as dir/name.onnx with its large initializers in dir/name.bin; frees their JS bytes. */
function writeGraph(g: GraphBuilder, dir: string, name: string): string {
  const { inits } = g.parts();
  const bin = `${name}.bin`;
  const fd = openSync(join(dir, bin), 'w');
  let off = 0;
  try {
    for (const i of inits) {
      if (!i.raw || i.raw.byteLength < INLINE_MAX) continue;
      const pad = (ALIGN - (off % ALIGN)) % ALIGN;
      if (pad) { writeAll(fd, new Uint8Array(pad)); off += pad; }
      writeAll(fd, i.raw);
      i.external = { location: bin, offset: off, length: i.raw.byteLength };
      off += i.raw.byteLength;
      i.raw = undefined;
    }
  } finally {
    closeSync(fd);
  }
  const file = join(dir, `${name}.onnx`);
  writeFileSync(file, g.toBytes());
  return file;
}

/** Rows of a [rows, cols] float32 table. `row(i)` is valid until the next call. */
export interface RowTable {
  shape: number[];
  row(i: number): Float32Array;
  close(): void;
}

function memoryRows(t: F32Tensor): RowTable {
  const cols = t.shape[1];
  return { shape: t.shape, row: (i) => t.data.subarray(i * cols, (i + 1) * cols), close: () => {} };
}

/** Rows read with positional reads from a raw float32 file (the OS file cache keeps the hot ones). */
function fileRows(file: string, shape: number[]): RowTable {
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
    close() { if (fd !== null) { closeSync(fd); fd = null; } },
  };
}
