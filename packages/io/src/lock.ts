// The exclusive lock of a run folder or output file: a small JSON file naming holder pid, host and start
// time, created whole in one step (write a private file, then link() it to the lock name: link fails if the
// name exists, like O_EXCL, and nobody ever sees a half-written lock). Not the manifest (run.ts).

import { existsSync, linkSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { MoteError } from '@mote/tensor-core';
import { ioError, writeAtomic } from './atomic.js';

/** What a lock file holds. */
export interface LockHolder {
  pid: number;
  host: string;
  started: string;
  /** the command line of the holder, for messages */
  command: string;
  /** random, unique per acquisition: release and takeover check it before they delete */
  nonce: string;
}

export interface Lock {
  file: string;
  holder: LockHolder;
  /** delete the lock if it is still ours (idempotent) */
  release(): void;
}

/** Whether a process of this host runs (a zombie, killed but not yet reaped, counts as dead). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8'); // Linux: the field after "(comm)" is the state
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return true;
  }
}

function readHolder(file: string): LockHolder | null {
  try {
    const h = JSON.parse(readFileSync(file, 'utf8')) as LockHolder;
    return typeof h?.pid === 'number' && typeof h.host === 'string' ? h : null;
  } catch {
    return null; // gone meanwhile, or not a mote lock
  }
}

/** Create `file` holding `holder` iff it does not exist. */
function tryCreate(file: string, holder: LockHolder): boolean {
  const mine = join(dirname(file), `.${basename(file)}.${holder.nonce}`);
  writeAtomic(mine, JSON.stringify(holder) + '\n');
  try {
    linkSync(mine, file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw ioError(e, file, 'create the lock');
  } finally {
    rmSync(mine, { force: true });
  }
}

const stale = (h: LockHolder): boolean => h.host === hostname() && h.pid !== process.pid && !pidAlive(h.pid);

/**
 * Take the exclusive lock `file` (e.g. `run/.lock`) or fail at once with E_LOCKED naming the holder.
 * A lock whose holder is a dead process on this host is taken over: the stale lock is renamed away under a
 * second lock (`file.takeover`) and checked to be the one judged stale, so two processes racing for a
 * stale lock cannot both win, and a live holder's lock is never deleted. Locks of other hosts are never
 * taken over (their pid cannot be checked from here).
 * @example
 * const lock = acquireLock('runs/a/.lock');
 * try { ... } finally { lock.release(); }
 */
export function acquireLock(file: string, what = 'this output'): Lock {
  // a lock taken by lockOutput (a CLI command locks its output before loading the model) is taken again by
  // the package function that opens that output; it goes when the last holder releases it. Any other lock
  // this process holds is refused like another process's (two async runs in one process must not mix).
  const mine = held.get(resolve(file));
  if (mine?.shareable && readHolder(file)?.nonce === mine.lock.holder.nonce) {
    mine.refs++;
    let open = true;
    return { file, holder: mine.lock.holder, release: () => void (open && ((open = false), --mine.refs === 0 && mine.lock.release())) };
  }
  const holder: LockHolder = {
    pid: process.pid,
    host: hostname(),
    started: new Date().toISOString(),
    command: process.argv.slice(1).join(' ').slice(0, 300),
    nonce: randomBytes(8).toString('hex'),
  };
  for (let attempt = 0; attempt < 20; attempt++) {
    if (tryCreate(file, holder)) return makeLock(file, holder);
    const old = readHolder(file);
    if (old === null) {
      if (!existsSync(file)) continue; // released meanwhile: try again
      throw new MoteError('E_LOCKED', `${file} exists but is not a mote lock; fix: delete it if no mote command writes ${what}`, { file });
    }
    if (!stale(old))
      throw new MoteError(
        'E_LOCKED',
        `${what} is in use: another mote process (pid ${old.pid} on ${old.host}, since ${old.started}) holds ${file}; ` +
          'fix: wait for it to finish, or use another --out' +
          (old.host === hostname() ? '' : `; if that process is gone, delete ${file}`),
        { file },
      );
    if (!takeOver(file, old)) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 25); // another taker is at work
  }
  const msg = `${file}: cannot take the lock (it keeps changing hands); fix: make sure one mote command writes ${what}`;
  throw new MoteError('E_LOCKED', msg, { file });
}

/** Remove a stale lock, guarded by a second lock so racing takers cannot delete each other's fresh lock. */
function takeOver(file: string, old: LockHolder): boolean {
  const guardFile = `${file}.takeover`;
  const guard: LockHolder = {
    ...old,
    pid: process.pid,
    host: hostname(),
    started: new Date().toISOString(),
    nonce: randomBytes(8).toString('hex'),
  };
  if (!tryCreate(guardFile, guard)) {
    const g = readHolder(guardFile);
    // a taker killed inside the few lines below leaves its guard: remove it only when its pid is dead too
    if (g && stale(g)) rmSync(guardFile, { force: true });
    return false; // someone else is taking over: the caller's next attempt sees the outcome
  }
  try {
    const now = readHolder(file);
    if (now && now.nonce === old.nonce) {
      const aside = `${file}.stale-${guard.nonce}`;
      renameSync(file, aside);
      const moved = readHolder(aside);
      if (moved?.nonce === old.nonce) rmSync(aside, { force: true });
      else linkBack(aside, file); // cannot happen under the guard; be safe anyway
    }
  } finally {
    if (readHolder(guardFile)?.nonce === guard.nonce) rmSync(guardFile, { force: true });
  }
  return true;
}

function linkBack(aside: string, file: string): void {
  try {
    linkSync(aside, file);
  } catch {
    /* a new lock is there: it wins */
  }
  rmSync(aside, { force: true });
}

/** Locks this process holds, by absolute path. */
const held = new Map<string, { lock: Lock; refs: number; shareable: boolean }>();

function makeLock(file: string, holder: LockHolder): Lock {
  let open = true;
  const key = resolve(file);
  const release = (): void => {
    if (!open) return;
    open = false;
    held.delete(key);
    process.off('exit', release);
    if (readHolder(file)?.nonce === holder.nonce) rmSync(file, { force: true });
  };
  process.on('exit', release); // a normal exit or an uncaught error releases; a SIGKILL leaves a stale lock
  const lock = { file, holder, release };
  held.set(key, { lock, refs: 1, shareable: false });
  return lock;
}

/**
 * Lock a command's output before the slow part of its start (loading a model), so a second run on the same
 * output fails at once: `<file>.lock` beside an output file, `<dir>/.lock` in a run folder (created when
 * missing). Returns null, taking no lock, for a non-empty folder without a run manifest (mote never writes
 * into it; the run-folder check refuses it later with the reason). The package function that opens the
 * output takes the same lock again (re-entrant within a process).
 * @example
 * const early = lockOutput('runs/a');
 * try { const model = await loadModel(dir); await runEval({ model, outDir: 'runs/a', ... }); } finally { early?.release(); }
 */
export function lockOutput(path: string, opts: { file?: boolean } = {}): Lock | null {
  const share = (lock: Lock): Lock => ((held.get(resolve(lock.file))!.shareable = true), lock);
  if (opts.file) return existsSync(dirname(resolve(path))) ? share(acquireLock(`${path}.lock`, `the output ${path}`)) : null;
  if (existsSync(path)) {
    if (!statSync(path).isDirectory()) return null;
    const names = readdirSync(path).filter((n) => !n.startsWith('.lock') && !n.startsWith('..lock'));
    if (names.length && !names.includes('mote-run.json')) return null;
  } else {
    try {
      mkdirSync(path, { recursive: true });
    } catch {
      return null; // the run-folder check reports why
    }
  }
  return share(acquireLock(join(path, '.lock'), `the run folder ${path}`));
}

/** The holder of a lock file, or null when there is none. */
export function lockHolder(file: string): LockHolder | null {
  return existsSync(file) ? readHolder(file) : null;
}

/** Run `fn` holding lockOutput(path) (when a path is given), released after. */
export async function withOutputLock<T>(path: string | undefined, opts: { file?: boolean }, fn: () => Promise<T>): Promise<T> {
  const lock = path ? lockOutput(path, opts) : null;
  try {
    return await fn();
  } finally {
    lock?.release();
  }
}
