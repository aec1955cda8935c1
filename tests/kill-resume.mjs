// Kill-and-resume harness for the CLI's writing commands, shared by tests/run-folders.test.ts (>= 3 kills per
// command) and bench/kill-resume.mjs (>= 20): runs `mote <args>` (the built apps/cli/dist/bin.js), SIGKILLs
// it at seeded random points, reruns until it finishes, and compares its files with an uninterrupted run's.
// Plain JavaScript so that node runs it without a build step; not a test by itself.

import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { rng } from '@mote/moe-runtime';

export const ROOT = join(import.meta.dirname, '..');
export const BIN = join(ROOT, 'apps', 'cli', 'dist', 'bin.js');
export const ORG = join(ROOT, 'models', 'organism');

/**
 * Start `mote ...args`; resolves with exit code, signal, stdout and stderr. `onStart(child)` sees the process.
 * @returns {Promise<{ code: number | null, signal: string | null, stdout: string, stderr: string }>}
 */
export function mote(args, { cwd = ROOT, onStart } = {}) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (b) => (stdout += b));
    child.stderr.on('data', (b) => (stderr += b));
    child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr }));
    onStart?.(child);
  });
}

/** Number of complete lines of a file (0 when missing). */
export function countLines(file) {
  if (!existsSync(file)) return 0;
  const t = readFileSync(file, 'utf8');
  return t.split('\n').length - 1;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Run `args` into its output, SIGKILLing it `kills` times at seeded random points: after a random number of
 * committed records (`progress()` counts them; `total` is the count at the end) plus a random 0..`jitterMs`
 * delay, so kills land in model loading, mid-batch and mid-write. Whenever a run finishes (exit 0), `check()`
 * compares its output with an uninterrupted run's; if kills are still due, `reset()` empties the output and
 * the kills go on. Returns the kills done, the checks made and a log of where each kill landed.
 */
export async function runWithKills(args, { kills, seed, progress, total, check, reset, jitterMs = 400 }) {
  const next = rng(seed);
  const log = [];
  let done = 0, checks = 0;
  for (let attempt = 0; attempt < kills * 6 + 6; attempt++) {
    const at = Math.floor(next() * total), jitter = Math.floor(next() * jitterMs);
    let killed = false;
    const r = await mote(args, {
      onStart: async (child) => {
        if (done >= kills) return;
        while (child.exitCode === null && child.signalCode === null && progress() < at) await sleep(5);
        await sleep(jitter);
        if (child.exitCode === null && child.signalCode === null) {
          killed = true;
          try {
            process.kill(-child.pid, 'SIGKILL');
          } catch {
            /* exited meanwhile */
          }
        }
      },
    });
    if (killed && r.signal === 'SIGKILL') {
      done++;
      log.push({ at, jitter, records: progress() });
      continue;
    }
    if (r.code !== 0) throw new Error(`mote ${args[0]} exited ${r.code} (${r.signal}): ${r.stderr.slice(-2000)}`);
    await check();
    checks++;
    if (done >= kills) return { kills: done, checks, log };
    reset();
  }
  throw new Error(`${done} of ${kills} kills after ${kills * 6 + 6} attempts`);
}

/** Relative paths of every file under dir (sorted), without the run lock. */
export function listFiles(dir) {
  const out = [];
  const walk = (d) => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out.filter((f) => f !== '.lock');
}

/** Files that differ in bytes between two runs (`files` relative to each root; missing counts as different). */
export function differingFiles(a, b, files) {
  return files.filter((f) => {
    const x = join(a, f), y = join(b, f);
    return !existsSync(x) || !existsSync(y) || !readFileSync(x).equals(readFileSync(y));
  });
}
