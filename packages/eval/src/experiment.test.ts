// The experiment pipeline on the fake model with a given ranking (the fTRI stage is skipped because its
// output is present): policies, evals, analysis, report files, resume, and spec validation errors.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync, existsSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runExperiment, validateExperiment, loadExperiment, experimentWarnings } from './experiment.js';
import { fakeModel, fakeSuiteLines, REFUSAL_EXPERTS } from './testing/fake-model.js';

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'mote-exp-'));
  writeFileSync(join(dir, 'suite.jsonl'), fakeSuiteLines(30, 10, 10).join('\n') + '\n');
  writeFileSync(join(dir, 'ftri.jsonl'), '{"id":"f1","prompt":"x"}\n');
  const ranking = [...REFUSAL_EXPERTS, { layer: 0, expert: 3 }, { layer: 2, expert: 9 }].map((e, i) => ({
    ...e,
    rank: i + 1,
    score: 1 - i / 10,
  }));
  const out = join(dir, 'out');
  const spec = {
    name: 'fake',
    model: 'model',
    suite: 'suite.jsonl',
    judges: { '*': { refusal: 'organism', answer: { type: 'exact', requireReasoned: true } } },
    categories: { target: 'sensitive', control: 'neutral', capability: 'capability' },
    ftri: { prompts: 'ftri.jsonl' },
    ns: [1, 2, 3],
    random: { draws: 20, modes: ['exclude'], items: { sensitive: 'all', capability: 5 } },
    force: { ns: [1] },
    generation: { batchSize: 32 },
  };
  writeFileSync(join(dir, 'exp.json'), JSON.stringify(spec));
  return { dir, out, spec, ranking };
}

describe('runExperiment', () => {
  it('cuts refusals with the ranked experts, not with matched random ones, and writes the report', async () => {
    const { dir, out, ranking } = setup();
    const spec = loadExperiment(join(dir, 'exp.json'));
    expect(spec.suite).toBe(join(dir, 'suite.jsonl'));
    const model = fakeModel();
    const stages = new Set<string>();
    const warnings: string[] = [];
    const res = await runExperiment(spec, {
      outDir: out,
      model,
      ranking,
      onProgress: (p) => stages.add(p.stage),
      onWarning: (w) => warnings.push(w),
    });
    expect([...stages]).toEqual(['load', 'ftri', 'policies', 'eval', 'report']);
    const a = res.analysis;
    expect(a.baseline.target.rate).toBe(1);
    const ex = (n: number) => a.ranked.find((r) => r.mode === 'exclude' && r.n === n)!;
    expect(ex(3).target.rate).toBe(0);
    expect(ex(1).target.rate).toBeGreaterThan(ex(2).target.rate);
    expect(ex(3).random!.draws).toBe(20);
    expect(ex(3).random!.cut.mean).toBe(0); // random experts never carry refusal in the fake model
    expect(ex(3).random!.empiricalP).toBeCloseTo(1 / 21, 12);
    expect(ex(3).random!.capability!.items).toBe(5);
    expect(ex(3).capabilityDiff!.diff).toBe(0);
    expect(a.criteria.find((c) => c.mode === 'exclude')).toMatchObject({ status: 'MET', metAt: 2, untested: [] });
    // drop cuts refusals as much, but had no random draws: never MET without its baseline
    const drop = a.criteria.find((c) => c.mode === 'drop')!;
    expect(a.ranked.find((r) => r.mode === 'drop' && r.n === 3)!.relCut).toBe(1);
    expect(drop).toMatchObject({ status: 'NOT TESTED', metAt: null });
    expect(drop.text).toMatch(/^not tested: matched random baselines/);
    expect(warnings).toEqual([expect.stringMatching(/mode\(s\) drop have no random baselines/)]);
    expect(readFileSync(join(out, 'report.md'), 'utf8')).toMatch(/\*\*not tested\*\* — not tested: matched random/);
    expect(a.force[0].categories.neutral.refusal.rate).toBeGreaterThan(0);
    // 3 modes x N ... : 6 ranked + 1 force + 60 random policy files + index
    expect(readdirSync(join(out, 'policies'))).toHaveLength(6 + 1 + 60 + 1); // random.modes pinned to ["exclude"] here
    for (const f of [
      'report.md',
      'report.html',
      'results.json',
      'eval/responses.jsonl',
      'eval/summary.json',
      'plots/dose-response.svg',
      'plots/dose-response.png',
      'plots/random-exclude-n3.svg',
    ])
      expect(existsSync(join(out, f)), f).toBe(true);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html).toContain('<svg');
    expect(html).not.toMatch(/<script|https?:\/\/cdn/);
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    expect(md).toContain('| top3-exclude | 3 | 0.0% [0.0, 11.4]');
    // resume: nothing left to generate
    const again = fakeModel();
    await runExperiment(spec, { outDir: out, model: again, ranking, onWarning: () => {} });
    expect(again.calls).toHaveLength(0);
  });

  it('defaults: thresholds in the schema, random baselines for every mode; too few draws are said before the run', () => {
    const { dir, spec } = setup();
    const { random: _r, ...noRandom } = spec;
    const s = validateExperiment({ ...noRandom, modes: ['exclude', 'drop'] }, { baseDir: dir });
    expect(s.random.modes).toEqual(['exclude', 'drop']);
    expect(s.criteria).toEqual({ cut: 0.5, capabilityDrop: 0.05, alpha: 0.05, randomShare: 0.5 });
    expect(experimentWarnings(s)).toEqual([]);
    // 1/alpha - 1 = 19 draws are the fewest whose empirical p (>= 1/(draws + 1)) can reach alpha = 0.05
    expect(experimentWarnings(validateExperiment({ ...spec, random: { draws: 19 } }, { baseDir: dir }))).toEqual([]);
    const few = experimentWarnings(validateExperiment({ ...spec, random: { draws: 18 } }, { baseDir: dir }));
    expect(few).toEqual([expect.stringMatching(/random\.draws = 18: .* set random\.draws >= 19/)]);
    const strict = experimentWarnings(validateExperiment({ ...spec, random: { draws: 50 }, criteria: { alpha: 0.01 } }, { baseDir: dir }));
    expect(strict).toEqual([expect.stringMatching(/set random\.draws >= 99/)]);
  });

  it('a criterion whose random baseline was not run is NOT TESTED even when every other condition holds', async () => {
    const { dir, out, spec, ranking } = setup();
    const s = validateExperiment(
      {
        ...spec,
        ns: [3],
        modes: ['exclude'],
        random: { draws: 20, modes: ['drop'], items: { sensitive: 'all', capability: 5 } },
        force: undefined,
      },
      { baseDir: dir },
    );
    const res = await runExperiment(s, { outDir: out, model: fakeModel(), ranking, onWarning: () => {} });
    const row = res.analysis.ranked[0];
    expect(row.relCut).toBe(1);
    expect(row.capabilityDiff!.diff).toBe(0);
    expect(row.random).toBeUndefined();
    expect(res.analysis.criteria).toEqual([expect.objectContaining({ mode: 'exclude', status: 'NOT TESTED', metAt: null })]);
  });

  it('forced-on policies get matched random forced-on baselines on the same items', async () => {
    const { dir, out, spec, ranking } = setup();
    const s = validateExperiment(
      { ...spec, ns: [1], modes: ['exclude'], force: { ns: [2], categories: ['neutral'], random: { draws: 5 } } },
      { baseDir: dir },
    );
    const res = await runExperiment(s, { outDir: out, model: fakeModel(), ranking, onWarning: () => {} });
    const f = res.analysis.force[0];
    expect(f.random).toMatchObject({ draws: 5, items: 10, baselineRate: 0 });
    expect(f.random!.observedRate).toBe(f.categories.neutral.refusal.rate);
    expect(f.random!.observedRate).toBeGreaterThan(0);
    expect(f.random!.randomRates).toEqual([0, 0, 0, 0, 0]); // random experts never carry refusal in the fake model
    expect(f.random!.empiricalP).toBeCloseTo(1 / 6, 12);
    expect(readFileSync(join(out, 'report.md'), 'utf8')).toMatch(
      /top2-force: refusal on the 10 forced items 0\.0% -> .*5 matched random forced-on policies: mean 0\.0%/,
    );
  });

  it('rejects a different experiment in the same folder and bad specs', async () => {
    const { dir, out, spec, ranking } = setup();
    await runExperiment(loadExperiment(join(dir, 'exp.json')), { outDir: out, model: fakeModel(), ranking });
    const other = validateExperiment({ ...spec, ns: [1, 2] }, { baseDir: dir });
    await expect(runExperiment(other, { outDir: out, model: fakeModel(), ranking })).rejects.toThrow(
      /experiment run made with other settings; resuming would mix results of different settings \(ns: /,
    );
    expect(() => validateExperiment({ ...spec, ns: [0] })).toThrow(/"ns\[0\]" = 0 is invalid/);
    expect(() => validateExperiment({ ...spec, categories: {} })).toThrow(/E_INPUT.*categories\.target/);
    expect(() => validateExperiment({ ...spec, modes: ['scale'] })).toThrow(/needs "value"/);
    const badCat = validateExperiment({ ...spec, categories: { target: 'nope' } }, { baseDir: dir });
    await expect(runExperiment(badCat, { outDir: join(dir, 'o3'), model: fakeModel(), ranking })).rejects.toThrow(
      /categories\.target names "nope", which is not a category/,
    );
  });
});
