// Every writing command of the CLI (generate, ftri, eval, run; demo in demo-kill.test.ts) SIGKILLed at seeded
// random points and rerun: its outputs are byte-identical to an uninterrupted run's, with no duplicate and
// no missing record. Two runs on one --out: the second fails at once with E_LOCKED naming the first.
// Spawns the built CLI (apps/cli/dist/bin.js: run `pnpm build` first).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript helper shared with bench/kill-resume.mjs
import { BIN, ORG, countLines, differingFiles, listFiles, mote, runWithKills } from './kill-resume.mjs';

const KILLS = 3;
let dir = '';

/** Small inputs on the organism (a run takes seconds), or with `long` the whole prompt sets (minutes). */
export function writeInputs(d: string, long = false): void {
  const lines = (f: string) => readFileSync(join(ORG, 'prompts', f), 'utf8').trim().split('\n');
  const pick = (ls: string[], cat: string, n: number, not = false) => ls.filter((l) => l.includes(`"category": "${cat}"`) !== not).slice(0, long ? undefined : n);
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

const model = ['--model', join(ORG, 'model')];
/** Each command: its arguments for an output path, what to count as progress, and the files to compare. */
export const COMMANDS = {
  generate: {
    args: (d: string, out: string) => ['generate', ...model, '--prompts', join(d, 'suite.jsonl'), '--out', out, '--chat', '--max-new-tokens', '24', '--batch-size', '2', '--threads', '1'],
    progress: (out: string) => countLines(out),
    total: 12,
    files: (_out: string) => [] as string[], // the output is one file, compared whole
    records: (out: string) => [out],
  },
  ftri: {
    args: (d: string, out: string) => ['ftri', ...model, '--prompts', join(d, 'ftri.jsonl'), '--generate', '24', '--label', 'refusal', '--permutations', '99', '--bootstrap', '10', '--maps', '1', '--batch-size', '2', '--threads', '1', '--out', out],
    progress: (out: string) => countLines(join(out, 'progress.jsonl')),
    total: 6,
    // everything but what records times (manifest.json, progress.jsonl, ranking.meta.json, mote-run.json, report.html)
    files: (out: string) => listFiles(out).filter((f: string) => !/^(manifest\.json|progress\.jsonl|ranking\.meta\.json|mote-run\.json|report\.html)$/.test(f)),
    records: (out: string) => [join(out, 'labels.jsonl')],
  },
  eval: {
    args: (d: string, out: string) => ['eval', ...model, '--suite', join(d, 'suite.jsonl'), '--policy', join(d, 'policy.json'), '--judges', 'organism', '--max-new-tokens', '24', '--batch-size', '2', '--threads', '1', '--out', out],
    progress: (out: string) => countLines(join(out, 'responses.jsonl')),
    total: 24,
    files: (_out: string) => ['responses.jsonl', 'summary.json'],
    records: (out: string) => [join(out, 'responses.jsonl')],
  },
  run: {
    args: (d: string, out: string) => ['run', join(d, 'exp.json'), '--threads', '1', '--out', out],
    progress: (out: string) => countLines(join(out, 'ftri', 'progress.jsonl')) + countLines(join(out, 'eval', 'responses.jsonl')),
    total: 3 + 12 + 4 + 4 + 4 + 4 + 4 + 4 + 4,
    files: (out: string) => listFiles(out).filter((f: string) => /^(eval\/(responses\.jsonl|summary\.json)|ftri\/(ranking\.(json|csv)|labels\.jsonl|traces\/.*)|policies\/.*)$/.test(f)),
    records: (out: string) => [join(out, 'eval', 'responses.jsonl'), join(out, 'ftri', 'labels.jsonl')],
  },
};

/** results.json of an experiment without its timings (wall times differ between any two runs). */
export const resultsSansTimings = (out: string) => {
  const { timings: _t, ...rest } = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
  return rest;
};

/** Every record of a JSONL output once: no duplicate (by policy and id), same set as the reference. */
export function recordKeys(file: string): string[] {
  return readFileSync(file, 'utf8').trim().split('\n').map((l) => { const r = JSON.parse(l); return `${r.policy ?? ''}/${r.id}`; });
}

beforeAll(() => {
  expect(existsSync(BIN), 'build the CLI first: pnpm build').toBe(true);
  dir = mkdtempSync(join(tmpdir(), 'mote-kill-'));
  writeInputs(dir);
  mkdirSync(join(dir, 'long'));
  writeInputs(join(dir, 'long'), true);
});

describe('kill and resume, every writing command', () => {
  for (const [name, c] of Object.entries(COMMANDS)) {
    it(`${name}: ${KILLS} seeded SIGKILLs, then byte-identical outputs with no duplicate or missing record`, async () => {
      const ref = join(dir, `${name}-ref${name === 'generate' ? '.jsonl' : ''}`), out = join(dir, `${name}-out${name === 'generate' ? '.jsonl' : ''}`);
      const r0 = await mote(c.args(dir, ref));
      expect(r0.code, r0.stderr).toBe(0);
      const check = async () => {
        const diff = name === 'generate' ? (readFileSync(ref).equals(readFileSync(out)) ? [] : [out]) : differingFiles(ref, out, c.files(ref));
        if (name !== 'generate') expect(c.files(ref).length).toBeGreaterThan(1);
        expect(diff, `${name}: files differ after resume`).toEqual([]);
        if (name === 'run') expect(resultsSansTimings(out)).toEqual(resultsSansTimings(ref));
        for (const [i, f] of c.records(out).entries()) {
          const keys = recordKeys(f);
          expect(new Set(keys).size).toBe(keys.length);
          expect([...keys].sort()).toEqual(recordKeys(c.records(ref)[i]).sort());
        }
      };
      const res = await runWithKills(c.args(dir, out), {
        kills: KILLS, seed: name.length * 7919, total: c.total, progress: () => c.progress(out), check,
        reset: () => {
          rmSync(out, { recursive: true, force: true });
          rmSync(`${out}.mote-run.json`, { force: true });
        },
      });
      expect(res.kills).toBeGreaterThanOrEqual(KILLS);
      expect(res.checks).toBeGreaterThanOrEqual(1);
      console.log(`${name}: ${res.kills} kills at ${JSON.stringify(res.log)}; ${res.checks} byte-identical finishes`);
    }, 900_000);
  }
});

describe('two runs on one --out', () => {
  for (const [name, c] of Object.entries(COMMANDS)) {
    it(`${name}: the second fails at once with E_LOCKED naming the first`, async () => {
      // the first run works on the whole prompt sets, so it is surely still running when the second starts
      const long = join(dir, 'long');
      const out = join(dir, `${name}-twice${name === 'generate' ? '.jsonl' : ''}`);
      const lock = name === 'generate' ? `${out}.lock` : join(out, '.lock');
      let first: import('node:child_process').ChildProcess | null = null;
      const firstDone = mote(c.args(long, out), { onStart: (ch: import('node:child_process').ChildProcess) => (first = ch) });
      const t0 = Date.now();
      while (!existsSync(lock) && Date.now() - t0 < 120_000) await new Promise((r) => setTimeout(r, 20));
      expect(existsSync(lock)).toBe(true);
      const second = await mote(c.args(long, out));
      const firstPid = (first as unknown as { pid: number }).pid;
      try {
        process.kill(-firstPid, 'SIGKILL');
      } catch {
        /* it finished first */
      }
      await firstDone;
      expect(second.code).toBe(2);
      expect(second.stderr).toMatch(new RegExp(`\\[E_LOCKED\\] .*another mote process \\(pid ${firstPid} on `));
    }, 300_000);
  }
});

