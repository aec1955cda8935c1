// safetensors reader: single files and sharded checkpoints (model.safetensors.index.json). The header is
// parsed and bounds-checked up front; tensor bytes are read lazily, one tensor at a time, never mapped whole.

import { closeSync, existsSync, fstatSync, openSync, readSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, basename } from 'node:path';
import { MoteError, type MoteErrorCode } from './errors.js';
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

/**
 * Throw unless `file` is a regular file (a FIFO would block the read forever, a folder fails later with EISDIR).
 * @example
 *   assertRegularFile('model/config.json', 'E_CONFIG_INVALID', 'config.json');
 */
export function assertRegularFile(file: string, code: MoteErrorCode, what: string): void {
  const st = statSync(file, { throwIfNoEntry: false });
  if (!st) throw new MoteError(code, `${what} ${file} does not exist`, { file });
  if (!st.isFile()) {
    const kind = st.isDirectory() ? 'a folder' : st.isFIFO() ? 'a FIFO (named pipe)' : st.isSocket() ? 'a socket' : 'not a regular file';
    throw new MoteError(code, `${what} ${file} is ${kind}; it must be a regular file; fix: point at the file itself`, { file });
  }
}

type RawEntry = { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Parse and validate one .safetensors header. */
export function readSafetensorsHeader(file: string): { entries: TensorEntry[]; metadata: Record<string, string> } {
  if (!existsSync(file)) {
    throw new MoteError('E_WEIGHTS_MISSING', `weights file ${file} does not exist; check the checkpoint folder is complete`, { file });
  }
  assertRegularFile(file, 'E_SAFETENSORS_HEADER', 'weights file');
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const lenBuf = Buffer.alloc(8);
    if (size < 8 || readSync(fd, lenBuf, 0, 8, 0) !== 8) {
      throw new MoteError('E_SAFETENSORS_HEADER', `${file} is ${size} bytes, too short for a safetensors header; re-download the file`, {
        file,
      });
    }
    const hlen = Number(lenBuf.readBigUInt64LE(0));
    if (hlen <= 0 || hlen > MAX_HEADER || 8 + hlen > size) {
      throw new MoteError(
        'E_SAFETENSORS_HEADER',
        `${file}: header length ${hlen} is out of range for a file of ${size} bytes; the file is truncated or not safetensors`,
        { file, field: 'header_length' },
      );
    }
    const hbuf = Buffer.alloc(hlen);
    readSync(fd, hbuf, 0, hlen, 8);
    let header: unknown;
    try {
      header = JSON.parse(hbuf.toString('utf8'));
    } catch (e) {
      throw new MoteError('E_SAFETENSORS_HEADER', `${file}: header is not valid JSON (${(e as Error).message}); the file is corrupt`, {
        file,
      });
    }
    if (!isObject(header)) {
      throw new MoteError(
        'E_SAFETENSORS_HEADER',
        `${file}: header is ${JSON.stringify(header)?.slice(0, 40)}, not an object of tensors; the file is corrupt or not safetensors`,
        { file },
      );
    }
    return { entries: headerEntries(file, header, 8 + hlen, size), metadata: headerMetadata(file, header.__metadata__) };
  } finally {
    closeSync(fd);
  }
}

function headerMetadata(file: string, m: unknown): Record<string, string> {
  if (m === undefined) return {};
  if (!isObject(m) || Object.values(m).some((v) => typeof v !== 'string')) {
    throw new MoteError(
      'E_SAFETENSORS_HEADER',
      `${file}: __metadata__ must be an object of strings, got ${JSON.stringify(m)?.slice(0, 60)}`,
      { file, field: '__metadata__' },
    );
  }
  return m as Record<string, string>;
}

/** The tensors of a parsed header, each checked: dtype, shape, offsets inside the data, size, no overlaps. */
function headerEntries(file: string, header: Record<string, unknown>, dataStart: number, size: number): TensorEntry[] {
  const dataLen = size - dataStart;
  const entries: TensorEntry[] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (!isObject(raw)) {
      throw new MoteError(
        'E_SAFETENSORS_HEADER',
        `${file}: tensor ${name} is ${JSON.stringify(raw)?.slice(0, 40)}, not {dtype, shape, data_offsets}; the header is malformed`,
        { file, field: name },
      );
    }
    const { dtype, shape, data_offsets } = raw as RawEntry;
    const width = typeof dtype === 'string' && Object.hasOwn(SAFETENSORS_DTYPE_BYTES, dtype) ? SAFETENSORS_DTYPE_BYTES[dtype] : undefined;
    if (width === undefined) {
      throw new MoteError(
        'E_DTYPE',
        `${file}: tensor ${name} has unknown dtype ${JSON.stringify(dtype)}; supported: ${Object.keys(SAFETENSORS_DTYPE_BYTES).join(', ')}`,
        { file, field: `${name}.dtype` },
      );
    }
    if (
      !Array.isArray(data_offsets) ||
      data_offsets.length !== 2 ||
      !Array.isArray(shape) ||
      !shape.every((d) => Number.isSafeInteger(d) && d >= 0)
    ) {
      throw new MoteError(
        'E_SAFETENSORS_HEADER',
        `${file}: tensor ${name} lacks a shape of whole numbers or data_offsets [begin, end]; the header is malformed`,
        { file, field: name },
      );
    }
    const [b, e] = data_offsets as unknown[];
    if (
      !(
        Number.isSafeInteger(b) &&
        Number.isSafeInteger(e) &&
        0 <= (b as number) &&
        (b as number) <= (e as number) &&
        (e as number) <= dataLen
      )
    ) {
      throw new MoteError(
        'E_SAFETENSORS_HEADER',
        `${file}: tensor ${name} data_offsets [${b}, ${e}] fall outside the ${dataLen} data bytes; the file is truncated or corrupt`,
        { file, field: `${name}.data_offsets` },
      );
    }
    const [begin, end] = [b as number, e as number];
    if (end - begin !== numel(shape as number[]) * width) {
      throw new MoteError(
        'E_SAFETENSORS_HEADER',
        `${file}: tensor ${name} spans ${end - begin} bytes but shape [${shape}] of ${dtype} needs ${numel(shape as number[]) * width}; the header is inconsistent`,
        { file, field: `${name}.data_offsets` },
      );
    }
    entries.push({ name, dtype: dtype as string, shape: shape as number[], file, offset: dataStart + begin, length: end - begin });
  }
  // no two tensors may share bytes (a rewritten tensor would silently alias another)
  const byStart = entries.filter((x) => x.length > 0).sort((x, y) => x.offset - y.offset);
  for (let i = 1; i < byStart.length; i++) {
    const [p, q] = [byStart[i - 1], byStart[i]];
    if (q.offset < p.offset + p.length) {
      throw new MoteError(
        'E_SAFETENSORS_HEADER',
        `${file}: tensors ${p.name} and ${q.name} overlap (bytes [${p.offset - dataStart}, ${p.offset - dataStart + p.length}) and [${q.offset - dataStart}, ${q.offset - dataStart + q.length})); the header is corrupt`,
        { file, field: `${q.name}.data_offsets` },
      );
    }
  }
  return entries;
}

/** A checkpoint's tensors across one or more safetensors files, read lazily by name. */
export class SafetensorsCheckpoint {
  readonly dir: string;
  private readonly entries = new Map<string, TensorEntry>();
  private readonly fds = new Map<string, number>();

  private constructor(dir: string, entries: TensorEntry[]) {
    this.dir = dir;
    for (const e of entries) {
      const prev = this.entries.get(e.name);
      if (prev)
        throw new MoteError(
          'E_SAFETENSORS_HEADER',
          `tensor ${e.name} is in both ${prev.file} and ${e.file}; one would silently override the other; fix: remove the stray copy`,
          { file: e.file, field: e.name },
        );
      this.entries.set(e.name, e);
    }
  }

  /** Open `dir/model.safetensors.index.json` (sharded; no other *.safetensors may lie beside the listed shards),
   *  else the one `*.safetensors` file in dir. */
  static open(dir: string): SafetensorsCheckpoint {
    const indexFile = join(dir, 'model.safetensors.index.json');
    let files: string[];
    let expected: Map<string, string> | null = null;
    const present =
      existsSync(dir) && statSync(dir).isDirectory()
        ? readdirSync(dir)
            .filter((f) => f.endsWith('.safetensors'))
            .sort()
        : [];
    if (existsSync(indexFile)) {
      assertRegularFile(indexFile, 'E_SAFETENSORS_HEADER', 'shard index');
      let index: unknown;
      try {
        index = JSON.parse(readFileSync(indexFile, 'utf8'));
      } catch (e) {
        throw new MoteError('E_SAFETENSORS_HEADER', `${indexFile} is not valid JSON (${(e as Error).message})`, { file: indexFile });
      }
      const map = isObject(index) ? index.weight_map : undefined;
      if (!isObject(map)) {
        throw new MoteError('E_SAFETENSORS_HEADER', `${indexFile} has no "weight_map" object; it must map tensor names to shard files`, {
          file: indexFile,
          field: 'weight_map',
        });
      }
      for (const [name, shard] of Object.entries(map)) {
        if (typeof shard !== 'string' || !shard.endsWith('.safetensors') || basename(shard) !== shard) {
          throw new MoteError(
            'E_SAFETENSORS_HEADER',
            `${indexFile}: weight_map["${name}"] = ${JSON.stringify(shard)} must be a *.safetensors file name in the checkpoint folder`,
            { file: indexFile, field: `weight_map.${name}` },
          );
        }
      }
      expected = new Map(Object.entries(map as Record<string, string>));
      const shards = [...new Set(expected.values())].sort();
      files = shards.map((f) => join(dir, f));
      for (const f of files) {
        if (!existsSync(f)) {
          throw new MoteError(
            'E_WEIGHTS_MISSING',
            `shard ${basename(f)} listed in ${indexFile} is missing from ${dir}; download the missing shard`,
            { file: f, field: 'weight_map' },
          );
        }
      }
      const stray = present.filter((f) => !shards.includes(f));
      if (stray.length) {
        throw new MoteError(
          'E_WEIGHTS_MISSING',
          `${dir} holds ${stray.join(', ')}, which model.safetensors.index.json does not list; a stray shard could override weights; fix: remove or move it`,
          { file: join(dir, stray[0]), field: 'weight_map' },
        );
      }
    } else {
      if (present.length === 0) {
        throw new MoteError(
          'E_WEIGHTS_MISSING',
          `no *.safetensors weights in ${dir}; the checkpoint folder needs model.safetensors or model.safetensors.index.json`,
          { file: dir },
        );
      }
      if (present.length > 1) {
        throw new MoteError(
          'E_WEIGHTS_MISSING',
          `${dir} holds ${present.length} *.safetensors files (${present.join(', ')}) but no model.safetensors.index.json to say which tensor is where; fix: keep exactly one, or add the index`,
          { file: dir },
        );
      }
      files = present.map((f) => join(dir, f));
    }
    const entries = files.flatMap((f) => readSafetensorsHeader(f).entries);
    const ckpt = new SafetensorsCheckpoint(dir, entries);
    if (expected) {
      for (const [name, shard] of expected) {
        const e = ckpt.entries.get(name);
        if (!e || basename(e.file) !== shard) {
          throw new MoteError(
            'E_WEIGHTS_MISSING',
            `tensor ${name} is mapped to ${shard} in model.safetensors.index.json but that shard does not contain it`,
            { file: join(dir, shard), field: name },
          );
        }
      }
    }
    return ckpt;
  }

  names(): string[] {
    return [...this.entries.keys()];
  }
  /** Bytes of tensor data across all files. */
  totalBytes(): number {
    let n = 0;
    for (const e of this.entries.values()) n += e.length;
    return n;
  }
  has(name: string): boolean {
    return this.entries.has(name);
  }
  entry(name: string): TensorEntry {
    const e = this.entries.get(name);
    if (!e) {
      throw new MoteError(
        'E_WEIGHTS_MISSING',
        `tensor ${name} not found in the checkpoint at ${this.dir}; the checkpoint does not match its config.json`,
        { file: this.dir, field: name },
      );
    }
    return e;
  }

  /** Raw bytes of one tensor (a fresh copy of just that tensor). */
  readBytes(name: string): Uint8Array {
    const e = this.entry(name);
    let fd = this.fds.get(e.file);
    if (fd === undefined) {
      fd = openSync(e.file, 'r');
      this.fds.set(e.file, fd);
    }
    const buf = new Uint8Array(e.length);
    let done = 0;
    while (done < e.length) {
      const n = readSync(fd, buf, done, Math.min(e.length - done, 1 << 30), e.offset + done);
      if (n <= 0)
        throw new MoteError('E_SAFETENSORS_HEADER', `${e.file}: unexpected end of file reading ${name}`, { file: e.file, field: name });
      done += n;
    }
    return buf;
  }

  /** One tensor as float32, converting bf16/f16/f8/f64; checks the shape if `expectShape` is given. */
  readF32(name: string, expectShape?: number[]): F32Tensor {
    const e = this.entry(name);
    if (expectShape && (expectShape.length !== e.shape.length || expectShape.some((s, i) => s !== e.shape[i]))) {
      throw new MoteError(
        'E_SHAPE',
        `tensor ${name} in ${e.file} has shape [${e.shape}] but the config implies [${expectShape}]; the checkpoint and config.json disagree`,
        { file: e.file, field: name },
      );
    }
    let data: Float32Array;
    try {
      data = bytesToF32(e.dtype, this.readBytes(name));
    } catch (err) {
      if (err instanceof MoteError) throw err;
      throw new MoteError(
        'E_DTYPE',
        `tensor ${name} in ${e.file} has dtype ${e.dtype}, which cannot be read as float weights; expected F32, BF16, F16 or F8_E4M3`,
        { file: e.file, field: `${name}.dtype` },
      );
    }
    return { dtype: 'float32', shape: e.shape.slice(), data };
  }

  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}
