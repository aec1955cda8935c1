// Ranking files: ranking.json (array sorted by rank), ranking.csv and ranking.parquet with the same
// columns, and readRanking() for JSON and CSV. NaN is written as null (JSON), empty (CSV) or null (Parquet).

import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { MoteError } from '@mote/tensor-core';
import type { RankingEntry } from './contrast-types.js';
import { writeAtomic } from '@mote/io';
import { VERSION } from './version.js';

/** Column order of every ranking file. */
export const RANKING_COLUMNS: readonly (keyof RankingEntry)[] = [
  'rank',
  'layer',
  'expert',
  'stat',
  'score',
  'rate_a',
  'rate_b',
  'diff',
  'ci_low',
  'ci_high',
  'p',
  'q',
  'stability',
  'rank_low',
  'rank_high',
  'rr',
  'log_odds',
  'gate_a',
  'gate_b',
  'gate_diff',
  'count_a',
  'count_b',
  'weight_a',
  'weight_b',
  'z',
  'p_norm',
  'q_norm',
  'p_fisher',
  'q_fisher',
  'n_a',
  'n_b',
];
/**
 * What a consumer of a ranking (policy builders, experiments) needs from an entry: where it is and its rank;
 * every other RankingEntry column is optional, so hand-written rankings work too.
 */
export type RankedExpert = Pick<RankingEntry, 'layer' | 'expert' | 'rank'> & Partial<Omit<RankingEntry, 'layer' | 'expert' | 'rank'>>;

const INT_COLS = new Set<keyof RankingEntry>(['rank', 'layer', 'expert', 'n_a', 'n_b']);

const fin = (v: unknown): unknown => (typeof v === 'number' && !Number.isFinite(v) ? null : v);

export function writeRanking(dir: string, entries: RankingEntry[]): { json: string; csv: string; parquet: string } {
  const json = join(dir, 'ranking.json'),
    csv = join(dir, 'ranking.csv'),
    parquet = join(dir, 'ranking.parquet');
  const rows = entries.map((e) => Object.fromEntries(RANKING_COLUMNS.map((c) => [c, fin(e[c])])));
  writeAtomic(json, JSON.stringify(rows, null, 1) + '\n');
  const cell = (v: unknown): string =>
    v === null || v === undefined ? '' : typeof v === 'string' && /[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : String(v);
  writeAtomic(csv, [RANKING_COLUMNS.join(','), ...rows.map((r) => RANKING_COLUMNS.map((c) => cell(r[c])).join(','))].join('\n') + '\n');
  const columnData = RANKING_COLUMNS.map((c) => {
    if (INT_COLS.has(c)) return { name: c, data: Int32Array.from(entries, (e) => e[c] as number), type: 'INT32' as const, nullable: false };
    if (c === 'stat') return { name: c, data: entries.map((e) => e.stat), type: 'STRING' as const, nullable: false };
    return { name: c, data: entries.map((e) => fin(e[c]) as number | null), type: 'DOUBLE' as const };
  });
  writeAtomic(parquet, new Uint8Array(parquetWriteBuffer({ columnData: columnData as never, createdBy: `@mote/ftri ${VERSION}` })));
  return { json, csv, parquet };
}

/**
 * Read a ranking written by ftri: ranking.json, ranking.csv, or a run folder holding ranking.json.
 * @example
 *   const top10 = readRanking('runs/organism-refusal').slice(0, 10); // sorted by rank
 */
export function readRanking(file: string): RankingEntry[] {
  let f = file;
  if (existsSync(f) && statSync(f).isDirectory()) f = join(f, 'ranking.json');
  if (!existsSync(f))
    throw new MoteError('E_INPUT', `ranking file ${f} not found; pass ranking.json / ranking.csv or the run folder of \`mote ftri\``, {
      file: f,
    });
  const text = readFileSync(f, 'utf8');
  let rows: Record<string, unknown>[];
  if (f.endsWith('.csv')) {
    const lines = text.split(/\r?\n/).filter((l) => l.length);
    const head = splitCsv(lines[0] ?? '');
    rows = lines.slice(1).map((l) => {
      const v = splitCsv(l);
      return Object.fromEntries(head.map((h, i) => [h, h === 'stat' ? v[i] : v[i] === '' || v[i] === undefined ? null : Number(v[i])]));
    });
  } else if (f.endsWith('.json')) {
    try {
      rows = JSON.parse(text);
    } catch (e) {
      throw new MoteError('E_INPUT', `${f}: not valid JSON (${(e as Error).message})`, { file: f });
    }
    if (!Array.isArray(rows)) throw new MoteError('E_INPUT', `${f}: expected a JSON array of ranking entries`, { file: f });
  } else {
    throw new MoteError(
      'E_INPUT',
      `readRanking reads .json or .csv, got ${f}; read ranking.parquet with a Parquet reader (pandas, polars, hyparquet)`,
      { file: f },
    );
  }
  return rows.map((r, i) => {
    for (const k of ['layer', 'expert', 'rank'] as const)
      if (typeof r[k] !== 'number' || !Number.isInteger(r[k]))
        throw new MoteError(
          'E_INPUT',
          `${f}: entry [${i}].${k} = ${JSON.stringify(r[k])} is not an integer; fix: pass the ranking.json / ranking.csv written by \`mote ftri\``,
          { file: f, field: `[${i}].${k}` },
        );
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(r)) out[k] = v === null ? NaN : v;
    return out as unknown as RankingEntry;
  });
}

function splitCsv(line: string): string[] {
  const out: string[] = [];
  let cur = '',
    q = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (q) {
      if (ch === '"' && line[i + 1] === '"') (cur += '"'), i++;
      else if (ch === '"') q = false;
      else cur += ch;
    } else if (ch === '"') q = true;
    else if (ch === ',') out.push(cur), (cur = '');
    else cur += ch;
  }
  out.push(cur);
  return out;
}
