// A damaged trace part written by runFtri (a Parquet or Arrow file cut short, a meta file missing lines): reading
// the folder is E_IO naming the file and the fix; rerunning the same runFtri redoes only that part, and the
// result equals an undamaged run's.
import { mkdtempSync, readFileSync, truncateSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parquetMetadata } from 'hyparquet';
import { isMoteError } from '@mote/tensor-core';
import { createFakeModel } from './fake-model.js';
import { runFtri } from './run.js';
import { rankTraces } from './rank.js';
import { readRanking } from './ranking-io.js';
import type { PromptRecord } from './prompts.js';
import { readProgress } from './store.js';
import { readActivations } from './trace-read.js';
import { traceFileProblem } from './trace-files.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'ftri-damage-'));
const prompts: PromptRecord[] = Array.from({ length: 24 }, (_, i) => ({
  id: `q${String(i).padStart(2, '0')}`,
  prompt: i % 2 ? `Tell me the story of the river number ${i}` : `Tell me the secret story of the river number ${i}`,
  group: i % 2 ? 'neutral' : 'sensitive',
}));
const base = { prompts, batchSize: 8, permutations: 99, bootstrap: 0, maps: 0, report: false };

/** path of the file of progress entry `part` in run `out` whose name starts with `prefix` and ends with `ext` */
const partFile = (out: string, part: { files: string[] }, prefix: string, ext = ''): string =>
  join(out, 'traces', part.files.find((f) => f.startsWith(prefix) && f.endsWith(ext))!);

/** readActivations' error on the folder, or null when it reads */
const readError = (dir: string): Error | null => {
  try {
    readActivations(dir);
    return null;
  } catch (e) {
    return e as Error;
  }
};

describe('a truncated or damaged trace file', () => {
  it('the check finds what a cut leaves (the written files pass it, with the rows the log holds)', async () => {
    const out = tmp();
    await runFtri({ ...base, model: createFakeModel(), outDir: out });
    const [p] = readProgress(out);
    const parquet = partFile(out, p, 'prompts-', '.parquet');
    const bytes = readFileSync(parquet);
    // the log's row count is the footer's, as another Parquet reader sees it
    expect(Number(parquetMetadata(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer).num_rows)).toBe(
      p.agg_rows,
    );
    expect(traceFileProblem(parquet, p.agg_rows)).toBeNull();
    expect(traceFileProblem(parquet, p.agg_rows + 1)).toMatch(/holds \d+ rows, the progress log \d+/);
    for (const keep of [bytes.length - 1, bytes.length - 8, Math.floor(bytes.length / 2), 3]) {
      writeFileSync(parquet, bytes.subarray(0, keep));
      expect(traceFileProblem(parquet, p.agg_rows), `cut to ${keep} bytes`).not.toBeNull();
    }
    writeFileSync(parquet, bytes);
    expect(readError(out)).toBeNull();
  });

  it('reading the folder names the file and the fix; the same run again redoes that part only', async () => {
    const ref = tmp(),
      out = tmp();
    await runFtri({ ...base, model: createFakeModel(), outDir: ref });
    await runFtri({ ...base, model: createFakeModel(), outDir: out });
    const parts = readProgress(out);
    expect(parts).toHaveLength(3);
    const file = partFile(out, parts[1], 'tokens-', '.parquet');
    truncateSync(file, Math.floor(statSync(file).size / 2));

    const e = readError(out);
    expect(e && isMoteError(e, 'E_IO')).toBe(true);
    expect(e!.message).toContain(file);
    expect(e!.message).toMatch(/truncated or damaged/);
    expect(e!.message).toMatch(/fix: rerun the same `mote ftri` command/);
    await expect(rankTraces({ tracesDir: out, outDir: tmp(), contrast: 'sensitive:neutral', maps: 0 })).rejects.toThrow(file);

    const model = createFakeModel();
    await runFtri({ ...base, model, outDir: out });
    expect(model.calls.forward).toBe(1); // the damaged batch of 8, not the other two
    expect(readError(out)).toBeNull();
    expect(
      readProgress(out)
        .flatMap((p) => p.ids)
        .sort(),
    ).toEqual(prompts.map((p) => p.id).sort());
    expect(readFileSync(file)).toEqual(readFileSync(join(ref, 'traces', file.split('/').pop()!)));
    expect(readRanking(out).map((r) => [r.layer, r.expert, r.score])).toEqual(readRanking(ref).map((r) => [r.layer, r.expert, r.score]));
  });

  it('an Arrow file cut short or a meta file missing a line is found the same way', async () => {
    const out = tmp();
    await runFtri({ ...base, model: createFakeModel(), outDir: out });
    const [p] = readProgress(out);
    const arrowFile = partFile(out, p, 'prompts-', '.arrow');
    const arrow = readFileSync(arrowFile);
    writeFileSync(arrowFile, arrow.subarray(0, arrow.length - 3));
    expect(readError(out)?.message).toContain(arrowFile);
    writeFileSync(arrowFile, arrow);

    const metaFile = partFile(out, p, 'meta-');
    const meta = readFileSync(metaFile, 'utf8');
    writeFileSync(metaFile, meta.split('\n').slice(1).join('\n'));
    const e = readError(out);
    expect(e?.message).toContain(metaFile);
    expect(e?.message).toMatch(/holds 7 lines for 8 prompts/);
  });
});
