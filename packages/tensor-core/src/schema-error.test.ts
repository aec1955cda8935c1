// The one schema-issue formatter: field path, the value found there, the reason and the fix.
import { describe, expect, it } from 'vitest';
import { fieldPath, schemaError, showValue } from './schema-error.js';

describe('schemaError', () => {
  it('names the field, the value at that path, the reason and the fix', () => {
    const input = { interventions: [{ mode: 'exclude' }, { mode: 'mute', layer: 0 }] };
    const e = schemaError('E_POLICY', [{ path: ['interventions', 1, 'mode'], message: 'Invalid option' }], input, {
      where: 'policy p.json',
      file: 'p.json',
      fix: (k) => `fix the ${k}`,
    });
    expect(e.code).toBe('E_POLICY');
    expect(e.field).toBe('interventions[1].mode');
    expect(e.file).toBe('p.json');
    expect(e.message).toBe(
      '[E_POLICY] policy p.json: field "interventions[1].mode" = "mute" is invalid (Invalid option); fix: fix the mode',
    );
  });
  it('can shorten the path, reports missing values and root issues', () => {
    const shorten = (p: readonly PropertyKey[]) => p.slice(0, 1);
    const e = schemaError('E_INPUT', [{ path: ['ns', 0, 'x'], message: 'bad' }], { ns: [5] }, { where: 'w', fix: 'f', shorten });
    expect(e.message).toContain('field "ns" = [5] is invalid (bad)');
    expect(schemaError('E_INPUT', [{ path: ['a'], message: 'Required' }], {}, { where: 'w', fix: 'f' }).message).toContain(
      'field "a" = missing',
    );
    const root = schemaError('E_INPUT', [{ path: [], message: 'expected object' }], 7, { where: 'w', fix: 'f' });
    expect(root.message).toBe('[E_INPUT] w: 7 is invalid (expected object); fix: f');
    expect(root.field).toBeUndefined();
    expect(fieldPath(['a', 0, 'b', 'c'])).toBe('a[0].b.c');
    expect(showValue('x'.repeat(100))).toHaveLength(80);
  });
});
