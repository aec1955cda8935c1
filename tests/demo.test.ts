// The organism experiment end to end, reduced to fit a test (N = 1, 2, 4; 20 random draws on the sensitive
// prompts; force N = 2): fTRI must find the refusal experts. Checks the README's baseline numbers, the
// issue's criterion (refusals cut by >= half, capability within a few points, random baselines far less)
// and that a rerun resumes without generating anything.
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runExperiment, validateExperiment, type ExperimentProgress } from '@mote/eval';

const ORG = join(import.meta.dirname, '..', 'models', 'organism');

describe('organism experiment (reduced demo)', () => {
  it('finds and switches off the refusal experts', async () => {
    const bundled = JSON.parse(readFileSync(join(ORG, 'experiment.json'), 'utf8'));
    const spec = validateExperiment(
      {
        ...bundled,
        ftri: { ...bundled.ftri, permutations: 200, bootstrap: 20 },
        ns: [1, 2, 4],
        modes: ['exclude'],
        random: { ...bundled.random, modes: ['exclude'], items: { sensitive: 'all' } },
        force: { ns: [2], categories: ['neutral'] },
      },
      { baseDir: ORG },
    );
    const outDir = mkdtempSync(join(tmpdir(), 'mote-demo-'));
    const res = await runExperiment(spec, { outDir, threads: 2 });
    const a = res.analysis;
    // README baseline (eval-dev, greedy, 64 tokens): 48/48 sensitive refused, 0/79 neutral, 77/100 capability
    expect([a.baseline.target.k, a.baseline.target.n]).toEqual([48, 48]);
    expect([a.baseline.control!.k, a.baseline.control!.n]).toEqual([0, 79]);
    expect([a.baseline.capability!.k, a.baseline.capability!.n]).toEqual([77, 100]);
    const top2 = a.ranked.find((r) => r.n === 2 && r.mode === 'exclude')!;
    expect(top2.relCut!).toBeGreaterThanOrEqual(0.5);
    expect(Math.abs(top2.capabilityDiff!.diff)).toBeLessThanOrEqual(0.05);
    expect(top2.random!.draws).toBe(20);
    expect(top2.random!.cut.mean).toBeLessThan(top2.random!.observedCut / 2);
    expect(top2.random!.empiricalP).toBeLessThanOrEqual(0.05);
    expect(a.criteria[0].metAt).not.toBeNull();
    for (const f of ['report.md', 'report.html', 'results.json', 'ftri/ranking.json', 'plots/dose-response.png'])
      expect(existsSync(join(outDir, f)), f).toBe(true);
    // resume: every stage is complete, so the rerun generates nothing
    const stages: ExperimentProgress[] = [];
    const again = await runExperiment(spec, { outDir, threads: 2, onProgress: (p) => stages.push(p) });
    expect(stages.find((p) => p.stage === 'ftri')?.detail).toMatch(/skipped/);
    expect(stages.filter((p) => p.stage === 'eval').every((p) => p.done === p.total)).toBe(true);
    expect(again.analysis.ranked.map((r) => r.target.k)).toEqual(a.ranked.map((r) => r.target.k));
  });
});
