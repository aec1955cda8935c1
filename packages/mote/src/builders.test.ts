// Unit tests of the policy builders: top-N, sweeps and seeded matched random baselines.
import { describe, it, expect } from 'vitest';
import { topNPolicy, sweepPolicies, randomPolicy, randomPolicies } from './builders.js';
import { policyExperts } from './policy.js';
import { INFO } from './test-info.js';

// ranks deliberately out of order in the array
const RANKING = [
  { layer: 2, expert: 5, rank: 3, score: 0.5 },
  { layer: 1, expert: 7, rank: 1, score: 0.9 },
  { layer: 1, expert: 2, rank: 2, score: 0.7 },
  { layer: 1, expert: 9, rank: 4, score: 0.4 },
  { layer: 3, expert: 0, rank: 5, score: 0.1 },
  { layer: 1, expert: 4, rank: 6, score: 0.05 },
];

describe('topNPolicy', () => {
  it('takes the N lowest ranks with the given mode, scope and value', () => {
    const p = topNPolicy(RANKING, { n: 3, mode: 'exclude' });
    expect(p.name).toBe('top3-exclude');
    expect(p.interventions).toEqual([
      { mode: 'exclude', layer: 1, expert: 7 },
      { mode: 'exclude', layer: 1, expert: 2 },
      { mode: 'exclude', layer: 2, expert: 5 },
    ]);
    const s = topNPolicy(RANKING, { n: 1, mode: 'scale', value: 0.25, scope: 'think' });
    expect(s.interventions).toEqual([{ mode: 'scale', layer: 1, expert: 7, value: 0.25, scope: 'think' }]);
  });
  it('honours per-layer caps; force defaults to top-k per layer', () => {
    const p = topNPolicy(RANKING, { n: 3, mode: 'drop', perLayerCap: 1 });
    expect(policyExperts(p)).toEqual([
      { layer: 1, expert: 7 },
      { layer: 2, expert: 5 },
      { layer: 3, expert: 0 },
    ]);
    const f = topNPolicy(RANKING, { n: 4, mode: 'force', info: INFO });
    expect(policyExperts(f)).toEqual([
      { layer: 1, expert: 7 },
      { layer: 1, expert: 2 },
      { layer: 2, expert: 5 },
      { layer: 3, expert: 0 },
    ]);
    expect(() => topNPolicy(RANKING, { n: 4, mode: 'force', info: INFO, perLayerCap: { 1: 3 } })).toThrow(/forces 3 experts/);
  });
  it('refuses n larger than the ranking and a missing value', () => {
    expect(() => topNPolicy(RANKING, { n: 7, mode: 'exclude' })).toThrow(/only 6 experts/);
    expect(() => topNPolicy(RANKING, { n: 2, mode: 'bias' })).toThrow(/needs a finite value/);
  });
});

describe('sweepPolicies', () => {
  it('gives one nested policy per N', () => {
    const ps = sweepPolicies(RANKING, { ns: [1, 2, 4], mode: 'exclude' });
    expect(ps.map((p) => p.interventions.length)).toEqual([1, 2, 4]);
    expect(ps[2].interventions.slice(0, 2)).toEqual(ps[1].interventions);
  });
});

describe('randomPolicy', () => {
  const like = topNPolicy(RANKING, { n: 5, mode: 'exclude' }); // layers 1,1,2,1,3
  it('is reproducible by seed and differs across seeds', () => {
    const a = randomPolicy({ info: INFO, n: 6, seed: 7 });
    expect(randomPolicy({ info: INFO, n: 6, seed: 7 })).toEqual(a);
    expect(randomPolicy({ info: INFO, n: 6, seed: 8 }).interventions).not.toEqual(a.interventions);
    expect(new Set(a.interventions.map((e) => `${e.layer}:${e.expert}`)).size).toBe(6);
  });
  it('matches the per-layer distribution of `like` and avoids its experts', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const r = randomPolicy({ info: INFO, seed, like, avoid: like });
      const count = (l: number) => r.interventions.filter((e) => e.layer === l).length;
      expect([count(0), count(1), count(2), count(3)]).toEqual([0, 3, 1, 1]);
      const taken = new Set(policyExperts(like).map((e) => `${e.layer}:${e.expert}`));
      expect(r.interventions.some((e) => taken.has(`${e.layer}:${e.expert}`))).toBe(false);
      expect(r.interventions.every((e) => e.mode === 'exclude')).toBe(true);
    }
    expect(() => randomPolicy({ info: INFO, seed: 1, like, n: 4 })).toThrow(/has 5 experts/);
  });
  it('draws uniformly over all (layer, expert) pairs', () => {
    // 4000 draws of 1 expert over 64 pairs: every pair seen, counts near 62.5
    const counts = new Map<string, number>();
    for (let s = 0; s < 4000; s++) {
      const e = randomPolicy({ info: INFO, n: 1, seed: s }).interventions[0];
      counts.set(`${e.layer}:${e.expert}`, (counts.get(`${e.layer}:${e.expert}`) ?? 0) + 1);
    }
    expect(counts.size).toBe(64);
    expect(Math.min(...counts.values())).toBeGreaterThan(30);
    expect(Math.max(...counts.values())).toBeLessThan(100);
  });
  it('caps uniform force draws at top-k per layer', () => {
    for (let s = 0; s < 20; s++) {
      const r = randomPolicy({ info: INFO, n: 8, seed: s, mode: 'force' });
      for (const l of INFO.moeLayers) expect(r.interventions.filter((e) => e.layer === l).length).toBeLessThanOrEqual(2);
    }
    expect(() => randomPolicy({ info: INFO, n: 9, seed: 1, mode: 'force' })).toThrow(/only 8 experts/);
  });
  it('randomPolicies gives consecutive seeds', () => {
    const ps = randomPolicies({ info: INFO, like, seed: 10, draws: 3, prefix: 'rnd5' });
    expect(ps.map((p) => p.name)).toEqual(['rnd5-r0', 'rnd5-r1', 'rnd5-r2']);
    expect(ps[1].interventions).toEqual(randomPolicy({ info: INFO, like, seed: 11 }).interventions);
  });
});
