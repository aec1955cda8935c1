// The weight cache's key and content check: a checkpoint folder's key from its config, index, and per
// weight file the size, safetensors header and sampled blocks (never every byte); file identities
// (inode, mtime, ctime); full sha256 per file for the content check. Not the cache itself (cache.ts).

import { readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { hashFile, modelHash, sha256 } from '@mote/io';

/** bump when the key changes */
const KEY_FORMAT = 2;
export function checkpointFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f === 'config.json' || f === 'model.safetensors.index.json' || f.endsWith('.safetensors'))
    .sort()
    .map((f) => join(dir, f));
}

/** stat identity of a file: a rewrite in place keeps size and (with utimes) mtime but moves ctime */
export function identity(f: string): string {
  const s = statSync(f, { bigint: true });
  return `${basename(f)}:${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
}

const keyMemo = new Map<string, string>();
/**
 * The cache key of a checkpoint folder (32 hex): @mote/io's modelHash (config, index, and per weight file
 * the size, the safetensors header and sampled blocks — about 1 MiB per file, never the whole weights),
 * memoised per file identity.
 * @example checkpointHash('models/organism/model') // '3f2a…'
 */
export function checkpointHash(dir: string): string {
  const files = checkpointFiles(dir);
  const ids = files.map(identity).join('|');
  const memo = keyMemo.get(ids);
  if (memo) return memo;
  const key = sha256(`key ${KEY_FORMAT}\0${modelHash(dir)}`).slice(0, 32);
  keyMemo.set(ids, key);
  return key;
}

/** full sha256 of every checkpoint file (the `verify` check and the reference stored per entry) */
export function fullHashes(dir: string): Record<string, string> {
  return Object.fromEntries(checkpointFiles(dir).map((f) => [basename(f), hashFile(f)]));
}
