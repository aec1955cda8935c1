// Atomic file writes (unique temp name, fsync, rename, fsync of the folder) and the mapping of Node's file
// errors to MoteError. Not JSONL (jsonl.ts) and not locking (lock.ts).

import { closeSync, fsyncSync, openSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname } from 'node:path';
import { asMoteError, MoteError } from '@mote/tensor-core';

/** A Node file error as a MoteError that names the file, the cause and the fix: tensor-core's one mapping of
 *  file-system errors (asMoteError), with `doing` only for errors it does not know. */
export function ioError(e: unknown, file: string, doing: string): MoteError {
  // the caller's file, not the temp file or folder the system call named
  const err = e as NodeJS.ErrnoException;
  const m = asMoteError(
    err && typeof err === 'object' && err.code ? { code: err.code, syscall: err.syscall, message: err.message } : e,
    file,
  );
  if (m.code !== 'E_INTERNAL') return m;
  return new MoteError('E_IO', `cannot ${doing} ${file}: ${(e as Error)?.message ?? String(e)}; fix: check the path and rerun`, { file });
}

/** Write all of `data` to an open descriptor (writeSync may write less than asked). */
export function writeAll(fd: number, data: string | Uint8Array): void {
  const b = typeof data === 'string' ? Buffer.from(data) : data;
  for (let off = 0; off < b.byteLength; ) off += writeSync(fd, b, off, Math.min(b.byteLength - off, 1 << 30));
}

/** fsync a folder so a rename or a new file in it survives a power cut (best effort where unsupported). */
export function fsyncDir(dir: string): void {
  let fd: number | null = null;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    /* some file systems cannot fsync a folder */
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

/**
 * Write a file atomically: readers see the old content or the new, never a part. Two writers of one file
 * never share a temp name.
 * @example
 * writeAtomic('out/summary.json', JSON.stringify({ ok: true }) + '\n');
 */
export function writeAtomic(file: string, data: string | Uint8Array): void {
  const st = statSync(file, { throwIfNoEntry: false });
  if (st && !st.isFile()) {
    // never rename over a device, FIFO or folder (a rename would replace /dev/null itself): a character device
    // (/dev/stdout, /dev/null, /dev/full) is written in place; anything else is refused
    if (!st.isCharacterDevice())
      throw new MoteError('E_IO', `${file} is not a regular file (a folder, FIFO or socket); fix: give a file path`, { file });
    try {
      writeFileSync(file, data);
    } catch (e) {
      throw ioError(e, file, 'write');
    }
    return;
  }
  const tmp = `${dirname(file)}/.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  let fd: number | null = null;
  try {
    fd = openSync(tmp, 'wx');
    writeAll(fd, data);
    fsyncSync(fd);
    closeSync(fd);
    fd = null;
    renameSync(tmp, file);
  } catch (e) {
    if (fd !== null) closeSync(fd);
    rmSync(tmp, { force: true });
    throw ioError(e, file, 'write');
  }
  fsyncDir(dirname(file));
}

/** Whether a name is a temp file of writeAtomic (left behind by a kill; safe to delete on resume). */
export const isAtomicTemp = (name: string): boolean => /^\..+\.\d+\.[0-9a-f]{8}\.tmp$/.test(name);
