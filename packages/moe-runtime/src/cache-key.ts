// The weight cache's key and content check: a checkpoint folder's key from its config, index, and per
// weight file the size, safetensors header and sampled blocks (never every byte); file identities
// (inode, mtime, ctime); full sha256 per file for the content check. Not the cache itself (cache.ts).

import { createHash } from 'node:crypto';
import { closeSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';

/** bump when the key changes */
const KEY_FORMAT = 2;
/** sampled blocks per weight file in the key, and their size */
const SAMPLES = 256;
const SAMPLE_BYTES = 4096;

export function checkpointFiles(dir: string): string[] {
  return readdirSync(dir).filter((f) => f === 'config.json' || f === 'model.safetensors.index.json' || f.endsWith('.safetensors')).sort().map((f) => join(dir, f));
}

/** stat identity of a file: a rewrite in place keeps size and (with utimes) mtime but moves ctime */
export function identity(f: string): string {
  const s = statSync(f, { bigint: true });
  return `${basename(f)}:${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
}

function readAt(fd: number, pos: number, len: number): Buffer {
  const b = Buffer.alloc(len);
  let n = 0;
  while (n < len) { const r = readSync(fd, b, n, len - n, pos + n); if (r <= 0) break; n += r; }
  return b.subarray(0, n);
}

/** sha256 of a weight file's size, safetensors header and SAMPLES blocks spread over its data (jittered). */
function sampleFile(f: string, h: ReturnType<typeof createHash>): void {
  const size = statSync(f).size;
  h.update(`${basename(f)}\0${size}\0`);
  const fd = openSync(f, 'r');
  try {
    if (!f.endsWith('.safetensors') || size <= 2 * SAMPLES * SAMPLE_BYTES) { h.update(readAt(fd, 0, size)); return; }
    const n = Number(readAt(fd, 0, 8).readBigUInt64LE(0));
    const start = 8 + Math.min(n, size - 8);
    h.update(readAt(fd, 0, start));
    const span = size - start - SAMPLE_BYTES;
    let s = (size % 2147483647) || 1; // deterministic jitter from the size (same file, same offsets)
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

const keyMemo = new Map<string, string>();
/**
 * The cache key of a checkpoint folder (32 hex): its config, index, and per weight file the size, the
 * safetensors header and sampled blocks — reads about 1 MiB per file, never the whole weights.
 * @example checkpointHash('models/organism/model') // '3f2a…'
 */
export function checkpointHash(dir: string): string {
  const files = checkpointFiles(dir);
  const ids = files.map(identity).join('|');
  const memo = keyMemo.get(ids);
  if (memo) return memo;
  const h = createHash('sha256').update(`key ${KEY_FORMAT}`);
  for (const f of files) sampleFile(f, h);
  const key = h.digest('hex').slice(0, 32);
  keyMemo.set(ids, key);
  return key;
}

/** full sha256 of every checkpoint file (the `verify` check and the reference stored per entry) */
export function fullHashes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const buf = Buffer.allocUnsafe(16 << 20);
  for (const f of checkpointFiles(dir)) {
    const h = createHash('sha256');
    const fd = openSync(f, 'r');
    try {
      for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0;) h.update(buf.subarray(0, n));
    } finally {
      closeSync(fd);
    }
    out[basename(f)] = h.digest('hex');
  }
  return out;
}

