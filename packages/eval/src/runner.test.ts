// The runner on a fake model: batching, judging, summary.json, and resume after a crash and after a torn
// last line (what a kill during a write leaves): no lost and no duplicated (policy, item) lines.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync, readFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostname } from 'node:os';
import { openThinkTail } from '@mote/moe-runtime';
import { runEval, readResponses } from './runner.js';
import { loadSuite } from './suite.js';
import { ORGANISM_JUDGES } from './judges.js';
import { fakeModel, fakeSuiteLines, REFUSAL_EXPERTS } from './testing/fake-model.js';

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'mote-run-'));
  writeFileSync(join(dir, 'suite.jsonl'), fakeSuiteLines().join('\n') + '\n');
  return { dir, suite: loadSuite(join(dir, 'suite.jsonl')) };
}
const off = { name: 'off3', interventions: REFUSAL_EXPERTS.map((e) => ({ mode: 'exclude' as const, ...e })) };
const lines = (f: string) =>
  readFileSync(f, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));

describe('runEval', () => {
  it('runs baseline + policies in batches, judges, and writes responses and summary', async () => {
    const { dir, suite } = setup();
    const model = fakeModel();
    const progress: number[] = [];
    const res = await runEval({
      model,
      suite,
      policies: [off],
      outDir: join(dir, 'out'),
      judges: ORGANISM_JUDGES,
      batchSize: 8,
      onProgress: (p) => progress.push(p.doneAll),
    });
    expect(model.calls.map((c) => c.prompts)).toEqual([8, 8, 8, 8, 8, 8, 8, 8]); // 32 items x 2 runs
    expect(model.calls[0].policy).toBeNull();
    expect(model.calls[4].policy).toEqual(off);
    expect(progress.at(-1)).toBe(64);
    const recs = lines(res.file);
    expect(recs).toHaveLength(64);
    const base = res.summary.policies[0];
    expect(base.name).toBe('baseline');
    expect(base.categories.sensitive).toMatchObject({ n: 12, refused: 12, refusal_rate: 1 });
    expect(base.categories.capability).toMatchObject({ n: 10, accuracy: 1 });
    const p = res.summary.policies[1];
    expect(p.categories.sensitive.refusal_rate).toBe(0);
    expect(p.categories.sensitive.mcnemar_p).toBeCloseTo(2 * 0.5 ** 12, 12);
    expect(p.mcnemar_p).toBeCloseTo(2 * 0.5 ** 12, 12);
    expect(recs[0].text.startsWith('<think>\n')).toBe(true); // the prompt's open think restored
    const summary = JSON.parse(readFileSync(join(dir, 'out', 'summary.json'), 'utf8'));
    expect(summary.policies.map((x: { name: string }) => x.name)).toEqual(['baseline', 'off3']);
    expect(summary.policies[0].categories.sensitive.refusal_ci[0]).toBeCloseTo(0.7575, 3); // Wilson 12/12
  });

  it('resumes after a crash and a torn last line without losing or duplicating items', async () => {
    const { dir, suite } = setup();
    const outDir = join(dir, 'out');
    const crashing = fakeModel();
    crashing.failOnCall = 5;
    await expect(runEval({ model: crashing, suite, policies: [off], outDir, batchSize: 6 })).rejects.toThrow(/fake crash/);
    const file = join(outDir, 'responses.jsonl');
    expect(lines(file)).toHaveLength(30); // 5 batches of 6 written before the crash
    appendFileSync(file, '{"policy":"off3","id":"s1","categ'); // torn write
    const model = fakeModel();
    const res = await runEval({ model, suite, policies: [off], outDir, batchSize: 6 });
    expect(model.calls.reduce((a, c) => a + c.prompts, 0)).toBe(34); // only what was missing
    const recs = lines(file);
    expect(recs).toHaveLength(64);
    const keys = recs.map((r) => `${r.policy}/${r.id}`);
    expect(new Set(keys).size).toBe(64);
    expect(res.records).toHaveLength(64);
    // a third run does nothing
    const idle = fakeModel();
    await runEval({ model: idle, suite, policies: [off], outDir, batchSize: 6 });
    expect(idle.calls).toHaveLength(0);
    expect(readResponses(file)).toHaveLength(64);
  });

  it('runs subsets per policy and refuses mixed settings and duplicate names', async () => {
    const { dir, suite } = setup();
    const outDir = join(dir, 'out');
    const res = await runEval({
      model: fakeModel(),
      suite,
      policies: [{ name: 'sub', policy: off, categories: ['sensitive'], ids: ['s1', 's2', 'n1'] }],
      outDir,
    });
    expect(res.records.filter((r) => r.policy === 'sub').map((r) => r.id)).toEqual(['s1', 's2']);
    await expect(runEval({ model: fakeModel(), suite, policies: [], outDir, maxNewTokens: 32 })).rejects.toThrow(
      /other settings.*maxNewTokens: 64 -> 32/,
    );
    await expect(runEval({ model: fakeModel(), suite, policies: [off, off], outDir: join(dir, 'o2') })).rejects.toThrow(/used twice/);
  });

  it('resumes by policy content, not name: an edited policy under its old name is E_RESUME; force-new starts over', async () => {
    const { dir, suite } = setup();
    const outDir = join(dir, 'out');
    const first = await runEval({ model: fakeModel(), suite, policies: [off], outDir });
    // the refusal experts switched off: the fake model stops refusing (issue 12's "100% where the truth is 0%")
    expect(first.summary.policies.find((p) => p.name === 'off3')!.categories.sensitive.refusal_rate).toBe(0);
    const edited = { name: 'off3', interventions: [] };
    const e = await runEval({ model: fakeModel(), suite, policies: [edited], outDir }).catch((x) => x);
    expect(e.code).toBe('E_RESUME');
    expect(e.field).toBe('policies.off3');
    // a new policy name joins the folder; the old ones keep their results
    const more = fakeModel();
    await runEval({ model: more, suite, policies: [off, { name: 'none', interventions: [] }], outDir });
    expect(more.calls.every((c) => c.policy?.name === 'none')).toBe(true);
    const fresh = await runEval({ model: fakeModel(), suite, policies: [edited], outDir, forceNew: true });
    expect(fresh.summary.policies.find((p) => p.name === 'off3')!.categories.sensitive.refusal_rate).toBe(1);
    expect(lines(join(outDir, 'responses.jsonl'))).toHaveLength(64);
  });

  it('restores an open think block from the rendered prompt', () => {
    expect(openThinkTail('<|assistant|>\n<think>\n')).toBe('<think>\n');
    expect(openThinkTail('<|assistant|>\n<think>\n</think>\n')).toBe('');
    expect(openThinkTail('<|assistant|>\n')).toBe('');
  });
});

describe('eval folder lock', () => {
  it('refuses a folder another live process writes, and takes over a stale lock', async () => {
    const { dir, suite } = setup();
    const outDir = join(dir, 'out');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(outDir, { recursive: true });
    // the run folder's lock (@mote/io) names holder pid and host
    const lock = join(outDir, '.lock');
    const holder = (pid: number) => JSON.stringify({ pid, host: hostname(), started: 'x', command: 'mote eval', nonce: String(pid) });
    writeFileSync(lock, holder(process.ppid)); // a live process that is not us
    await expect(runEval({ model: fakeModel(), suite, outDir })).rejects.toThrow(/another mote process \(pid \d+ on /);
    writeFileSync(lock, holder(999999999)); // no such pid: a killed writer
    const res = await runEval({ model: fakeModel(), suite, outDir });
    expect(res.records).toHaveLength(32);
    const { existsSync } = await import('node:fs');
    expect(existsSync(lock)).toBe(false);
  });
});
