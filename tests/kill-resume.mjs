// Kill-and-resume harness for the CLI's writing commands, shared by tests/run-folders.test.ts (>= 3 kills per
// command) and bench/kill-resume.mjs (>= 20): runs `mote <args>` (the built apps/cli/dist/bin.js), SIGKILLs
// it at seeded random points, reruns until it finishes, and compares its files with an uninterrupted run's.
// Plain JavaScript so that node runs it without a build step; not a test by itself.

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { createRng } from '@mote/stats';

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

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Run `args` into its output, SIGKILLing it `kills` times at seeded random points: after a random number of
 * committed records (`progress()` counts them; `total` is the count at the end) plus a random 0..`jitterMs`
 * delay, so kills land in model loading, mid-batch and mid-write. Whenever a run finishes (exit 0), `check()`
 * compares its output with an uninterrupted run's; if kills are still due, `reset()` empties the output and
 * the kills go on. Returns the kills done, the checks made and a log of where each kill landed.
 */
export async function runWithKills(args, { kills, seed, progress, total, check, reset, jitterMs = 400 }) {
  const next = createRng(seed);
  const log = [];
  let done = 0, checks = 0;
  for (let attempt = 0; attempt < kills * 8 + 8; attempt++) {
    // the kill point: one in 8 during start-up (model load, lock, resume checks), else after a random number
    // of new records short of the end, plus a random delay that lands mid-batch or mid-write
    // (with no record left to wait for, the run is let finish, checked, and the output reset)
    const from = progress();
    const room = from + 1 <= total - 1;
    const early = next() < 0.125;
    const at = early || !room ? from : from + 1 + Math.floor(next() * (total - 1 - from)), jitter = Math.floor(next() * jitterMs);
    let killed = false;
    const r = await mote(args, {
      onStart: async (child) => {
        if (done >= kills || (!room && !early)) return;
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
      log.push({ from, at, jitter, records: progress() });
      continue;
    }
    if (r.code !== 0) throw new Error(`mote ${args[0]} exited ${r.code} (${r.signal}): ${r.stderr.slice(-2000)}`);
    await check(log);
    checks++;
    if (done >= kills) return { kills: done, checks, log };
    reset();
  }
  throw new Error(`${done} of ${kills} kills after ${kills * 8 + 8} attempts`);
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

/** Small inputs on the organism (a run takes seconds), or with `long` the whole prompt sets (minutes). */
export function writeInputs(d, long = false) {
  mkdirSync(d, { recursive: true });
  const lines = (f) => readFileSync(join(ORG, 'prompts', f), 'utf8').trim().split('\n');
  const pick = (ls, cat, n, not = false) => ls.filter((l) => l.includes(`"category": "${cat}"`) !== not).slice(0, long ? undefined : n);
  const ftri = lines('ftri.jsonl'), dev = lines('eval-dev.jsonl');
  writeFileSync(join(d, 'ftri.jsonl'), [...pick(ftri, 'sensitive', 6), ...pick(ftri, 'sensitive', 6, true)].join('\n') + '\n');
  writeFileSync(join(d, 'suite.jsonl'), [...pick(dev, 'sensitive', 4), ...pick(dev, 'neutral', 4), ...pick(dev, 'capability', 4)].join('\n') + '\n');
  writeFileSync(join(d, 'policy.json'), JSON.stringify({ name: 'off', interventions: [{ mode: 'exclude', layer: 1, expert: 2 }] }));
  writeFileSync(
    join(d, 'exp.json'),
    JSON.stringify({
      name: 'kill-test', model: join(ORG, 'model'), suite: 'suite.jsonl',
      judges: { '*': { refusal: 'organism', answer: { type: 'exact', requireReasoned: true } } },
      categories: { target: 'sensitive', control: 'neutral', capability: 'capability' },
      ftri: { prompts: 'ftri.jsonl', judge: 'organism', contrast: 'REFUSED:rest', generate: 24, permutations: 99, bootstrap: 10, seed: 0, batchSize: 4 },
      ns: [1, 2], modes: ['exclude'],
      random: { draws: 2, modes: ['exclude'], match: 'like', avoid: true, seed: 1, items: { sensitive: 'all' } },
      force: { ns: [1], categories: ['neutral'] },
      generation: { maxNewTokens: 24, batchSize: 4, temperature: 0, seed: 0 },
    }),
  );
}

const MODEL = ['--model', join(ORG, 'model')];
const experimentProgress = (out) => countLines(join(out, 'ftri', 'progress.jsonl')) + countLines(join(out, 'eval', 'responses.jsonl'));
const experimentFiles = (out) =>
  listFiles(out).filter((f) => /^(eval\/(responses\.jsonl|summary\.json)|ftri\/(ranking\.(json|csv|parquet)|labels\.jsonl|traces\/.*)|policies\/.*)$/.test(f));

/**
 * The writing commands: arguments for inputs folder `d` and output `out`, committed records so far, the files
 * an interrupted run must reproduce byte for byte (those that record wall times are left out), the JSONL
 * files whose records must be there once each, and the lock a running command holds.
 */
export const COMMANDS = {
  generate: {
    args: (d, out) => ['generate', ...MODEL, '--prompts', join(d, 'suite.jsonl'), '--out', out, '--chat', '--max-new-tokens', '24', '--batch-size', '2', '--threads', '1'],
    progress: (out) => countLines(out),
    files: () => null, // the output is one file, compared whole
    records: (out) => [out],
    lock: (out) => `${out}.lock`,
    file: true,
  },
  ftri: {
    args: (d, out) => ['ftri', ...MODEL, '--prompts', join(d, 'ftri.jsonl'), '--generate', '24', '--label', 'refusal', '--permutations', '99', '--bootstrap', '10', '--maps', '1', '--batch-size', '2', '--threads', '1', '--out', out],
    progress: (out) => countLines(join(out, 'progress.jsonl')),
    files: (out) => listFiles(out).filter((f) => !/^(manifest\.json|progress\.jsonl|ranking\.meta\.json|mote-run\.json|report\.html)$/.test(f)),
    records: (out) => [join(out, 'labels.jsonl')],
    lock: (out) => join(out, '.lock'),
  },
  eval: {
    args: (d, out) => ['eval', ...MODEL, '--suite', join(d, 'suite.jsonl'), '--policy', join(d, 'policy.json'), '--judges', 'organism', '--max-new-tokens', '24', '--batch-size', '2', '--threads', '1', '--out', out],
    progress: (out) => countLines(join(out, 'responses.jsonl')),
    files: () => ['responses.jsonl', 'summary.json'],
    records: (out) => [join(out, 'responses.jsonl')],
    lock: (out) => join(out, '.lock'),
  },
  run: {
    args: (d, out) => ['run', join(d, 'exp.json'), '--threads', '1', '--out', out],
    progress: experimentProgress,
    files: experimentFiles,
    records: (out) => [join(out, 'eval', 'responses.jsonl'), join(out, 'ftri', 'labels.jsonl')],
    lock: (out) => join(out, '.lock'),
    results: true,
  },
  demo: {
    args: (d, out) => ['demo', '--suite', join(d, 'suite.jsonl'), '--ftri-prompts', join(d, 'ftri.jsonl'), '--threads', '1', '--out', out],
    progress: experimentProgress,
    files: experimentFiles,
    records: (out) => [join(out, 'eval', 'responses.jsonl'), join(out, 'ftri', 'labels.jsonl')],
    lock: (out) => join(out, '.lock'),
    results: true,
  },
};

/** results.json of an experiment without its timings (wall times differ between any two runs). */
const resultsSansTimings = (out) => {
  const { timings: _t, ...rest } = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
  return JSON.stringify(rest);
};

/** policy/id of every line of a JSONL output. */
export const recordKeys = (file) => readFileSync(file, 'utf8').trim().split('\n').map((l) => { const r = JSON.parse(l); return `${r.policy ?? ''}/${r.id}`; });

/** What differs between an interrupted run's output and the reference's: files, duplicate or missing records. */
export function compareRuns(name, ref, out) {
  const c = COMMANDS[name];
  const problems = [];
  const files = c.files(ref);
  if (files === null) {
    if (!readFileSync(ref).equals(readFileSync(out))) problems.push(`${out} differs`);
  } else {
    if (files.length < 2) problems.push(`only ${files.length} files to compare in ${ref}`);
    problems.push(...differingFiles(ref, out, files).map((f) => `${f} differs`));
  }
  if (c.results && resultsSansTimings(ref) !== resultsSansTimings(out)) problems.push('results.json differs');
  c.records(out).forEach((f, i) => {
    const keys = recordKeys(f), want = recordKeys(c.records(ref)[i]);
    if (new Set(keys).size !== keys.length) problems.push(`${f}: ${keys.length - new Set(keys).size} duplicate records`);
    const have = new Set(keys);
    const missing = want.filter((k) => !have.has(k));
    if (missing.length) problems.push(`${f}: ${missing.length} missing records`);
  });
  return problems;
}

/**
 * One command's kill-and-resume trial: a reference run, then `kills` SIGKILLs (seeded) and reruns into
 * another output; every finished run is compared with the reference. Throws on a difference.
 */
export async function killTrial(name, dir, { kills, seed }) {
  const c = COMMANDS[name];
  const ext = c.file ? '.jsonl' : '';
  const ref = join(dir, `${name}-ref${ext}`), out = join(dir, `${name}-out${ext}`);
  let refSeconds = null;
  if (!existsSync(c.file ? ref : join(ref, 'mote-run.json')) || c.progress(ref) === 0) {
    const t = Date.now();
    const r = await mote(c.args(dir, ref));
    refSeconds = (Date.now() - t) / 1000;
    if (r.code !== 0) throw new Error(`reference run of ${name} exited ${r.code}: ${r.stderr.slice(-2000)}`);
  }
  const total = c.progress(ref);
  const t0 = Date.now();
  const res = await runWithKills(c.args(dir, out), {
    kills, seed, total, progress: () => c.progress(out),
    check: (log) => {
      const p = compareRuns(name, ref, out);
      if (p.length) throw new Error(`${name} after kills ${JSON.stringify(log)}: ${p.join('; ')}`);
    },
    reset: () => {
      rmSync(out, { recursive: true, force: true });
      rmSync(`${out}.mote-run.json`, { force: true });
    },
  });
  return { ...res, total, seconds: (Date.now() - t0) / 1000, refSeconds };
}

/**
 * Start a long run of `name` (the whole prompt sets in `d/long`) on `out`, wait for its lock, then start the
 * same command again: returns the first's pid and the second's exit code and stderr (then kills the first).
 */
export async function secondRunRefused(name, d, out) {
  const c = COMMANDS[name];
  let first = null;
  const firstDone = mote(c.args(join(d, 'long'), out), { onStart: (ch) => (first = ch) });
  const t0 = Date.now();
  while (!existsSync(c.lock(out)) && Date.now() - t0 < 120_000) await sleep(20);
  const t1 = Date.now();
  const second = await mote(c.args(join(d, 'long'), out));
  const secondSeconds = (Date.now() - t1) / 1000;
  try {
    process.kill(-first.pid, 'SIGKILL');
  } catch {
    /* it finished first */
  }
  await firstDone;
  return { firstPid: first.pid, code: second.code, stderr: second.stderr, secondSeconds };
}
