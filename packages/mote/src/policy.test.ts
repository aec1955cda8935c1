// Unit tests of policy files: round trip, bad JSON and missing files name the file.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMoteError } from '@mote/tensor-core';
import { INFO } from './test-info.js';
import { loadPolicy, writePolicy, policyExperts } from './policy.js';

function err(fn: () => unknown) {
  try {
    fn();
  } catch (e) {
    if (isMoteError(e)) return e;
    throw e;
  }
  throw new Error('expected a MoteError');
}

describe('policy files', () => {
  it('round-trips and reports bad JSON with the file name', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mote-pol-'));
    const f = join(dir, 'a', 'p.json');
    const p = {
      name: 'x',
      interventions: [
        { mode: 'exclude' as const, layer: 0, expert: 3 },
        { mode: 'bias' as const, layer: 1, expert: 4, value: -1, scope: 'think' as const },
      ],
    };
    writePolicy(f, p);
    expect(JSON.parse(readFileSync(f, 'utf8'))).toEqual(p);
    expect(loadPolicy(f, INFO)).toEqual(p);
    expect(policyExperts(p)).toEqual([
      { layer: 0, expert: 3 },
      { layer: 1, expert: 4 },
    ]);
    writeFileSync(join(dir, 'bad.json'), '{"interventions": [');
    const e = err(() => loadPolicy(join(dir, 'bad.json')));
    expect(e.code).toBe('E_POLICY');
    expect(e.message).toContain('bad.json');
    expect(err(() => loadPolicy(join(dir, 'missing.json'))).code).toBe('E_IO');
  });
});
