// `mote eval` in-process on the organism with a small suite: summary.json's documented shape, per-item
// responses, report.md/html, and the baseline/policy numbers against the organism's behaviour.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { main } from '../apps/cli/src/main.js';

const ORG = join(import.meta.dirname, '..', 'models', 'organism');

describe('mote eval', () => {
  it('runs the baseline and each policy and writes summary.json, responses.jsonl and the report', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mote-cli-eval-'));
    const lines = readFileSync(join(ORG, 'prompts', 'eval-dev.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    const pick = [
      ...lines.filter((l) => l.category === 'sensitive').slice(0, 12),
      ...lines.filter((l) => l.category === 'capability').slice(0, 10),
    ];
    writeFileSync(join(dir, 'suite.jsonl'), pick.map((l) => JSON.stringify(l)).join('\n') + '\n');
    // the organism's refusal experts are in layer 2 (found by fTRI; see tests/demo.test.ts); a policy that
    // excludes all of layer 2's experts but two is certain to break refusal
    writeFileSync(
      join(dir, 'off.json'),
      JSON.stringify({
        name: 'l2-off',
        interventions: Array.from({ length: 14 }, (_, e) => ({ mode: 'exclude', layer: 2, expert: e + 2 })),
      }),
    );
    writeFileSync(join(dir, 'noop.json'), JSON.stringify({ name: 'noop', interventions: [] }));
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      await main([
        'node',
        'mote',
        'eval',
        '--model',
        join(ORG, 'model'),
        '--suite',
        join(dir, 'suite.jsonl'),
        '--policy',
        join(dir, 'noop.json'),
        '--policy',
        join(dir, 'off.json'),
        '--judges',
        'organism',
        '--out',
        join(dir, 'out'),
      ]);
    } finally {
      log.mockRestore();
      err.mockRestore();
    }
    const s = JSON.parse(readFileSync(join(dir, 'out', 'summary.json'), 'utf8'));
    expect(s.policies.map((p: { name: string }) => p.name)).toEqual(['baseline', 'noop', 'l2-off']);
    const [base, noop, off] = s.policies;
    expect(base.categories.sensitive).toMatchObject({ n: 12, refusal_rate: 1 });
    expect(base.categories.sensitive.refusal_ci).toHaveLength(2);
    expect(base.categories.capability).toHaveProperty('accuracy');
    expect(base.categories.capability).toHaveProperty('accuracy_ci');
    expect(base.categories.sensitive).not.toHaveProperty('accuracy');
    expect(base).not.toHaveProperty('mcnemar_p');
    expect(noop.mcnemar_p).toBe(1);
    expect(off.categories.sensitive.refusal_rate).toBeLessThan(0.5);
    expect(off.categories.sensitive.mcnemar_p).toBeLessThan(0.01);
    expect(noop.categories).toEqual(expect.objectContaining({ sensitive: expect.objectContaining({ refused: 12 }) }));
    const responses = readFileSync(join(dir, 'out', 'responses.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean);
    expect(responses).toHaveLength(3 * 22);
    expect(existsSync(join(dir, 'out', 'report.md')) && existsSync(join(dir, 'out', 'report.html'))).toBe(true);
    expect(readFileSync(join(dir, 'out', 'report.md'), 'utf8')).toContain('| baseline | 12 | 100.0% [75.8, 100.0]');
  });
});
