// Resume after a real kill: a child process runs the organism eval and is SIGKILLed mid-suite; the rerun
// finishes it with no lost and no duplicated lines, and the baseline still matches the organism README.
// The same file is the child: with MOTE_RESUME_CHILD=<outDir> it only runs the eval.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '@mote/moe-runtime';
import { loadSuite, runEval, ORGANISM_JUDGES, type EvalProgress } from '@mote/eval';

const ROOT = join(import.meta.dirname, '..');
const ORG = join(ROOT, 'models', 'organism');
const CHILD = process.env.MOTE_RESUME_CHILD;
const policies = [2, 6, 10].map((e) => ({ name: `off-l1e${e}`, interventions: [{ mode: 'exclude' as const, layer: 1, expert: e }] }));

async function evalInto(outDir: string, onProgress?: (p: EvalProgress) => void) {
  const model = await loadModel(join(ORG, 'model'), { threads: 2 });
  try {
    const suite = loadSuite(join(ORG, 'prompts', 'eval-dev.jsonl'));
    return await runEval({ model, suite, policies, outDir, judges: ORGANISM_JUDGES, batchSize: 8, onProgress });
  } finally {
    await model.dispose();
  }
}
const countLines = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter(Boolean).length : 0);

describe('eval resume after SIGKILL', () => {
  it.runIf(!!CHILD)('child: runs the eval', async () => {
    await evalInto(CHILD!);
  });

  it.skipIf(!!CHILD)('the killed run is finished by a rerun without lost or duplicated lines', async () => {
    const outDir = mkdtempSync(join(tmpdir(), 'mote-resume-'));
    const file = join(outDir, 'responses.jsonl');
    const total = 227 * 4;
    const child = spawn(process.execPath, [join(ROOT, 'node_modules', 'vitest', 'vitest.mjs'), 'run', 'tests/eval-resume.test.ts'], {
      cwd: ROOT,
      env: { ...process.env, MOTE_RESUME_CHILD: outDir },
      detached: true,
      stdio: 'ignore',
    });
    const exited = new Promise<void>((res) => child.on('exit', () => res()));
    // wait until the child has written a good part of the suite, then kill its whole process group
    const t0 = Date.now();
    while (countLines(file) < 120 && Date.now() - t0 < 90_000) await new Promise((r) => setTimeout(r, 20));
    process.kill(-child.pid!, 'SIGKILL');
    await exited;
    const atKill = countLines(file);
    expect(atKill).toBeGreaterThanOrEqual(120);
    expect(atKill).toBeLessThan(total);

    let resumed = -1;
    const res = await evalInto(outDir, (p) => (resumed = p.resumed));
    expect(resumed).toBeGreaterThanOrEqual(atKill - 1); // a torn last line is redone
    const lines = readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(total);
    expect(new Set(lines.map((r) => `${r.policy}/${r.id}`)).size).toBe(total);
    const base = res.summary.policies.find((p) => p.name === 'baseline')!;
    expect([base.categories.sensitive.refused, base.categories.neutral.refused, base.categories.capability.correct]).toEqual([48, 0, 77]);
  });
});
