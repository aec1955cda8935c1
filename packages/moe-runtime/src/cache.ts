// The weight cache. The first load of a checkpoint converts its weights (bf16/fp8 -> f32, or int8/int4
// via quantize.ts) one graph at a time straight into `<name>.onnx` + `<name>.bin` (ONNX external data,
// page-aligned) under <cacheRoot>/<key>/<dtype>-<runtime hash>/, holding no sessions meanwhile; then every
// load creates sessions from those files: no conversion, no JS copy of the weights. The key reads no
// weight in full: file names, sizes, safetensors headers and 256 sampled 4 KiB blocks per file. Each
// entry records the full sha256 of every file and the file identities (inode, mtime, ctime) it was
// checked against: a new identity (a copy, or a file rewritten in place, which moves ctime) is re-hashed
// in full before a hit, as is every load with `verify`. A corrupt entry is rebuilt with a warning; a
// full or read-only cache root degrades to running without a cache with a warning.
// cacheRoot: LoadOptions.cache, else $MOTE_CACHE, else ~/.cache/mote; `cache: false` or MOTE_CACHE=off.
// Not a model store: only what the runtime derived from a checkpoint folder it was given.

import { createHash } from 'node:crypto';
import {
  accessSync,
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  statfsSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeAll, writeAtomic } from '@mote/io';
import { MoteError, Session, TENSOR_CORE_MODULE, type F32Tensor, type GraphBuilder, type SessionOptions } from '@mote/tensor-core';
import { fuseSiblingMatMuls } from './fuse.js';
import { checkpointFiles, checkpointHash, fullHashes, identity } from './cache-key.js';
import { gb } from './memory.js';
import { quantizeGraph, weightBits, WEIGHT_DTYPES, type WeightDtype } from './quantize.js';
import { fileRows, memoryRows, writeBin, type RowTable } from './cache-files.js';

/** bump when the cache layout changes */
const FORMAT = 2;
/** disk errors that mean "this cache root cannot take the entry": run without it */
const DISK_ERRORS = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM']);

/** The cache root for a `cache` load option: false/'off' = no cache. */
export function cacheRoot(opt?: string | boolean): string | null {
  if (opt === false) return null;
  if (typeof opt === 'string' && opt !== '') return opt === 'off' ? null : opt;
  const env = process.env.MOTE_CACHE;
  if (env === 'off' || env === '0' || env === 'false') return null;
  return env || join(homedir(), '.cache', 'mote');
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

function readJson<T>(file: string): T | null {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return null;
  }
}

interface Manifest {
  format: number;
  dtype: WeightDtype;
  checkpoint: string;
  hash: string;
  runtime: string;
  graphs: string[];
  tensors: Record<string, { shape: number[] }>;
  /** bytes of every file of the entry: a truncated one is found without reading it */
  files: Record<string, number>;
  complete: boolean;
}

/** <root>/<key>/content.json: what the key stands for */
interface Content {
  /** full sha256 per checkpoint file */
  sha256: Record<string, string>;
  /** file identity sets already checked against sha256 */
  seen: string[];
}

export interface CacheStats {
  /** true when every graph and tensor came from the cache */
  hit: boolean;
  /** the cache folder, or null without a cache */
  dir: string | null;
  dtype: WeightDtype;
  /** a cold load whose conversion ran in a child process: that process's peak RSS (bytes) */
  convertPeakBytes?: number;
}

/** peak RSS of this process's last conversion child (convert.ts), reported by the next cold load's stats */
let childPeakBytes = 0;
export function noteConvertPeak(bytes: number): void {
  childPeakBytes = bytes;
}

export interface CacheOpenOptions {
  cache?: string | boolean;
  /** re-hash every weight byte against the entry before using it */
  verify?: boolean;
  /** where warnings go */
  log: (line: string) => void;
  /** expected entry bytes, checked against the free disk space before writing */
  bytes?: number;
}

/** A cache entry fails to load (truncated, damaged): Model.load rebuilds it once. */
export class CacheCorrupt extends Error {}

/** Sessions and tensors of one load, from the cache folder, written to it (cold), or built in memory. */
export class WeightCache {
  private constructor(
    readonly dtype: WeightDtype,
    /** final folder (null: no cache) */
    readonly dir: string | null,
    /** folder written during a miss, renamed to `dir` by commit(); null once degraded */
    private work: string | null,
    private readonly manifest: Manifest | null,
    private readonly fresh: Manifest | null,
    private readonly ckptDir: string,
    private readonly log: (line: string) => void,
  ) {}

  /** set when this load converted the entry just before reading it (a cold load, not a hit) */
  built = false;

  get stats(): CacheStats {
    const stats: CacheStats = {
      hit: this.manifest !== null && !this.built,
      dir: this.manifest || this.work ? this.dir : null,
      dtype: this.dtype,
    };
    if (this.built && childPeakBytes) stats.convertPeakBytes = childPeakBytes;
    return stats;
  }

  /** true on a miss with a writable cache: the caller converts every graph with write(), then commit()s */
  get building(): boolean {
    return this.work !== null;
  }

  /** No cache: build every session in memory. */
  static none(dtype: WeightDtype, ckptDir = '', log: (line: string) => void = () => {}): WeightCache {
    return new WeightCache(dtype, null, null, null, null, ckptDir, log);
  }

  /** Does `dtype` have a complete entry for this checkpoint (no hashing beyond the key)? */
  static has(checkpointDir: string, dtype: WeightDtype, cache?: string | boolean): boolean {
    const root = cacheRoot(cache);
    if (!root) return false;
    return existsSync(join(root, checkpointHash(checkpointDir), `${dtype}-${runtimeHash()}`, 'manifest.json'));
  }

  static open(checkpointDir: string, dtype: WeightDtype, o: CacheOpenOptions): WeightCache {
    if (!WEIGHT_DTYPES.includes(dtype)) {
      throw new MoteError('E_INPUT', `dtype ${JSON.stringify(dtype)} is not supported; use one of ${WEIGHT_DTYPES.join(', ')}`, {
        field: 'dtype',
      });
    }
    const root = cacheRoot(o.cache);
    const none = () => WeightCache.none(dtype, checkpointDir, o.log);
    if (!root) return none();
    try {
      mkdirSync(root, { recursive: true });
      accessSync(root, constants.W_OK);
    } catch (e) {
      o.log(
        `warning: the weight cache ${root} is not writable (${(e as NodeJS.ErrnoException).code}); running without a cache (set MOTE_CACHE to a writable folder)`,
      );
      return none();
    }
    const key = checkpointHash(checkpointDir);
    const keyDir = join(root, key);
    const contentFile = join(keyDir, 'content.json');
    const content = readJson<Content>(contentFile);
    const ids = checkpointFiles(checkpointDir).map(identity).join('|');
    if (content && (o.verify || !content.seen?.includes(ids))) {
      const now = fullHashes(checkpointDir);
      if (JSON.stringify(now) !== JSON.stringify(content.sha256)) {
        o.log(
          `warning: the weights in ${checkpointDir} differ from those the cache entry ${keyDir} was built from (rewritten in place?); rebuilding it`,
        );
        rmSync(keyDir, { recursive: true, force: true });
      } else {
        writeAtomic(contentFile, JSON.stringify({ sha256: content.sha256, seen: [...(content.seen ?? []), ids].slice(-16) }));
      }
    }
    const dir = join(keyDir, `${dtype}-${runtimeHash()}`);
    const m = existsSync(contentFile) ? readJson<Manifest>(join(dir, 'manifest.json')) : null;
    if (m) {
      const bad =
        m.complete && m.format === FORMAT && m.files
          ? Object.entries(m.files).find(([f, n]) => !sizeIs(join(dir, f), n))
          : ['manifest.json', 0];
      if (!bad) return new WeightCache(dtype, dir, null, m, null, checkpointDir, o.log);
      o.log(`warning: the weight cache entry ${dir} is damaged (${bad[0]} is missing or truncated); rebuilding it`);
      rmSync(dir, { recursive: true, force: true });
    } else if (existsSync(dir)) {
      o.log(`warning: the weight cache entry ${dir} has no readable manifest; rebuilding it`);
      rmSync(dir, { recursive: true, force: true });
    }
    if (o.bytes) {
      const st = statfsSync(root);
      const free = Number(st.bavail) * Number(st.bsize);
      if (free < o.bytes * 1.05) {
        o.log(
          `warning: the weight cache ${root} has ${gb(free)} free but the ${dtype} entry needs about ${gb(o.bytes)}; running without a cache (free space or set MOTE_CACHE to a larger disk)`,
        );
        return none();
      }
    }
    const work = `${dir}.tmp-${process.pid}-${Date.now()}`;
    mkdirSync(work, { recursive: true });
    const fresh: Manifest = {
      format: FORMAT,
      dtype,
      checkpoint: checkpointDir,
      hash: key,
      runtime: runtimeHash(),
      graphs: [],
      tensors: {},
      files: {},
      complete: false,
    };
    return new WeightCache(dtype, dir, work, null, fresh, checkpointDir, o.log);
  }

  private degrade(e: unknown): boolean {
    const code = (e as NodeJS.ErrnoException).code;
    if (!code || !DISK_ERRORS.has(code)) return false;
    this.log(`warning: writing the weight cache ${this.dir} failed (${code}); running without a cache (free space or set MOTE_CACHE)`);
    this.abort();
    return true;
  }

  /** Cold load: build graph `name`, quantise it to the dtype and write it into the entry (no session).
   *  Returns false when the disk refused (the cache is then off). */
  write(name: string, build: () => GraphBuilder): boolean {
    if (!this.work) return false;
    const g = this.prepare(build);
    try {
      this.fresh!.files[`${name}.bin`] = writeBin(g, this.work, name);
      const onnx = g.toBytes();
      writeFileSync(join(this.work, `${name}.onnx`), onnx);
      this.fresh!.files[`${name}.onnx`] = onnx.byteLength;
    } catch (e) {
      if (this.degrade(e)) return false;
      throw e;
    }
    this.fresh!.graphs.push(name);
    return true;
  }

  private prepare(build: () => GraphBuilder): GraphBuilder {
    const g = build();
    fuseSiblingMatMuls(g, (a, b) => weightBits(a, this.dtype) === weightBits(b, this.dtype));
    quantizeGraph(g, this.dtype);
    return g;
  }

  /** A session for graph `name`: from the cached .onnx, else built in memory (no cache). */
  async session(name: string, build: () => GraphBuilder, opts: SessionOptions): Promise<Session> {
    // the f32 lm_head only ever multiplies the few rows that need logits: unpacked, onnxruntime maps its
    // weights from the cache file instead of copying them at load, and its GEMV kernel streams them as fast
    opts = name === 'head' && this.dtype === 'f32' ? { ...opts, extra: { session: { disable_prepacking: '1' } } } : opts;
    if (this.manifest) {
      const file = join(this.dir!, `${name}.onnx`);
      if (!this.manifest.graphs.includes(name) || !existsSync(file))
        throw new CacheCorrupt(`the weight cache ${this.dir} has no graph ${name}`);
      try {
        return await Session.create(file, opts);
      } catch (e) {
        throw new CacheCorrupt(`the weight cache ${this.dir} could not load ${name}.onnx: ${(e as Error).message}`);
      }
    }
    return Session.create(this.prepare(build).toBytes(), opts);
  }

  /** A float32 tensor the runtime keeps in JS (embeddings, biases): from the cache, else made (and written). */
  tensor(name: string, make: () => F32Tensor): F32Tensor {
    if (this.manifest) {
      const meta = this.manifest.tensors[name];
      const file = join(this.dir!, `${name}.f32`);
      if (!meta || !existsSync(file)) throw new CacheCorrupt(`the weight cache ${this.dir} has no tensor ${name}`);
      const b = readFileSync(file);
      return { dtype: 'float32', shape: meta.shape, data: new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4) };
    }
    const t = make();
    if (this.work) {
      try {
        const fd = openSync(join(this.work, `${name}.f32`), 'w');
        try {
          writeAll(fd, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
        } finally {
          closeSync(fd);
        }
        this.fresh!.tensors[name] = { shape: t.shape };
        this.fresh!.files[`${name}.f32`] = t.data.byteLength;
      } catch (e) {
        if (!this.degrade(e)) throw e;
      }
    }
    return t;
  }

  /**
   * A row table [rows, cols] the runtime reads a few rows of per step (token embeddings): with a cache it
   * stays on disk and rows are read on demand (memory-light: the table is not held in JS), else in memory.
   */
  rows(name: string, make: () => F32Tensor): RowTable {
    if (!this.manifest) return memoryRows(this.tensor(name, make));
    const file = join(this.dir!, `${name}.f32`);
    const shape = this.manifest.tensors[name]?.shape;
    if (!shape || !existsSync(file)) throw new CacheCorrupt(`the weight cache ${this.dir} has no tensor ${name}`);
    return fileRows(file, shape);
  }

  /** After a cold conversion: record the full hashes, publish the written folder (first writer wins) and
   *  drop stale builds of this dtype. Returns false when the disk refused (no cache then). */
  commit(): boolean {
    if (!this.work || !this.fresh || !this.dir) return false;
    try {
      this.fresh.complete = true;
      writeFileSync(join(this.work, 'manifest.json'), JSON.stringify(this.fresh, null, 1));
      const contentFile = join(dirname(this.dir), 'content.json');
      if (!existsSync(contentFile)) {
        const ids = checkpointFiles(this.ckptDir).map(identity).join('|');
        writeAtomic(contentFile, JSON.stringify({ sha256: fullHashes(this.ckptDir), seen: [ids] }));
      }
      if (existsSync(this.dir)) rmSync(this.work, { recursive: true, force: true });
      else renameSync(this.work, this.dir);
    } catch (e) {
      if (this.degrade(e)) return false;
      throw e;
    }
    this.work = null;
    // builds of this dtype by other runtime versions, untouched for a day, are stale
    const parent = dirname(this.dir);
    const dayAgo = Date.now() - 24 * 3600 * 1000;
    for (const e of readdirSync(parent)) {
      const p = join(parent, e);
      if (p === this.dir || !e.startsWith(`${this.dtype}-`)) continue;
      try {
        if (statSync(p).mtimeMs < dayAgo) rmSync(p, { recursive: true, force: true });
      } catch {
        /* gone */
      }
    }
    return true;
  }

  /** After a failed load: remove the partial folder. */
  abort(): void {
    if (this.work) rmSync(this.work, { recursive: true, force: true });
    this.work = null;
  }

  /** Remove this (hit) entry: it failed to load. */
  remove(): void {
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}

function sizeIs(file: string, n: number): boolean {
  try {
    return statSync(file).size === n;
  } catch {
    return false;
  }
}
