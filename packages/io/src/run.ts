// The run discipline of every mote command that writes: open a run folder (or a single output file) under
// an exclusive lock, with a manifest of the settings that determine its results. Resume only when they
// match (else E_RESUME naming each differing field; forceNew starts over); never write into a folder or
// file that no mote command of the same kind created. Not the file formats (jsonl.ts, atomic.ts).

import { existsSync, readdirSync, realpathSync, rmSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { mkdirSync } from 'node:fs';
import { MoteError } from '@mote/tensor-core';
import { ioError, isAtomicTemp, writeAtomic } from './atomic.js';
import { canonicalJson } from './hash.js';
import { acquireLock, type Lock } from './lock.js';
import { readText } from './jsonl.js';
import { VERSION } from './version.js';

/** The marker and manifest of a run: `<folder>/mote-run.json`, or `<file>.mote-run.json` beside an output file. */
export interface RunManifest {
  format: 'mote-run';
  format_version: 1;
  /** the command that owns the output: generate, ftri, eval, experiment, ... */
  kind: string;
  /** everything that determines the results; compared on resume */
  settings: Record<string, unknown>;
  /** written for the record, never compared (versions, batch sizes that do not change results, ...) */
  recorded: Record<string, unknown>;
  created: string;
  updated: string;
  host: string;
}

export interface OpenRunOptions {
  kind: string;
  settings: Record<string, unknown>;
  recorded?: Record<string, unknown>;
  /** settings keys holding maps that may gain entries on resume (each entry present in both must match) */
  grow?: string[];
  /** discard what the output holds and start over (only an output this kind of command created) */
  forceNew?: boolean;
  /** input files the output must not be (e.g. --prompts) */
  inputs?: string[];
  /** the flag that named the output, for messages (default --out) */
  flag?: string;
}

export interface RunHandle {
  /** the run folder or output file */
  path: string;
  manifestFile: string;
  manifest: RunManifest;
  /** true when an earlier run's results are kept and continued */
  resumed: boolean;
  lock: Lock;
  /** rewrite the manifest with more recorded facts (atomically) */
  record(facts: Record<string, unknown>): void;
  release(): void;
}

export const RUN_MANIFEST = 'mote-run.json';
export const RUN_LOCK = '.lock';

/** Dotted paths where two settings objects differ, each with both values (`grow` keys compare shared entries). */
export function diffSettings(
  old: Record<string, unknown>,
  now: Record<string, unknown>,
  grow: string[] = [],
): { field: string; was: unknown; now: unknown }[] {
  const out: { field: string; was: unknown; now: unknown }[] = [];
  const walk = (a: unknown, b: unknown, path: string, growing: boolean): void => {
    const isObj = (x: unknown) => x !== null && typeof x === 'object' && !Array.isArray(x);
    if (isObj(a) && isObj(b)) {
      const ka = Object.keys(a as object),
        kb = Object.keys(b as object);
      const keys = growing ? ka.filter((k) => kb.includes(k)) : [...new Set([...ka, ...kb])];
      const at = (x: unknown, k: string) => (x as Record<string, unknown>)[k];
      for (const k of keys.sort()) walk(at(a, k), at(b, k), path ? `${path}.${k}` : k, !path && grow.includes(k));
      return;
    }
    if (canonicalJson(a ?? null) !== canonicalJson(b ?? null)) out.push({ field: path, was: a, now: b });
  };
  walk(old, now, '', false);
  return out;
}

const show = (v: unknown): string => {
  const s = JSON.stringify(v) ?? 'undefined';
  return s.length > 80 ? s.slice(0, 77) + '...' : s;
};

function readManifest(file: string): RunManifest | null {
  try {
    const m = JSON.parse(readText(file, 'run manifest')) as RunManifest;
    return m && m.format === 'mote-run' && typeof m.kind === 'string' && m.settings && typeof m.settings === 'object' ? m : null;
  } catch {
    return null;
  }
}

/** The manifest of a run folder (or of an output file's run), or null when there is none or it is unreadable. */
export function readRunManifest(path: string): RunManifest | null {
  const file = existsSync(path) && statSync(path).isDirectory() ? join(path, RUN_MANIFEST) : `${path}.${RUN_MANIFEST}`;
  return existsSync(file) ? readManifest(file) : null;
}

const same = (a: string, b: string): boolean => {
  const real = (p: string) => {
    try {
      return realpathSync(p);
    } catch {
      return resolve(p);
    }
  };
  return real(a) === real(b);
};

/**
 * Open (create or resume) the run folder `dir` of a command, under its lock.
 * @example
 * const run = openRunFolder('runs/a', { kind: 'eval', settings: { model: hash, maxNewTokens: 64 } });
 * try { ... run.resumed ... } finally { run.release(); }
 */
export function openRunFolder(dir: string, opts: OpenRunOptions): RunHandle {
  const flag = opts.flag ?? '--out';
  for (const input of opts.inputs ?? [])
    if (same(dir, input)) throw new MoteError('E_INPUT', `${flag} ${dir} is the input ${input}; fix: use another folder`, { field: flag });
  if (existsSync(dir) && !statSync(dir).isDirectory())
    throw new MoteError('E_INPUT', `${flag} ${dir} is a file, but a folder is expected; fix: give a folder`, { file: dir, field: flag });
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw ioError(e, dir, 'create the run folder');
  }
  const lock = acquireLock(join(dir, RUN_LOCK), `the run folder ${dir}`);
  try {
    const manifestFile = join(dir, RUN_MANIFEST);
    const others = () => readdirSync(dir).filter((n) => n !== RUN_LOCK && !n.startsWith(`${RUN_LOCK}.`) && !n.startsWith(`.${RUN_LOCK}.`));
    const opened = decide(dir, manifestFile, others().length > 0, opts, 'folder');
    if (opened.wipe) for (const n of others()) rmSync(join(dir, n), { recursive: true, force: true });
    for (const n of readdirSync(dir)) if (isAtomicTemp(n)) rmSync(join(dir, n), { force: true });
    return handle(dir, manifestFile, opened.manifest, opened.resumed, lock);
  } catch (e) {
    lock.release();
    throw e;
  }
}

/**
 * Open (create or resume) a single output file (e.g. `generate --out answers.jsonl`), under the lock
 * `<file>.lock`, with its manifest beside it in `<file>.mote-run.json`. An existing non-empty file without
 * that manifest was not written by mote and is refused.
 * @example
 * const run = openRunFile('answers.jsonl', { kind: 'generate', settings, inputs: ['prompts.jsonl'] });
 */
export function openRunFile(file: string, opts: OpenRunOptions): RunHandle {
  const flag = opts.flag ?? '--out';
  for (const input of opts.inputs ?? [])
    if (same(file, input)) {
      const msg = `${flag} ${file} is also the input ${input}; writing there would destroy the input; fix: give another ${flag} file`;
      throw new MoteError('E_INPUT', msg, { file, field: flag });
    }
  if (existsSync(file) && statSync(file).isDirectory())
    throw new MoteError('E_INPUT', `${flag} ${file} is a folder, but a file is expected; fix: give a file path`, { file, field: flag });
  if (!existsSync(dirname(resolve(file))))
    throw new MoteError('E_IO', `${flag} ${file}: the folder ${dirname(resolve(file))} does not exist; fix: create it first`, {
      file,
      field: flag,
    });
  const lock = acquireLock(`${file}.lock`, `the output ${file}`);
  try {
    const manifestFile = `${file}.${RUN_MANIFEST}`;
    const hasData = existsSync(file) && statSync(file).size > 0;
    const opened = decide(file, manifestFile, hasData, opts, 'file');
    if (opened.wipe || !opened.resumed) rmSync(file, { force: true });
    return handle(file, manifestFile, opened.manifest, opened.resumed, lock);
  } catch (e) {
    lock.release();
    throw e;
  }
}

function decide(
  path: string,
  manifestFile: string,
  hasData: boolean,
  opts: OpenRunOptions,
  what: 'folder' | 'file',
): { manifest: RunManifest; resumed: boolean; wipe: boolean } {
  const now = new Date().toISOString();
  const fresh = (): RunManifest => ({
    format: 'mote-run',
    format_version: 1,
    kind: opts.kind,
    settings: opts.settings,
    recorded: { versions: { '@mote/io': VERSION, node: process.version }, ...opts.recorded },
    created: now,
    updated: now,
    host: hostname(),
  });
  const old = existsSync(manifestFile) ? readManifest(manifestFile) : null;
  if (!old) {
    if (existsSync(manifestFile) && !opts.forceNew)
      throw new MoteError(
        'E_RESUME',
        `${manifestFile} is unreadable or not a mote run manifest, so ${path} cannot be trusted; ` +
          'fix: pass --force-new to start over, or choose another --out',
        { file: manifestFile },
      );
    if (hasData && !existsSync(manifestFile))
      throw new MoteError(
        'E_RESUME',
        `${path} already exists and was not written by \`mote ${opts.kind}\` (it has no ${basename(manifestFile)}); ` +
          `mote never appends to or rewrites such a ${what}; ` +
          `fix: choose a new ${what === 'folder' ? 'or empty folder' : 'file'} for --out, or move it away`,
        { file: path },
      );
    return { manifest: fresh(), resumed: false, wipe: true };
  }
  if (old.kind !== opts.kind)
    throw new MoteError('E_RESUME', `${path} holds a \`mote ${old.kind}\` run, not a \`mote ${opts.kind}\` one; fix: use another --out`, {
      file: path,
      field: 'kind',
    });
  const diff = diffSettings(old.settings, opts.settings, opts.grow);
  if (diff.length && !opts.forceNew)
    throw new MoteError(
      'E_RESUME',
      `${path} holds a ${opts.kind} run made with other settings; resuming would mix results of different settings ` +
        `(${diff.map((d) => `${d.field}: ${show(d.was)} -> ${show(d.now)}`).join(', ')}); ` +
        'fix: rerun with the same settings, pass --force-new to start over, or choose another --out',
      { file: manifestFile, field: diff[0].field },
    );
  if (opts.forceNew) return { manifest: fresh(), resumed: false, wipe: true };
  const merged: Record<string, unknown> = { ...opts.settings };
  for (const k of opts.grow ?? []) merged[k] = { ...(old.settings[k] as object), ...(opts.settings[k] as object) };
  const manifest = { ...old, settings: merged, recorded: { ...old.recorded, ...opts.recorded }, updated: now };
  return { manifest, resumed: true, wipe: false };
}

function handle(path: string, manifestFile: string, manifest: RunManifest, resumed: boolean, lock: Lock): RunHandle {
  writeAtomic(manifestFile, JSON.stringify(manifest, null, 2) + '\n');
  const h: RunHandle = {
    path,
    manifestFile,
    manifest,
    resumed,
    lock,
    record(facts) {
      h.manifest = { ...h.manifest, recorded: { ...h.manifest.recorded, ...facts }, updated: new Date().toISOString() };
      writeAtomic(manifestFile, JSON.stringify(h.manifest, null, 2) + '\n');
    },
    release: () => lock.release(),
  };
  return h;
}
