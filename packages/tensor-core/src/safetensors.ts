// safetensors reader: single files and sharded checkpoints (model.safetensors.index.json). The header is
// parsed and bounds-checked up front; tensor bytes are read lazily, one tensor at a time, never mapped whole.

import { closeSync, existsSync, fstatSync, openSync, readSync, readdirSync, readFileSync } from 'node:fs';
import { join, basename } from 'node:path';
import { MoteError } from './errors.js';
import { SAFETENSORS_DTYPE_BYTES, bytesToF32 } from './dtype.js';
import { numel, type F32Tensor } from './tensor.js';

export interface TensorEntry {
  name: string;
  dtype: string;
  shape: number[];
  file: string;
  /** absolute byte offset of the data in `file` */
  offset: number;
  length: number;
}

const MAX_HEADER = 100 * 1024 * 1024;

/** Parse and validate one .safetensors header. */
export function readSafetensorsHeader(file: string): { entries: TensorEntry[]; metadata: Record<string, string> } {
  if (!existsSync(file)) {
    throw new MoteError('E_WEIGHTS_MISSING', `weights file ${file} does not exist; check the checkpoint folder is complete`, { file });
  }
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const lenBuf = Buffer.alloc(8);
    if (size < 8 || readSync(fd, lenBuf, 0, 8, 0) !== 8) {
      throw new MoteError('E_SAFETENSORS_HEADER', `${file} is ${size} bytes, too short for a safetensors header; re-download the file`, { file });
    }
    const hlen = Number(lenBuf.readBigUInt64LE(0));
    if (hlen <= 0 || hlen > MAX_HEADER || 8 + hlen > size) {
      throw new MoteError('E_SAFETENSORS_HEADER', `${file}: header length ${hlen} is out of range for a file of ${size} bytes; the file is truncated or not safetensors`, { file, field: 'header_length' });
    }
    const hbuf = Buffer.alloc(hlen);
    readSync(fd, hbuf, 0, hlen, 8);
    let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;
    try {
      header = JSON.parse(hbuf.toString('utf8'));
    } catch (e) {
      throw new MoteError('E_SAFETENSORS_HEADER', `${file}: header is not valid JSON (${(e as Error).message}); the file is corrupt`, { file });
    }
    const dataStart = 8 + hlen;
    const dataLen = size - dataStart;
    const entries: TensorEntry[] = [];
    let metadata: Record<string, string> = {};
    for (const [name, v] of Object.entries(header)) {
      if (name === '__metadata__') { metadata = v as Record<string, string>; continue; }
      const { dtype, shape, data_offsets } = v as { dtype: string; shape: number[]; data_offsets: [number, number] };
      const width = SAFETENSORS_DTYPE_BYTES[dtype];
      if (width === undefined) {
        throw new MoteError('E_DTYPE', `${file}: tensor ${name} has unknown dtype ${JSON.stringify(dtype)}; supported: ${Object.keys(SAFETENSORS_DTYPE_BYTES).join(', ')}`, { file, field: `${name}.dtype` });
      }
      if (!Array.isArray(data_offsets) || data_offsets.length !== 2 || !Array.isArray(shape)) {
        throw new MoteError('E_SAFETENSORS_HEADER', `${file}: tensor ${name} lacks shape or data_offsets; the header is malformed`, { file, field: name });
      }
      const [b, e] = data_offsets;
      if (!(Number.isInteger(b) && Number.isInteger(e) && 0 <= b && b <= e && e <= dataLen)) {
        throw new MoteError('E_SAFETENSORS_HEADER', `${file}: tensor ${name} data_offsets [${b}, ${e}] fall outside the ${dataLen} data bytes; the file is truncated or corrupt`, { file, field: `${name}.data_offsets` });
      }
      if (e - b !== numel(shape) * width) {
        throw new MoteError('E_SAFETENSORS_HEADER', `${file}: tensor ${name} spans ${e - b} bytes but shape [${shape}] of ${dtype} needs ${numel(shape) * width}; the header is inconsistent`, { file, field: `${name}.data_offsets` });
      }
      entries.push({ name, dtype, shape, file, offset: dataStart + b, length: e - b });
    }
    return { entries, metadata };
  } finally {
    closeSync(fd);
  }
}

/** A checkpoint's tensors across one or more safetensors files, read lazily by name. */
export class SafetensorsCheckpoint {
  readonly dir: string;
  private readonly entries = new Map<string, TensorEntry>();
  private readonly fds = new Map<string, number>();

  private constructor(dir: string, entries: TensorEntry[]) {
    this.dir = dir;
    for (const e of entries) this.entries.set(e.name, e);
  }

  /** Open `dir/model.safetensors.index.json` (sharded), else every `*.safetensors` in dir. */
  static open(dir: string): SafetensorsCheckpoint {
    const indexFile = join(dir, 'model.safetensors.index.json');
    let files: string[];
    let expected: Map<string, string> | null = null;
    if (existsSync(indexFile)) {
      let index: { weight_map?: Record<string, string> };
      try {
        index = JSON.parse(readFileSync(indexFile, 'utf8'));
      } catch (e) {
        throw new MoteError('E_SAFETENSORS_HEADER', `${indexFile} is not valid JSON (${(e as Error).message})`, { file: indexFile });
      }
      if (!index.weight_map || typeof index.weight_map !== 'object') {
        throw new MoteError('E_SAFETENSORS_HEADER', `${indexFile} has no "weight_map" object; it must map tensor names to shard files`, { file: indexFile, field: 'weight_map' });
      }
      expected = new Map(Object.entries(index.weight_map));
      files = [...new Set(expected.values())].map((f) => join(dir, f));
      for (const f of files) {
        if (!existsSync(f)) {
          throw new MoteError('E_WEIGHTS_MISSING', `shard ${basename(f)} listed in ${indexFile} is missing from ${dir}; download the missing shard`, { file: f, field: 'weight_map' });
        }
      }
    } else {
      files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.safetensors')).sort().map((f) => join(dir, f)) : [];
      if (files.length === 0) {
        throw new MoteError('E_WEIGHTS_MISSING', `no *.safetensors weights in ${dir}; the checkpoint folder needs model.safetensors or model.safetensors.index.json`, { file: dir });
      }
    }
    const entries = files.flatMap((f) => readSafetensorsHeader(f).entries);
    const ckpt = new SafetensorsCheckpoint(dir, entries);
    if (expected) {
      for (const [name, shard] of expected) {
        const e = ckpt.entries.get(name);
        if (!e || basename(e.file) !== shard) {
          throw new MoteError('E_WEIGHTS_MISSING', `tensor ${name} is mapped to ${shard} in model.safetensors.index.json but that shard does not contain it`, { file: join(dir, shard), field: name });
        }
      }
    }
    return ckpt;
  }

  names(): string[] {
    return [...this.entries.keys()];
  }
  has(name: string): boolean {
    return this.entries.has(name);
  }
  entry(name: string): TensorEntry {
    const e = this.entries.get(name);
    if (!e) {
      throw new MoteError('E_WEIGHTS_MISSING', `tensor ${name} not found in the checkpoint at ${this.dir}; the checkpoint does not match its config.json`, { file: this.dir, field: name });
    }
    return e;
  }

  /** Raw bytes of one tensor (a fresh copy of just that tensor). */
  readBytes(name: string): Uint8Array {
    const e = this.entry(name);
    let fd = this.fds.get(e.file);
    if (fd === undefined) { fd = openSync(e.file, 'r'); this.fds.set(e.file, fd); }
    const buf = new Uint8Array(e.length);
    let done = 0;
    while (done < e.length) {
      const n = readSync(fd, buf, done, Math.min(e.length - done, 1 << 30), e.offset + done);
      if (n <= 0) throw new MoteError('E_SAFETENSORS_HEADER', `${e.file}: unexpected end of file reading ${name}`, { file: e.file, field: name });
      done += n;
    }
    return buf;
  }

  /** One tensor as float32, converting bf16/f16/f8/f64; checks the shape if `expectShape` is given. */
  readF32(name: string, expectShape?: number[]): F32Tensor {
    const e = this.entry(name);
    if (expectShape && (expectShape.length !== e.shape.length || expectShape.some((s, i) => s !== e.shape[i]))) {
      throw new MoteError('E_SHAPE', `tensor ${name} in ${e.file} has shape [${e.shape}] but the config implies [${expectShape}]; the checkpoint and config.json disagree`, { file: e.file, field: name });
    }
    let data: Float32Array;
    try {
      data = bytesToF32(e.dtype, this.readBytes(name));
    } catch (err) {
      if (err instanceof MoteError) throw err;
      throw new MoteError('E_DTYPE', `tensor ${name} in ${e.file} has dtype ${e.dtype}, which cannot be read as float weights; expected F32, BF16, F16 or F8_E4M3`, { file: e.file, field: `${name}.dtype` });
    }
    return { dtype: 'float32', shape: e.shape.slice(), data };
  }

  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}
