// `mote demo` (the bundled experiment on small prompt subsets) SIGKILLed at 3 seeded random points: the rerun's
// outputs are byte-identical to an uninterrupted run's; a second demo on the same --out fails with E_LOCKED.
// Separate from run-folders.test.ts because it is the slowest (the bundled experiment's 200 random policies).
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript helper shared with bench/kill-resume.mjs
import { BIN, killTrial, secondRunRefused, writeInputs } from './kill-resume.mjs';

let dir = '';
beforeAll(() => {
  expect(existsSync(BIN), 'build the CLI first: pnpm build').toBe(true);
  dir = mkdtempSync(join(tmpdir(), 'mote-demo-kill-'));
  writeInputs(dir);
  writeInputs(join(dir, 'long'), true);
});

describe('mote demo', () => {
  it('3 seeded SIGKILLs, then byte-identical outputs with no duplicate or missing record', async () => {
    const res = await killTrial('demo', dir, { kills: 3, seed: 104729 });
    expect(res.kills).toBeGreaterThanOrEqual(3);
    console.log(`demo: ${res.kills} kills ${JSON.stringify(res.log)} of ${res.total} records; ${res.checks} byte-identical finishes`);
  }, 1_800_000);

  it('a second demo on the same --out fails at once with E_LOCKED', async () => {
    const r = await secondRunRefused('demo', dir, join(dir, 'demo-twice'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`\\[E_LOCKED\\] .*pid ${r.firstPid} on `));
  }, 300_000);
});
