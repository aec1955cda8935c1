// @mote/io: the run folder of every mote command that writes. Table of contents (see README.md).
export { writeAtomic, writeAll, ioError } from './atomic.js';
export { parseJsonl, readJsonl, readJsonlLines, readText, toJsonl, appendJsonl, type JsonlLine, type ReadJsonlOptions } from './jsonl.js';
export { acquireLock, lockOutput, withOutputLock, lockHolder, pidAlive, type Lock, type LockHolder } from './lock.js';
export { sha256, canonicalJson, hashJson, hashFile, hashFiles, modelHash } from './hash.js';
export {
  openRunFolder,
  openRunFile,
  readRunManifest,
  diffSettings,
  RUN_MANIFEST,
  type RunManifest,
  type RunHandle,
  type OpenRunOptions,
} from './run.js';
export { VERSION } from './version.js';
