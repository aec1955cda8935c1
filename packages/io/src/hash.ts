// Content hashes for manifests and caches: sha256 of bytes, of canonical JSON (key order does not matter),
// of whole files, and of a checkpoint folder. Not the cache index of moe-runtime (which memoises hashes).

import { closeSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { basename, join } from 'node:path';
import { MoteError } from '@mote/tensor-core';
import { ioError } from './atomic.js';

/** sha256 hex of a string or bytes. */
export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** JSON with object keys sorted at every depth: equal values give equal text whatever the key order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) && !ArrayBuffer.isView(v)
      ? Object.fromEntries(
          Object.keys(v as object)
            .sort()
            .map((k) => [k, (v as Record<string, unknown>)[k]]),
        )
      : v,
  );
}

/**
 * sha256 hex of a JSON value in canonical form: the content hash of a policy, a judge set, settings.
 * @example
 * hashJson({ b: 1, a: [2] }) === hashJson({ a: [2], b: 1 }); // true
 */
export function hashJson(value: unknown): string {
  return sha256(canonicalJson(value));
}

/** Feed a file's full contents into `h`, streamed through `buf`. */
function streamInto(h: ReturnType<typeof createHash>, file: string, buf: Buffer): void {
  let fd: number | null = null;
  try {
    fd = openSync(file, 'r');
    for (let n: number; (n = readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, n));
  } catch (e) {
    throw ioError(e, file, 'read (to hash)');
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

/** sha256 hex over files' names and full contents, streamed (16 MB at a time). */
export function hashFiles(files: readonly string[]): string {
  const h = createHash('sha256');
  const buf = Buffer.allocUnsafe(16 << 20);
  for (const f of files) {
    h.update(basename(f));
    streamInto(h, f, buf);
  }
  return h.digest('hex');
}

/** sha256 hex of one file's bytes. */
export function hashFile(file: string): string {
  const h = createHash('sha256');
  streamInto(h, file, Buffer.allocUnsafe(1 << 20));
  return h.digest('hex');
}

const MODEL_TEXT_FILES = [
  'config.json',
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'chat_template.jinja',
  'model.safetensors.index.json',
];

/**
 * A cheap identity of a checkpoint folder, for run manifests and the weight cache's key: config, generation
 * config, tokenizer files and index in full, and each *.safetensors file's name, size, header (names,
 * dtypes, shapes, offsets) and 256 sampled 4 KiB blocks of its data, so hashing a 700 GB checkpoint reads
 * about 1 MiB per file while a rewrite of its bytes still changes the hash. Use hashFiles for full content.
 * @example
 * const id = modelHash('models/organism/model'); // 64 hex digits
 */
export function modelHash(dir: string): string {
  const h = createHash('sha256');
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch (e) {
    throw ioError(e, dir, 'list the model folder');
  }
  for (const name of names) {
    const file = join(dir, name);
    if (MODEL_TEXT_FILES.includes(name)) {
      h.update(`${name}\n`).update(hashFile(file));
    } else if (name.endsWith('.safetensors')) {
      const size = statSync(file).size;
      const fd = openSync(file, 'r');
      try {
        const len = Buffer.alloc(8);
        readFully(fd, len, 0);
        const hlen = Number(len.readBigUInt64LE(0));
        if (hlen > Math.min(size - 8, 100_000_000)) {
          const msg = `${file}: header length ${hlen} does not fit the file (${size} bytes); fix: re-download it`;
          throw new MoteError('E_SAFETENSORS_HEADER', msg, { file });
        }
      } finally {
        closeSync(fd);
      }
      try {
        sampleWeights(file, h);
      } catch (e) {
        throw ioError(e, file, 'read (to hash)');
      }
    }
  }
  return h.digest('hex');
}

/** sampled blocks per weight file in modelHash, and their size */
const SAMPLES = 256;
const SAMPLE_BYTES = 4096;

function readAt(fd: number, pos: number, len: number): Buffer {
  const b = Buffer.alloc(len);
  let n = 0;
  while (n < len) {
    const r = readSync(fd, b, n, len - n, pos + n);
    if (r <= 0) break;
    n += r;
  }
  return b.subarray(0, n);
}

/** sha256 of a weight file's size, safetensors header and SAMPLES blocks spread over its data (jittered). */
function sampleWeights(f: string, h: ReturnType<typeof createHash>): void {
  const size = statSync(f).size;
  h.update(`${basename(f)}\0${size}\0`);
  const fd = openSync(f, 'r');
  try {
    if (!f.endsWith('.safetensors') || size <= 2 * SAMPLES * SAMPLE_BYTES) {
      h.update(readAt(fd, 0, size));
      return;
    }
    const n = Number(readAt(fd, 0, 8).readBigUInt64LE(0));
    const start = 8 + Math.min(n, size - 8);
    h.update(readAt(fd, 0, start));
    const span = size - start - SAMPLE_BYTES;
    let s = size % 2147483647 || 1; // deterministic jitter from the size (same file, same offsets)
    for (let i = 0; i < SAMPLES; i++) {
      s = (s * 48271) % 2147483647;
      const at = start + Math.floor(((i + s / 2147483647) / SAMPLES) * span);
      h.update(readAt(fd, at, SAMPLE_BYTES));
    }
    h.update(readAt(fd, size - SAMPLE_BYTES, SAMPLE_BYTES));
  } finally {
    closeSync(fd);
  }
}

function readFully(fd: number, buf: Buffer, pos: number): void {
  for (let off = 0; off < buf.length; ) {
    const n = readSync(fd, buf, off, buf.length - off, pos + off);
    if (n <= 0) break;
    off += n;
  }
}
