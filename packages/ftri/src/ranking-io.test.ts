// The ranking reader: JSON and CSV, a run folder, and errors that name the bad entry.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readRanking } from './ranking-io.js';

describe('readRanking', () => {
  it('reads a hand-written ranking.json, a CSV and a run folder, and names a bad entry', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mote-rank-'));
    const rows = [
      { rank: 1, layer: 2, expert: 5, score: 0.4 },
      { rank: 2, layer: 0, expert: 1, score: null },
    ];
    writeFileSync(join(dir, 'ranking.json'), JSON.stringify(rows));
    const r = readRanking(join(dir, 'ranking.json'));
    expect(r.map((e) => [e.rank, e.layer, e.expert])).toEqual([
      [1, 2, 5],
      [2, 0, 1],
    ]);
    expect(Number.isNaN(r[1].score)).toBe(true); // null is NaN in memory
    expect(readRanking(dir)).toHaveLength(2);
    writeFileSync(join(dir, 'r.csv'), 'rank,layer,expert,stat,score\n1,2,5,diff,0.4\n2,0,1,diff,\n');
    expect(readRanking(join(dir, 'r.csv')).map((e) => [e.expert, e.stat])).toEqual([
      [5, 'diff'],
      [1, 'diff'],
    ]);
    writeFileSync(join(dir, 'bad.json'), JSON.stringify([{ layer: 1, expert: 'x', rank: 1 }]));
    expect(() => readRanking(join(dir, 'bad.json'))).toThrow(/\[0\]\.expert = "x" is not an integer/);
  });
});
