// Policy validation at scale and at the router's limits (issue 12.5, 12.6): thousands of scoped entries in
// O(n log n), a layer left with fewer candidates than top-k refused at check time, not a NaN at run time.
import { describe, expect, it } from 'vitest';
import { isMoteError } from '@mote/tensor-core';
import { INFO } from './test-info.js';
import { validatePolicy } from '@mote/moe-runtime';

const layer = INFO.moeLayers[0];

describe('validatePolicy at scale', () => {
  it('4,000 position-scoped entries on one expert validate (quadratic took > 120 s; this runs in the default test timeout)', () => {
    const interventions = Array.from({ length: 4000 }, (_, i) => ({
      mode: 'scale',
      layer,
      expert: 1,
      value: 0.5,
      scope: { from: 2 * i, to: 2 * i + 2 },
    }));
    expect(validatePolicy({ name: 'many', interventions }, { info: INFO }).interventions).toHaveLength(4000);
    // and a conflict hidden among them is still found, naming both entries
    interventions.push({ mode: 'scale', layer, expert: 1, value: 2, scope: { from: 7001, to: 7002 } });
    expect(() => validatePolicy({ interventions }, { info: INFO })).toThrow(/interventions\[4000\].*conflicts with interventions\[3500\]/);
  });

  it('4,000 forced entries with disjoint ranges across experts respect top-k per token', () => {
    const interventions = Array.from({ length: 4000 }, (_, i) => ({
      mode: 'force',
      layer,
      expert: i % INFO.expertCount,
      scope: { from: i, to: i + 1 },
    }));
    expect(validatePolicy({ interventions }, { info: INFO }).interventions).toHaveLength(4000);
  });

  it('excluding every expert of a layer (or leaving fewer than top-k) fails at check time', () => {
    const all = Array.from({ length: INFO.expertCount }, (_, e) => ({ mode: 'exclude', layer, expert: e }));
    let err: unknown;
    try {
      validatePolicy({ interventions: all }, { info: INFO });
    } catch (e) {
      err = e;
    }
    expect(isMoteError(err, 'E_POLICY')).toBe(true);
    expect(String(err)).toMatch(new RegExp(`layer ${layer} excludes ${INFO.expertCount} of its ${INFO.expertCount} experts`));
    const keepK = all.slice(0, INFO.expertCount - INFO.topK);
    expect(validatePolicy({ interventions: keepK }, { info: INFO }).interventions).toHaveLength(INFO.expertCount - INFO.topK);
    const oneTooMany = all.slice(0, INFO.expertCount - INFO.topK + 1);
    expect(() => validatePolicy({ interventions: oneTooMany }, { info: INFO })).toThrow(/leaving fewer than the top-/);
    // the same experts excluded on disjoint token kinds never leave a token short
    const split = all.map((e, i) => ({ ...e, scope: i % 2 ? 'prompt' : 'generated' }));
    expect(() => validatePolicy({ interventions: split }, { info: INFO })).not.toThrow();
  });
});
