// convertCheckpoint: a cold load's first half (checkpoint -> weight cache entry, no sessions), the entry
// point of the conversion child process (convert.ts) and of anyone warming a cache ahead of a load.

import { resolve } from 'node:path';
import { WeightCache } from './cache.js';
import { specFromDir } from './load.js';
import type { WeightDtype } from './quantize.js';
import { convert } from './sessions.js';

/**
 * Convert checkpoint `dir` into the weight cache at `dtype` without creating sessions (a cold load's first
 * half): true when an entry was committed, false when the disk refused (the load then runs uncached).
 * @example await convertCheckpoint('models/organism/model', { dtype: 'int4', cache: '/tmp/mote-cache' })
 */
export async function convertCheckpoint(
  dir: string,
  o: { dtype: WeightDtype; cache?: string | boolean; bytes?: number; log?: (line: string) => void },
): Promise<boolean> {
  const abs = resolve(dir);
  const log = o.log ?? ((line: string) => process.stderr.write(`mote: ${line}\n`));
  const cache = WeightCache.open(abs, o.dtype, { cache: o.cache, log, bytes: o.bytes });
  if (!cache.building) return cache.stats.dir !== null;
  return convert(specFromDir(abs), abs, cache);
}
