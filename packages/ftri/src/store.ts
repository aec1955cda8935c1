// The trace store: a run folder written in parts (Arrow IPC + Parquet per batch), a progress log that
// makes an interrupted run resumable without lost or duplicated records, the manifest, and the readers
// that rebuild prompt-level activations and per-prompt token rows from the parts.
// Shapes: R token rows, K top-k, E experts, L MoE layers, F = L*E, P prompts.

import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as arrow from 'apache-arrow';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { appendJsonl, openRunFolder, parseJsonl, readJsonl, readText, toJsonl, writeAtomic, type RunHandle } from '@mote/io';
import { MoteError } from '@mote/tensor-core';
import { readArrowFile } from './arrow-file.js';
import type { Activations } from './contrast.js';
import type { PromptRecord } from './prompts.js';
import { FLAG_ANSWER, FLAG_GENERATED, FLAG_THINK, type BatchAggregate, type TokenRows } from './trace.js';
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
 * missing are dropped from the log, and trace files of no logged part are deleted.
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

export interface PartInput {
  part: number;
  prompts: readonly PromptRecord[]; // the full prompt set (index -> record)
  agg: BatchAggregate;
  rows: TokenRows;
  metas: PromptMeta[];
  layers: number[];
  expertCount: number;
  topK: number;
  formats: TraceFormat[];
  recordTokens: boolean;
  tokenText: (id: number) => string;
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

// A column set shared by the Arrow and Parquet writers.
type Col =
  | { name: string; kind: 'i32'; data: Int32Array }
  | { name: string; kind: 'f32'; data: Float32Array }
  | { name: string; kind: 'bool'; data: Uint8Array }
  | { name: string; kind: 'str'; data: string[] }
  | { name: string; kind: 'list_i32'; data: Int32Array; width: number }
  | { name: string; kind: 'list_f32'; data: Float32Array; width: number };
interface Cols {
  length: number;
  cols: Col[];
}

function tokenColumns(inp: PartInput): Cols {
  const r = inp.rows,
    n = r.n;
  const ids = new Array<string>(n),
    text = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    ids[i] = inp.prompts[r.prompt[i]].id;
    text[i] = inp.tokenText(r.tokenId[i]);
  }
  const flag = (bit: number): Uint8Array => r.flags.map((f) => (f & bit ? 1 : 0));
  const cols: Col[] = [
    { name: 'prompt_id', kind: 'str', data: ids },
    { name: 'prompt_index', kind: 'i32', data: r.prompt },
    { name: 'pos', kind: 'i32', data: r.pos },
    { name: 'token_id', kind: 'i32', data: r.tokenId },
    { name: 'token', kind: 'str', data: text },
    { name: 'generated', kind: 'bool', data: flag(FLAG_GENERATED) },
    { name: 'in_think', kind: 'bool', data: flag(FLAG_THINK) },
    { name: 'in_answer', kind: 'bool', data: flag(FLAG_ANSWER) },
    { name: 'layer', kind: 'i32', data: r.layer },
    { name: 'topk_ids', kind: 'list_i32', data: r.topkIds, width: inp.topK },
    { name: 'topk_weights', kind: 'list_f32', data: r.topkWeights, width: inp.topK },
  ];
  if (r.routerProbs) cols.push({ name: 'router_probs', kind: 'list_f32', data: r.routerProbs, width: inp.expertCount });
  return { length: n, cols };
}

/** Sparse prompt x layer x expert aggregates: one row per (prompt, layer, expert) selected at least once. */
function aggColumns(inp: PartInput): Cols {
  const { agg, layers, expertCount: E } = inp;
  const F = layers.length * E;
  const pid: string[] = [],
    pidx: number[] = [],
    lay: number[] = [],
    exp: number[] = [],
    cnt: number[] = [],
    w: number[] = [],
    nt: number[] = [];
  agg.promptIndex.forEach((gi, s) => {
    for (let f = 0; f < F; f++) {
      const c = agg.counts[s * F + f];
      if (c === 0) continue;
      pid.push(inp.prompts[gi].id);
      pidx.push(gi);
      lay.push(layers[Math.floor(f / E)]);
      exp.push(f % E);
      cnt.push(c);
      w.push(agg.weights[s * F + f]);
      nt.push(agg.tokens[s]);
    }
  });
  return {
    length: pid.length,
    cols: [
      { name: 'prompt_id', kind: 'str', data: pid },
      { name: 'prompt_index', kind: 'i32', data: Int32Array.from(pidx) },
      { name: 'layer', kind: 'i32', data: Int32Array.from(lay) },
      { name: 'expert', kind: 'i32', data: Int32Array.from(exp) },
      { name: 'count', kind: 'i32', data: Int32Array.from(cnt) },
      { name: 'weight', kind: 'f32', data: Float32Array.from(w) },
      { name: 'n_tokens', kind: 'i32', data: Int32Array.from(nt) },
    ],
  };
}

function arrowFile(c: Cols): Uint8Array {
  const vecs: Record<string, arrow.Vector> = {};
  for (const col of c.cols) {
    switch (col.kind) {
      case 'i32':
        vecs[col.name] = arrow.makeVector(col.data);
        break;
      case 'f32':
        vecs[col.name] = arrow.makeVector(col.data);
        break;
      case 'bool':
        vecs[col.name] = arrow.vectorFromArray(
          Array.from(col.data, (v) => v === 1),
          new arrow.Bool(),
        );
        break;
      case 'str':
        vecs[col.name] = arrow.vectorFromArray(col.data, new arrow.Utf8());
        break;
      case 'list_i32':
      case 'list_f32': {
        const item = col.kind === 'list_i32' ? new arrow.Int32() : new arrow.Float32();
        const type = new arrow.List(new arrow.Field('item', item, false));
        const offsets = Int32Array.from({ length: c.length + 1 }, (_, i) => i * col.width);
        const child = arrow.makeData({ type: item, length: col.data.length, data: col.data } as never);
        vecs[col.name] = arrow.makeVector(arrow.makeData({ type, length: c.length, nullCount: 0, valueOffsets: offsets, child } as never));
        break;
      }
    }
  }
  return arrow.tableToIPC(new arrow.Table(vecs), 'file');
}

function parquetFile(c: Cols): Uint8Array {
  const columnData: { name: string; data: unknown[] | Int32Array | Float32Array }[] = [];
  const schema: Record<string, unknown>[] = [{ name: 'root', num_children: c.cols.length }];
  for (const col of c.cols) {
    switch (col.kind) {
      case 'i32':
        columnData.push({ name: col.name, data: col.data });
        schema.push({ name: col.name, type: 'INT32', repetition_type: 'REQUIRED' });
        break;
      case 'f32':
        columnData.push({ name: col.name, data: col.data });
        schema.push({ name: col.name, type: 'FLOAT', repetition_type: 'REQUIRED' });
        break;
      case 'bool':
        columnData.push({ name: col.name, data: Array.from(col.data, (v) => v === 1) });
        schema.push({ name: col.name, type: 'BOOLEAN', repetition_type: 'REQUIRED' });
        break;
      case 'str':
        columnData.push({ name: col.name, data: col.data });
        schema.push({ name: col.name, type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' });
        break;
      case 'list_i32':
      case 'list_f32': {
        const rows: number[][] = new Array(c.length);
        for (let i = 0; i < c.length; i++) rows[i] = Array.from(col.data.subarray(i * col.width, (i + 1) * col.width));
        columnData.push({ name: col.name, data: rows });
        schema.push(
          { name: col.name, repetition_type: 'REQUIRED', converted_type: 'LIST', num_children: 1 },
          { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
          { name: 'element', type: col.kind === 'list_i32' ? 'INT32' : 'FLOAT', repetition_type: 'REQUIRED' },
        );
        break;
      }
    }
  }
  const buf = parquetWriteBuffer({ columnData: columnData as never, schema: schema as never, createdBy: `@mote/ftri ${VERSION}` });
  return new Uint8Array(buf);
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

/**
 * Dense prompt-level activations of every traced prompt (prompt-set order), from the Arrow aggregate parts.
 * Memory: 8 bytes x traced prompts x MoE layers x experts.
 */
export function readActivations(dir: string): {
  activations: Activations;
  metas: PromptMeta[];
  manifest: Manifest;
  parts: ProgressEntry[];
} {
  try {
    return readActivationsOf(dir);
  } catch (e) {
    if (e instanceof MoteError) throw e;
    // a truncated or corrupt file of the folder (torn copy, full disk): never a raw stack trace
    throw new MoteError(
      'E_INPUT',
      `the trace folder ${dir} is truncated or corrupt (${(e as Error).message}); fix: rerun \`mote ftri\` into a new --out folder`,
      { file: dir },
    );
  }
}

function readActivationsOf(dir: string): ReturnType<typeof readActivations> {
  const manifest = readManifest(dir);
  const parts = readProgress(dir, false);
  const metas = readMetas(dir, parts);
  const layers = manifest.model.moe_layers,
    E = manifest.model.expert_count,
    F = layers.length * E;
  const layerPos = new Map(layers.map((l, i) => [l, i]));
  const rowOf = new Map<string, number>();
  metas.forEach((m, r) => rowOf.set(m.id, r));
  const P = metas.length;
  const counts = new Float32Array(P * F),
    weights = new Float32Array(P * F);
  const tokens = Float64Array.from(metas, (m) => m.n_tokens);
  for (const p of parts) {
    const f = p.files.find((x) => x.startsWith('prompts-') && x.endsWith('.arrow'));
    if (!f)
      throw new MoteError(
        'E_INPUT',
        `${dir}: part ${p.part} has no Arrow aggregate file; rank needs traces written with the arrow format`,
        { file: join(dir, FILES.traces) },
      );
    const t = readArrowFile(readFileSync(join(dir, FILES.traces, f)), join(dir, FILES.traces, f));
    const pid = t.getChild('prompt_id')!,
      lay = t.getChild('layer')!.toArray() as Int32Array,
      ex = t.getChild('expert')!.toArray() as Int32Array;
    const c = t.getChild('count')!.toArray() as Int32Array,
      w = t.getChild('weight')!.toArray() as Float32Array;
    for (let i = 0; i < t.numRows; i++) {
      const r = rowOf.get(pid.get(i) as string);
      const li = layerPos.get(lay[i]);
      if (r === undefined || li === undefined) continue;
      counts[r * F + li * E + ex[i]] = c[i];
      weights[r * F + li * E + ex[i]] = w[i];
    }
  }
  return { activations: { promptIds: metas.map((m) => m.id), layers, expertCount: E, counts, weights, tokens }, metas, manifest, parts };
}

/** Token rows of the given prompts (from the Arrow token parts that hold them), sorted by pos then layer. */
export function readPromptTokens(
  dir: string,
  parts: ProgressEntry[],
  ids: string[],
): Map<string, Array<{ pos: number; token: string; layer: number; flags: number; ids: number[]; weights: number[] }>> {
  const want = new Set(ids);
  const out = new Map<string, Array<{ pos: number; token: string; layer: number; flags: number; ids: number[]; weights: number[] }>>();
  for (const id of ids) out.set(id, []);
  for (const p of parts) {
    if (!p.ids.some((id) => want.has(id))) continue;
    const f = p.files.find((x) => x.startsWith('tokens-') && x.endsWith('.arrow'));
    if (!f) continue;
    const t = readArrowFile(readFileSync(join(dir, FILES.traces, f)), join(dir, FILES.traces, f));
    const pid = t.getChild('prompt_id')!,
      pos = t.getChild('pos')!.toArray() as Int32Array,
      lay = t.getChild('layer')!.toArray() as Int32Array;
    const tok = t.getChild('token')!,
      gen = t.getChild('generated')!,
      th = t.getChild('in_think')!,
      an = t.getChild('in_answer')!;
    const ki = t.getChild('topk_ids')!,
      kw = t.getChild('topk_weights')!;
    for (let i = 0; i < t.numRows; i++) {
      const id = pid.get(i) as string;
      if (!want.has(id)) continue;
      out.get(id)!.push({
        pos: pos[i],
        token: tok.get(i) as string,
        layer: lay[i],
        flags: (gen.get(i) ? FLAG_GENERATED : 0) | (th.get(i) ? FLAG_THINK : 0) | (an.get(i) ? FLAG_ANSWER : 0),
        ids: Array.from(ki.get(i)!.toArray() as Int32Array),
        weights: Array.from(kw.get(i)!.toArray() as Float32Array),
      });
    }
  }
  for (const rows of out.values()) rows.sort((a, b) => a.pos - b.pos || a.layer - b.layer);
  return out;
}
