// The trace store: a run folder written in parts (Arrow IPC + Parquet per batch), a progress log that
// makes an interrupted run resumable without lost or duplicated records, the manifest, and the prompt and
// meta files. Not the bytes of a part (trace-files.ts) nor the activation readers (trace-read.ts).

import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { appendJsonl, openRunFolder, parseJsonl, readJsonl, readText, toJsonl, writeAtomic, type RunHandle } from '@mote/io';
import { MoteError } from '@mote/tensor-core';
import type { PromptRecord } from './prompts.js';
import { aggColumns, arrowFile, parquetFile, tokenColumns, traceFileProblem, type ColumnsInput } from './trace-files.js';
import { VERSION } from './version.js';

export type TraceFormat = 'arrow' | 'parquet';

export const FILES = {
  manifest: 'manifest.json',
  prompts: 'prompts.jsonl',
  progress: 'progress.jsonl',
  traces: 'traces',
  labels: 'labels.jsonl',
} as const;

/** Per prompt facts of a traced run (one JSON line per prompt in traces/meta-NNNNN.jsonl). */
export interface PromptMeta {
  id: string;
  index: number;
  /** scoped tokens (the denominator of rates) */
  n_tokens: number;
  n_prompt_tokens: number;
  n_generated: number;
  response?: string;
  stop_reason?: string;
  label?: string;
}

export interface ProgressEntry {
  part: number;
  ids: string[];
  token_rows: number;
  agg_rows: number;
  files: string[];
  time: string;
}

/** What must match for a run folder to be resumed. */
export interface ManifestCore {
  format: 'mote-ftri-traces';
  format_version: 1;
  model: { dir: string; hash: string; model_type: string; moe_layers: number[]; expert_count: number; top_k: number };
  prompt_set: { hash: string; count: number; source?: string };
  scope: string;
  generate: number;
  seed: number;
  router_probs: boolean;
  record_tokens: boolean;
  formats: TraceFormat[];
}
export interface Manifest extends ManifestCore {
  versions: Record<string, string>;
  created: string;
  batch_size?: number;
  completed?: boolean;
  finished?: string;
  prompts_traced?: number;
  token_rows?: number;
  parts?: number;
  trace_seconds?: number;
  [extra: string]: unknown;
}

/** The labels file of a run folder (FILES.labels): one {id, prompt, response, label} line per prompt. */
export const toLabels = (metas: PromptMeta[], promptOf: (m: PromptMeta) => string | undefined): string =>
  metas.map((m) => JSON.stringify({ id: m.id, prompt: promptOf(m), response: m.response ?? '', label: m.label })).join('\n') + '\n';

const partName = (kind: string, part: number, ext: string): string => `${kind}-${String(part).padStart(5, '0')}.${ext}`;

// ---------------------------------------------------------------------------------------------------
// Manifest and versions

/** Versions of ftri, the runtime and the writers, found by walking up to their package.json files. */
export function packageVersions(): Record<string, string> {
  const out: Record<string, string> = { '@mote/ftri': VERSION, node: process.version };
  let here: string;
  try {
    here = dirname(fileURLToPath(import.meta.url));
  } catch {
    return out;
  }
  for (const name of ['@mote/moe-runtime', '@mote/tensor-core', '@mote/io', 'apache-arrow', 'hyparquet-writer', 'onnxruntime-node']) {
    let d = here;
    for (let up = 0; up < 8; up++) {
      const pj = join(d, 'node_modules', name, 'package.json');
      if (existsSync(pj)) {
        try {
          out[name] = JSON.parse(readFileSync(pj, 'utf8')).version;
        } catch {
          /* unreadable: leave out */
        }
        break;
      }
      const parent = dirname(d);
      if (parent === d) break;
      d = parent;
    }
  }
  return out;
}

export function readManifest(dir: string): Manifest {
  const file = join(dir, FILES.manifest);
  if (!existsSync(file))
    throw new MoteError(
      'E_INPUT',
      `${dir} is not an ftri trace folder: ${FILES.manifest} is missing (run \`mote ftri ... --out ${dir}\` first)`,
      { file },
    );
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Manifest;
  } catch (e) {
    throw new MoteError('E_IO', `cannot parse ${file}: ${(e as Error).message}`, { file });
  }
}

// ---------------------------------------------------------------------------------------------------
// Run folder: open (fresh or resume), write parts, read back

export interface OpenRun {
  dir: string;
  manifest: Manifest;
  parts: ProgressEntry[];
  doneIds: Set<string>;
  nextPart: number;
  /** the run folder's lock and marker (@mote/io); release() when the run ends */
  run: RunHandle;
}

/**
 * Open a run folder under its lock: create it, or resume it when its settings (`core` and the batch size)
 * match; otherwise E_RESUME naming what differs, unless `forceNew` (which starts over). Partial parts (files
 * without a progress line, temp files, a torn last progress line) are removed.
 */
export function openRunDir(
  dir: string,
  core: ManifestCore,
  extra: Partial<Manifest>,
  prompts: readonly PromptRecord[],
  opts: { forceNew?: boolean } = {},
): OpenRun {
  const run = openRunFolder(dir, { kind: 'ftri', settings: { ...core, batch_size: extra.batch_size ?? null }, forceNew: opts.forceNew });
  try {
    mkdirSync(join(dir, FILES.traces), { recursive: true });
    const mfile = join(dir, FILES.manifest);
    const manifest: Manifest = run.resumed
      ? { ...readManifest(dir), ...extra, completed: false }
      : { ...core, versions: packageVersions(), created: new Date().toISOString(), ...extra, completed: false };
    if (!run.resumed) writeAtomic(join(dir, FILES.prompts), toJsonl(prompts));
    writeAtomic(mfile, JSON.stringify(manifest, null, 2) + '\n');
    const parts = readProgress(dir, true);
    const doneIds = new Set<string>();
    for (const p of parts) for (const id of p.ids) doneIds.add(id);
    return { dir, manifest, parts, doneIds, nextPart: parts.reduce((m, p) => Math.max(m, p.part + 1), 0), run };
  } catch (e) {
    run.release();
    throw e;
  }
}

/**
 * The valid progress entries of a run folder. With `repair`, a torn last line and entries whose files are
 * missing are dropped from the log, entries with a truncated or damaged file (traceFileProblem, or a meta file
 * that does not hold the part's prompts) too, so that a resumed run redoes that part; and trace files of no
 * logged part are deleted. Without `repair` (reading a folder), a damaged file is E_IO naming it.
 */
export function readProgress(dir: string, repair = false): ProgressEntry[] {
  const file = join(dir, FILES.progress);
  const entries: ProgressEntry[] = [];
  let dirty = false;
  // the torn last line of a kill mid-append is cut (repair) or ignored; a bad line before it is an error
  const text = existsSync(file) ? readText(file, 'progress log') : '';
  const { lines, torn } = parseJsonl<ProgressEntry>(text, file, {
    resume: true,
    what: 'progress log',
    fix: 'rerun with --force-new to start over',
  });
  for (const { value: e } of lines) {
    // a line that is not a progress entry (a corrupt log) is treated like a torn one: redone, never trusted
    if (
      !e ||
      typeof e !== 'object' ||
      !Array.isArray(e.ids) ||
      !Array.isArray(e.files) ||
      !e.files.every((f) => typeof f === 'string' && existsSync(join(dir, FILES.traces, f)))
    ) {
      dirty = true; // a part whose files are gone: it and what follows are redone
      break;
    }
    const bad = damagedFile(dir, e);
    if (bad && !repair)
      throw new MoteError(
        'E_IO',
        `the trace file ${bad.file} is truncated or damaged: ${bad.why}; fix: rerun the same \`mote ftri\` command with --out ${dir} (a resumed run redoes the damaged part ${e.part}), or trace into a new folder`,
        { file: bad.file },
      );
    if (bad) {
      dirty = true; // dropped from the log and its files deleted: the resumed run traces this part again
      continue;
    }
    entries.push(e);
  }
  if (repair) {
    if (dirty || torn) writeAtomic(file, toJsonl(entries));
    const keep = new Set(entries.flatMap((e) => e.files));
    const tdir = join(dir, FILES.traces);
    if (existsSync(tdir)) for (const f of readdirSync(tdir)) if (!keep.has(f)) rmSync(join(tdir, f), { force: true });
  }
  return entries;
}

/** The first file of a logged part that is not whole, and what is wrong with it. */
function damagedFile(dir: string, e: ProgressEntry): { file: string; why: string } | null {
  for (const f of e.files) {
    const file = join(dir, FILES.traces, f);
    let why: string | null;
    if (f.startsWith('meta-')) {
      const text = readFileSync(file, 'utf8');
      const n = text.split('\n').filter(Boolean).length;
      why = !text.endsWith('\n') ? 'its last line is cut' : n !== e.ids.length ? `it holds ${n} lines for ${e.ids.length} prompts` : null;
    } else why = traceFileProblem(file, f.startsWith('tokens-') ? e.token_rows : e.agg_rows);
    if (why) return { file, why };
  }
  return null;
}

export interface PartInput extends ColumnsInput {
  part: number;
  metas: PromptMeta[];
  formats: TraceFormat[];
  recordTokens: boolean;
}

/** Write one part's files atomically, then append its progress line (the commit point). */
export function writePart(dir: string, inp: PartInput): ProgressEntry {
  const tdir = join(dir, FILES.traces);
  const files: string[] = [];
  const put = (name: string, data: string | Uint8Array): void => {
    writeAtomic(join(tdir, name), data);
    files.push(name);
  };
  const tok = inp.recordTokens ? tokenColumns(inp) : null;
  const agg = aggColumns(inp);
  for (const fmt of inp.formats) {
    if (tok) put(partName('tokens', inp.part, fmt), fmt === 'arrow' ? arrowFile(tok) : parquetFile(tok));
    put(partName('prompts', inp.part, fmt), fmt === 'arrow' ? arrowFile(agg) : parquetFile(agg));
  }
  put(partName('meta', inp.part, 'jsonl'), toJsonl(inp.metas));
  const entry: ProgressEntry = {
    part: inp.part,
    ids: inp.metas.map((m) => m.id),
    token_rows: tok ? tok.length : 0,
    agg_rows: agg.length,
    files,
    time: new Date().toISOString(),
  };
  appendJsonl(join(dir, FILES.progress), [entry]);
  return entry;
}

// ---------------------------------------------------------------------------------------------------
// Readers

export function readRunPrompts(dir: string): PromptRecord[] {
  const file = join(dir, FILES.prompts);
  if (!existsSync(file)) throw new MoteError('E_INPUT', `${dir}: ${FILES.prompts} is missing; the trace folder is incomplete`, { file });
  return readJsonl<PromptRecord>(file, { what: 'trace prompt set' });
}

export function readMetas(dir: string, parts: ProgressEntry[]): PromptMeta[] {
  const out: PromptMeta[] = [];
  for (const p of parts) {
    const f = p.files.find((x) => x.startsWith('meta-'));
    if (!f) continue;
    out.push(...readJsonl<PromptMeta>(join(dir, FILES.traces, f), { what: 'trace meta file' }));
  }
  return out.sort((a, b) => a.index - b.index);
}
