// Unit tests of the policy validator: one test per error kind, plus scope overlap and the scope test.
import { describe, it, expect } from 'vitest';
import { isMoteError } from '@mote/tensor-core';
import { inScope, scopesOverlap, validatePolicy } from './policy.js';
import type { ModelInfo } from './types.js';

// shaped like the organism: 4 MoE layers x 16 experts, top-2
const INFO = {
  modelType: 'qwen3_moe',
  dir: '/models/organism',
  layerCount: 4,
  moeLayers: [0, 1, 2, 3],
  expertCount: 16,
  topK: 2,
  sharedExpertCount: 0,
  hiddenSize: 128,
  vocabSize: 1024,
  headCount: 4,
  kvHeadCount: 2,
  headDim: 32,
  params: { total: 0, active: 0, embedding: 0, routedExperts: 0 },
  bosTokenId: 0,
  eosTokenIds: [1],
  padTokenId: 2,
} satisfies ModelInfo;

function err(fn: () => unknown) {
  try {
    fn();
  } catch (e) {
    if (isMoteError(e)) return e;
    throw e;
  }
  throw new Error('expected a MoteError');
}
const P = (...interventions: unknown[]) => ({ name: 't', interventions });

describe('validatePolicy', () => {
  it('accepts the example of docs/design.md and keeps extra fields', () => {
    const json = {
      name: 'top10-off',
      meta: { n: 4 },
      interventions: [
        { mode: 'exclude', layer: 3, expert: 15 },
        { mode: 'force', layer: 2, expert: 14, scope: 'generated' },
        { mode: 'scale', layer: 1, expert: 3, value: 0.5, scope: { from: 0, to: 16 } },
        { mode: 'bias', layer: 1, expert: 9, value: -2.0, scope: 'think' },
      ],
    };
    const p = validatePolicy(json, { info: INFO });
    expect(p.interventions).toHaveLength(4);
    expect(p.meta).toEqual({ n: 4 });
  });

  it('rejects an unknown mode, naming entry, value and fix', () => {
    const e = err(() =>
      validatePolicy(P({ mode: 'exclude', layer: 0, expert: 1 }, { mode: 'disable', layer: 0, expert: 2 }), { file: 'p.json' }),
    );
    expect(e.code).toBe('E_POLICY');
    expect(e.field).toBe('interventions[1].mode');
    expect(e.message).toContain('p.json');
    expect(e.message).toContain('"disable"');
    expect(e.message).toMatch(/exclude, drop, force, scale, bias/);
  });

  it('rejects a malformed scope and a non-integer expert', () => {
    expect(err(() => validatePolicy(P({ mode: 'drop', layer: 0, expert: 1, scope: 'answer' }))).field).toBe('interventions[0].scope');
    expect(err(() => validatePolicy(P({ mode: 'drop', layer: 0, expert: 1.5 }))).field).toBe('interventions[0].expert');
    expect(err(() => validatePolicy({ name: 'x' })).field).toBe('interventions');
  });

  it('rejects an empty position range', () => {
    const e = err(() => validatePolicy(P({ mode: 'drop', layer: 0, expert: 1, scope: { from: 5, to: 5 } })));
    expect(e.field).toBe('interventions[0].scope');
    expect(e.message).toMatch(/a < b/);
  });

  it('rejects missing or superfluous values', () => {
    expect(err(() => validatePolicy(P({ mode: 'scale', layer: 0, expert: 1 }))).field).toBe('interventions[0].value');
    expect(err(() => validatePolicy(P({ mode: 'exclude', layer: 0, expert: 1, value: 0 }))).field).toBe('interventions[0].value');
    expect(err(() => validatePolicy(P({ mode: 'scale', layer: 0, expert: 1, value: -1 }))).message).toMatch(/negative scale/);
  });

  it('rejects a layer without a router when info is given (and not without)', () => {
    const p = P({ mode: 'exclude', layer: 7, expert: 1 });
    expect(validatePolicy(p).interventions).toHaveLength(1);
    const e = err(() => validatePolicy(p, { info: INFO, file: 'pol.json' }));
    expect(e.code).toBe('E_POLICY');
    expect(e.field).toBe('interventions[0].layer');
    expect(e.message).toMatch(/layer 7 has no router/);
    expect(e.message).toMatch(/0\.\.3/);
  });

  it('rejects an expert id beyond expertCount', () => {
    const e = err(() => validatePolicy(P({ mode: 'exclude', layer: 1, expert: 16 }), { info: INFO }));
    expect(e.field).toBe('interventions[0].expert');
    expect(e.message).toMatch(/expert 16 does not exist/);
    expect(e.message).toMatch(/0\.\.15/);
  });

  it('rejects conflicting entries on the same expert with overlapping scopes', () => {
    const e = err(() =>
      validatePolicy(
        P(
          { mode: 'exclude', layer: 1, expert: 3 },
          { mode: 'drop', layer: 0, expert: 3 },
          { mode: 'force', layer: 1, expert: 3, scope: 'think' },
        ),
      ),
    );
    expect(e.field).toBe('interventions[2]');
    expect(e.message).toMatch(/conflicts with interventions\[0\]/);
    // duplicates conflict too
    expect(err(() => validatePolicy(P({ mode: 'drop', layer: 0, expert: 3 }, { mode: 'drop', layer: 0, expert: 3 }))).field).toBe(
      'interventions[1]',
    );
    // disjoint scopes do not conflict; scale + bias compose
    expect(() =>
      validatePolicy(
        P({ mode: 'exclude', layer: 1, expert: 3, scope: 'prompt' }, { mode: 'force', layer: 1, expert: 3, scope: 'generated' }),
      ),
    ).not.toThrow();
    expect(() =>
      validatePolicy(P({ mode: 'scale', layer: 1, expert: 3, value: 2 }, { mode: 'bias', layer: 1, expert: 3, value: 1 })),
    ).not.toThrow();
    expect(() =>
      validatePolicy(
        P(
          { mode: 'drop', layer: 1, expert: 3, scope: { from: 0, to: 4 } },
          { mode: 'drop', layer: 1, expert: 3, scope: { from: 4, to: 8 } },
        ),
      ),
    ).not.toThrow();
  });

  it('rejects forcing more experts than top-k on the same tokens', () => {
    const three = P(
      { mode: 'force', layer: 2, expert: 1 },
      { mode: 'force', layer: 2, expert: 2 },
      { mode: 'force', layer: 2, expert: 3, scope: 'think' },
    );
    const e = err(() => validatePolicy(three, { info: INFO }));
    expect(e.code).toBe('E_POLICY');
    expect(e.message).toMatch(/layer 2 forces 3 experts/);
    expect(e.message).toMatch(/top-2/);
    // same count spread over disjoint scopes or over layers is fine
    expect(() =>
      validatePolicy(
        P(
          { mode: 'force', layer: 2, expert: 1, scope: 'prompt' },
          { mode: 'force', layer: 2, expert: 2, scope: 'prompt' },
          { mode: 'force', layer: 2, expert: 3, scope: 'generated' },
        ),
        { info: INFO },
      ),
    ).not.toThrow();
    expect(() =>
      validatePolicy(
        P(
          { mode: 'force', layer: 2, expert: 1, scope: { from: 0, to: 3 } },
          { mode: 'force', layer: 2, expert: 2 },
          { mode: 'force', layer: 2, expert: 3, scope: { from: 3, to: 9 } },
        ),
        { info: INFO },
      ),
    ).not.toThrow();
    expect(() =>
      validatePolicy(
        P(
          { mode: 'force', layer: 2, expert: 1, scope: { from: 0, to: 4 } },
          { mode: 'force', layer: 2, expert: 2 },
          { mode: 'force', layer: 2, expert: 3, scope: { from: 3, to: 9 } },
        ),
        { info: INFO },
      ),
    ).toThrow(/forces 3/);
  });
});

describe('scopesOverlap', () => {
  it('knows prompt and generated are disjoint and ranges meet by interval', () => {
    expect(scopesOverlap('prompt', 'generated')).toBe(false);
    expect(scopesOverlap('prompt', 'think')).toBe(true);
    expect(scopesOverlap(undefined, 'generated')).toBe(true);
    expect(scopesOverlap({ from: 0, to: 4 }, { from: 4, to: 6 })).toBe(false);
    expect(scopesOverlap({ from: 0, to: 5 }, { from: 4, to: 6 })).toBe(true);
  });
});

describe('inScope', () => {
  it('tests each named scope and half-open ranges', () => {
    const tok = (generated: boolean, inThink: boolean, pos: number) => ({ generated, inThink, pos });
    expect(inScope(undefined, tok(true, false, 3))).toBe(true);
    expect(inScope('prompt', tok(false, false, 0))).toBe(true);
    expect(inScope('prompt', tok(true, false, 9))).toBe(false);
    expect(inScope('generated', tok(true, true, 9))).toBe(true);
    expect(inScope('think', tok(false, true, 2))).toBe(true);
    expect(inScope('think', tok(true, false, 2))).toBe(false);
    expect(inScope({ from: 2, to: 4 }, tok(false, false, 3))).toBe(true);
    expect(inScope({ from: 2, to: 4 }, tok(false, false, 4))).toBe(false);
  });
});
