// `mote cache ls|rm`: list the weight cache's entries (checkpoint, dtype, bytes, complete or not) and
// remove them. Reads only manifests and sizes; not a loader (cache.ts builds and reads entries).

import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { MoteError } from '@mote/tensor-core';
import { cacheRoot, runtimeHash } from './cache.js';

export interface CacheEntry {
  /** <root>/<key>/<dtype>-<runtime> */
  dir: string;
  key: string;
  dtype: string;
  /** the checkpoint folder it was built from (as given at build time) */
  checkpoint: string | null;
  bytes: number;
  /** false: a partial build (a crashed or running conversion) or a damaged manifest */
  complete: boolean;
  /** built by this runtime version (others are never read by it) */
  current: boolean;
  mtime: Date;
}

function duBytes(p: string): number {
  const s = statSync(p);
  if (!s.isDirectory()) return s.size;
  return readdirSync(p).reduce((n, e) => n + duBytes(join(p, e)), 0);
}

/**
 * Every entry under the cache root (LoadOptions.cache semantics: a folder, else $MOTE_CACHE, else ~/.cache/mote).
 * @example for (const e of listCache()) console.log(e.dtype, e.bytes, e.checkpoint);
 */
export function listCache(cache?: string): CacheEntry[] {
  const root = cacheRoot(cache ?? true);
  if (!root) return [];
  let keys: string[];
  try {
    keys = readdirSync(root).filter((k) => /^[0-9a-f]{32}$/.test(k));
  } catch {
    return [];
  }
  const out: CacheEntry[] = [];
  for (const key of keys.sort()) {
    for (const e of readdirSync(join(root, key), { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      const dir = join(root, key, e.name);
      let m: { dtype?: string; checkpoint?: string; complete?: boolean } = {};
      try {
        m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
      } catch {
        /* partial */
      }
      const dtype = e.name.split('-')[0];
      out.push({
        dir,
        key,
        dtype,
        checkpoint: m.checkpoint ?? null,
        bytes: duBytes(dir),
        complete: m.complete === true && !e.name.includes('.tmp-'),
        current: e.name === `${dtype}-${runtimeHash()}`,
        mtime: statSync(dir).mtime,
      });
    }
  }
  return out;
}

/**
 * Remove entries: all, or those whose checkpoint folder, key or dtype match `what` (a key prefix of at
 * least 6 hex digits, a dtype, or a checkpoint path). Returns what was removed.
 * @example removeCache({ match: 'int4' }) // every int4 entry
 */
export function removeCache(o: { cache?: string; match?: string; all?: boolean }): CacheEntry[] {
  if (!o.all && !o.match)
    throw new MoteError('E_INPUT', 'cache rm needs an entry (a key prefix, a dtype or a checkpoint folder) or --all', { field: 'match' });
  const m = o.match;
  const hit = (e: CacheEntry) => o.all || e.dtype === m || e.checkpoint === m || (m!.length >= 6 && e.key.startsWith(m!)) || e.dir === m;
  const gone = listCache(o.cache).filter(hit);
  for (const e of gone) rmSync(e.dir, { recursive: true, force: true });
  const root = cacheRoot(o.cache ?? true);
  // a key folder left with no entry goes too (its content.json only described them)
  for (const key of new Set(gone.map((e) => e.key))) {
    const kd = join(root!, key);
    try {
      if (!readdirSync(kd, { withFileTypes: true }).some((d) => d.isDirectory())) rmSync(kd, { recursive: true, force: true });
    } catch {
      /* gone */
    }
  }
  return gone;
}
