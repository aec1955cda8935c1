// Every writing command of the CLI (generate, ftri, eval, run; demo in demo-kill.test.ts) SIGKILLed at seeded
// random points and rerun: its outputs are byte-identical to an uninterrupted run's, with no duplicate and
// no missing record. Two runs on one --out: the second fails at once with E_LOCKED naming the first.
// Spawns the built CLI (apps/cli/dist/bin.js: run `pnpm build` first). bench/kill-resume.mjs does 20+ kills.
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript helper shared with bench/kill-resume.mjs
import { BIN, COMMANDS, killTrial, secondRunRefused, writeInputs } from './kill-resume.mjs';

const KILLS = 3;
let dir = '';

beforeAll(() => {
  expect(existsSync(BIN), 'build the CLI first: pnpm build').toBe(true);
  dir = mkdtempSync(join(tmpdir(), 'mote-kill-'));
  writeInputs(dir);
  writeInputs(join(dir, 'long'), true);
});

describe('kill and resume, every writing command', () => {
  for (const name of ['generate', 'ftri', 'eval', 'run']) {
    it(`${name}: ${KILLS} seeded SIGKILLs, then byte-identical outputs with no duplicate or missing record`, async () => {
      const res = await killTrial(name, dir, { kills: KILLS, seed: 7919 * name.length });
      expect(res.kills).toBeGreaterThanOrEqual(KILLS);
      expect(res.checks).toBeGreaterThanOrEqual(1);
      console.log(`${name}: ${res.kills} kills ${JSON.stringify(res.log)} of ${res.total} records; ${res.checks} byte-identical finishes`);
    }, 900_000);
  }
});

describe('two runs on one --out', () => {
  for (const name of ['generate', 'ftri', 'eval', 'run']) {
    it(`${name}: the second fails at once with E_LOCKED naming the first`, async () => {
      const out = join(dir, `${name}-twice${COMMANDS[name].file ? '.jsonl' : ''}`);
      const r = await secondRunRefused(name, dir, out);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`\\[E_LOCKED\\] .*another mote process \\(pid ${r.firstPid} on `));
    }, 300_000);
  }
});
