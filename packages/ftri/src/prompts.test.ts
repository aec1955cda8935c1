// Prompt sets: JSONL loading with coded errors, template grids expanded into matched pairs.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isMoteError } from '@mote/tensor-core';
import { expandGrid, loadPromptSet, promptSetHash } from './prompts.js';

const tmp = mkdtempSync(join(tmpdir(), 'ftri-prompts-'));
const file = (name: string, text: string): string => {
  const f = join(tmp, name);
  writeFileSync(f, text);
  return f;
};

describe('loadPromptSet', () => {
  it('reads records with optional fields and free attributes, skipping blank lines', () => {
    const f = file('ok.jsonl', '{"id":"a","prompt":"Hi","group":"x","pair_id":1,"topic":"t"}\n\n{"id":2,"prompt":"Yo","category":"c"}\n');
    const ps = loadPromptSet(f);
    expect(ps).toHaveLength(2);
    expect(ps[0]).toMatchObject({ id: 'a', prompt: 'Hi', group: 'x', pair_id: '1', topic: 't' });
    expect(ps[1]).toMatchObject({ id: '2', category: 'c' });
    expect(ps[1].group).toBeUndefined();
  });
  it('names file, line and field in errors', () => {
    const bad = file('bad.jsonl', '{"id":"a","prompt":"Hi"}\n{"id":"b"}\n');
    try {
      loadPromptSet(bad);
      expect.unreachable();
    } catch (e) {
      expect(isMoteError(e, 'E_INPUT')).toBe(true);
      expect((e as Error).message).toContain(`${bad}:2`);
      expect((e as Error).message).toContain('"prompt"');
    }
    expect(() => loadPromptSet(file('json.jsonl', '{"id":"a","prompt":"x"}\n{oops\n'))).toThrow(/json\.jsonl:2 is not valid JSON/);
    expect(() => loadPromptSet(file('dup.jsonl', '{"id":"a","prompt":"x"}\n{"id":"a","prompt":"y"}\n'))).toThrow(
      /duplicate id "a" \(first on line 1\)/,
    );
    expect(() => loadPromptSet(join(tmp, 'missing.jsonl'))).toThrow(/E_IO/);
    expect(() => loadPromptSet(file('empty.jsonl', '\n'))).toThrow(/no prompts/);
  });
});

describe('expandGrid', () => {
  const spec = {
    template: 'What happened {time}{place}?',
    slots: {
      time: ['', ' in 1989', ' last year'],
      place: [
        { value: ' in Tiananmen Square', group: 'sensitive' },
        { value: ' in Paris', group: 'control' },
      ],
    },
    group: 'place',
    id_prefix: 'wh',
  };
  it('expands the product, assigns groups and matched pairs', () => {
    const ps = expandGrid(spec);
    expect(ps).toHaveLength(6);
    expect(ps[0]).toMatchObject({ id: 'wh-0', prompt: 'What happened in Tiananmen Square?', group: 'sensitive' });
    expect(ps[1]).toMatchObject({ prompt: 'What happened in Paris?', group: 'control' });
    expect(ps[0].pair_id).toBe(ps[1].pair_id);
    expect(ps[0].pair_id).not.toBe(ps[2].pair_id);
    expect(ps[3]).toMatchObject({ prompt: 'What happened in 1989 in Paris?', slots: { time: ' in 1989', place: ' in Paris' } });
    // every pair has one prompt per group
    const byPair = new Map<string, string[]>();
    for (const p of ps) byPair.set(p.pair_id!, [...(byPair.get(p.pair_id!) ?? []), p.group!]);
    for (const g of byPair.values()) expect(g.sort()).toEqual(['control', 'sensitive']);
  });
  it('supports a value->group map and a file path', () => {
    const f = file(
      'grid.json',
      JSON.stringify({ template: '{a} {b}', slots: { a: ['x', 'y'], b: ['1', '2'] }, group: { slot: 'a', map: { x: 'G1', y: 'G2' } } }),
    );
    const ps = expandGrid(f);
    expect(ps.map((p) => p.group)).toEqual(['G1', 'G1', 'G2', 'G2']);
    expect(ps[0].pair_id).toBe(ps[2].pair_id);
  });
  it('reports bad specs with the field to fix', () => {
    expect(() => expandGrid({ template: '{a}{c}', slots: { a: ['x'] } })).toThrow(/uses slot "\{c\}"/);
    expect(() => expandGrid({ template: '{a}', slots: { a: ['x'], b: ['y'] } })).toThrow(/slot "b" is not used/);
    expect(() => expandGrid({ template: '{a}', slots: { a: ['x'] }, group: 'zz' })).toThrow(/group slot "zz"/);
    expect(() => expandGrid({ template: '{a}', slots: { a: ['x'] }, group: { slot: 'a', map: { y: 'G' } } })).toThrow(
      /no entry for value "x"/,
    );
    expect(() => expandGrid({ slots: { a: ['x'] } } as never)).toThrow(/field "template"/);
  });
  it('hashes prompt sets by content', () => {
    const a = expandGrid(spec),
      b = expandGrid(spec);
    expect(promptSetHash(a)).toBe(promptSetHash(b));
    b[0] = { ...b[0], prompt: b[0].prompt + ' ' };
    expect(promptSetHash(a)).not.toBe(promptSetHash(b));
  });
});
