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
      ? Object.fromEntries(Object.keys(v as object).sort().map((k) => [k, (v as Record<string, unknown>)[k]]))
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

/** sha256 hex over files' names and full contents, streamed (16 MB at a time). */
export function hashFiles(files: readonly string[]): string {
  const h = createHash('sha256');
  const buf = Buffer.allocUnsafe(16 << 20);
  for (const f of files) {
    h.update(basename(f));
    let fd: number | null = null;
    try {
      fd = openSync(f, 'r');
      for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0;) h.update(buf.subarray(0, n));
    } catch (e) {
      throw ioError(e, f, 'read (to hash)');
    } finally {
      if (fd !== null) closeSync(fd);
    }
  }
  return h.digest('hex');
}

/** sha256 hex of one file's bytes. */
export function hashFile(file: string): string {
  const h = createHash('sha256');
  const buf = Buffer.allocUnsafe(1 << 20);
  let fd: number | null = null;
  try {
    fd = openSync(file, 'r');
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0;) h.update(buf.subarray(0, n));
  } catch (e) {
    throw ioError(e, file, 'read (to hash)');
  } finally {
    if (fd !== null) closeSync(fd);
  }
  return h.digest('hex');
}

const MODEL_TEXT_FILES = [
  'config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'chat_template.jinja', 'model.safetensors.index.json',
];

/**
 * A cheap identity of a checkpoint folder for run manifests: config, generation config, tokenizer files
 * and index in full, and each *.safetensors file's name, size and header (names, dtypes, shapes, offsets),
 * not its tensor bytes, so hashing a 700 GB checkpoint reads kilobytes. Use hashFiles for full content.
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
        const head = Buffer.alloc(hlen);
        readFully(fd, head, 8);
        h.update(`${name}\n${size}\n`).update(head);
      } finally {
        closeSync(fd);
      }
    }
  }
  return h.digest('hex');
}

function readFully(fd: number, buf: Buffer, pos: number): void {
  for (let off = 0; off < buf.length;) {
    const n = readSync(fd, buf, off, buf.length - off, pos + off);
    if (n <= 0) break;
    off += n;
  }
}
