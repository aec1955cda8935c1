// MT-Bench-style pieces without a model: the conversation suite reader, rating parsing (numbers or null), and
// paired score differences with bootstrap intervals on synthetic scores whose answer is known.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createRng } from '@mote/stats';
import { loadConversations, pairedScores, parseRating } from './mtbench.js';

const s = (id: string, turn: number, rating: number | null, hitLimit = false) => ({ id, turn, rating, hitLimit });

describe('parseRating', () => {
  it('reads [[N]], "Rating: N" and N/10; null when there is none or it is out of 1..10', () => {
    expect(parseRating('Clear and correct. Rating: [[8]]')).toBe(8);
    expect(parseRating('format is [[N]]; my verdict: [[ 7.5 ]]')).toBe(7.5);
    expect(parseRating('Rating: 6')).toBe(6);
    expect(parseRating('I would give it 9/10.')).toBe(9);
    expect(parseRating('Rating: [[11]]')).toBeNull();
    expect(parseRating('The Drasol valley is in the north.')).toBeNull();
    expect(parseRating('')).toBeNull();
  });
});

describe('pairedScores', () => {
  it('a constant +1 shift: difference 1, interval [1, 1]', () => {
    const base = [5, 6, 7, 8, 3].map((r, i) => s(`c${i}`, 1, r));
    const pol = base.map((b) => ({ ...b, rating: b.rating! + 1 }));
    const r = pairedScores(base, pol, { resamples: 500 });
    expect(r).toMatchObject({ n: 5, meanBase: 5.8, meanPolicy: 6.8, diff: 1, ci: [1, 1] });
  });
  it('unrated answers leave the pairs and are counted; so are answers at the token limit', () => {
    const base = [s('a', 1, 5), s('a', 2, null), s('b', 1, 7, true)];
    const pol = [s('a', 1, 4), s('a', 2, 9), s('b', 1, null, true)];
    const r = pairedScores(base, pol);
    expect(r).toMatchObject({ n: 1, diff: -1, unparseable: { base: 1, policy: 1 }, hitLimit: { base: 1, policy: 1 } });
  });
  it('normal differences (mean 0.5, sd 1, n 400): the 95% interval is 0.5 ± 1.96/20 up to sampling error', () => {
    const rng = createRng(7);
    const base = Array.from({ length: 400 }, (_, i) => s(`c${i}`, 1, 5));
    const pol = base.map((b) => ({ ...b, rating: 5.5 + rng.normal() }));
    const r = pairedScores(base, pol, { resamples: 4000, seed: 1 });
    // the sample mean is within 3 standard errors (0.05) of 0.5; the interval's half-width is z·sd/√n ≈ 0.098
    expect(Math.abs(r.diff - 0.5)).toBeLessThan(0.15);
    expect((r.ci[1] - r.ci[0]) / 2).toBeGreaterThan(0.098 * 0.85);
    expect((r.ci[1] - r.ci[0]) / 2).toBeLessThan(0.098 * 1.15);
    expect(r.ci[0]).toBeLessThan(r.diff);
    expect(r.ci[1]).toBeGreaterThan(r.diff);
  });
});

describe('loadConversations', () => {
  it('reads turns and references, and names the line of a bad one', () => {
    const c = loadConversations(join(__dirname, 'testing', 'mt-organism.jsonl'));
    expect(c.map((x) => [x.id, x.category, x.turns.length])).toEqual([
      ['mt-arith-1', 'arith', 2],
      ['mt-arith-2', 'arith', 2],
      ['mt-world-1', 'world', 2],
    ]);
    expect(c[0].reference).toEqual(['17', '3']);
    const dir = mkdtempSync(join(tmpdir(), 'mt-'));
    writeFileSync(join(dir, 'bad.jsonl'), '{"id": "x", "turns": ["a"]}\n{"id": "y", "turns": []}\n');
    expect(() => loadConversations(join(dir, 'bad.jsonl'))).toThrow(/bad\.jsonl:2: "turns" = \[\] is invalid/);
  });
});
