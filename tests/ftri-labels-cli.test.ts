// `mote ftri --judge FILE` (the judges format of `mote eval --judges`) and `mote rank --label` relabelling traced
// responses with the contrast its help promises (REFUSED:rest for refusal labels, ZH:rest for think-language).
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Command } from 'commander';
import { register } from '../apps/cli/src/commands/ftri.js';

const ORG = join(__dirname, '..', 'models', 'organism');
const cli = async (...args: string[]): Promise<void> => {
  const program = new Command('mote').exitOverride();
  register(program);
  await program.parseAsync(['node', 'mote', ...args]);
};

describe('mote ftri --judge / mote rank --label', () => {
  it('labels with a judges file, relabels with --label, and uses the label contrast by default', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ftri-judge-'));
    const lines = readFileSync(join(ORG, 'prompts', 'ftri.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const pick = [
      ...lines.filter((p) => p.category === 'sensitive').slice(0, 5),
      ...lines.filter((p) => p.category !== 'sensitive').slice(0, 7),
    ];
    writeFileSync(join(dir, 'p.jsonl'), pick.map((p) => JSON.stringify(p)).join('\n') + '\n');
    // the organism's sentences only as a phrase set, no empty-think rule: a judge nobody would get by default
    writeFileSync(
      join(dir, 'judges.json'),
      JSON.stringify({ '*': { refusal: { type: 'refusal', phraseSets: ['organism'], emptyThink: false } } }),
    );
    const out = join(dir, 'run');
    await cli(
      'ftri',
      '--model',
      join(ORG, 'model'),
      '--prompts',
      join(dir, 'p.jsonl'),
      '--generate',
      '64',
      '--judge',
      join(dir, 'judges.json'),
      '--permutations',
      '19',
      '--bootstrap',
      '0',
      '--maps',
      '0',
      '--out',
      out,
    );
    const labels = readFileSync(join(out, 'labels.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).label);
    expect(labels.filter((l) => l === 'REFUSED')).toHaveLength(5);
    expect(JSON.parse(readFileSync(join(out, 'ranking.meta.json'), 'utf8')).contrast.spec).toBe('REFUSED:rest');

    // rank without --contrast: the think-language label's contrast; the organism thinks in English (7) or not at
    // all (its 5 refusals have an empty think block: NONE), so ZH has no prompts
    const re = join(dir, 're');
    const err = await cli(
      'rank',
      '--traces',
      out,
      '--label',
      'think-language',
      '--permutations',
      '9',
      '--bootstrap',
      '0',
      '--maps',
      '0',
      '--out',
      re,
    ).catch((e) => e);
    expect(String(err?.message)).toMatch(/contrast "ZH:rest" selects 0 prompts for A and 12 for B/);
    expect(String(err?.message)).toMatch(/NONE \(5\)/);
    expect(String(err?.message)).toMatch(/EN \(7\)/);
    // --label refusal (the general judge) relabels and contrasts REFUSED:rest by default
    await cli('rank', '--traces', out, '--label', 'refusal', '--permutations', '9', '--bootstrap', '0', '--maps', '0', '--out', re);
    const meta = JSON.parse(readFileSync(join(re, 'ranking.meta.json'), 'utf8'));
    expect(meta).toMatchObject({ contrast: { spec: 'REFUSED:rest' }, n_a: 5, n_b: 7, stat: 'count' });
    const err2 = await cli('rank', '--traces', out, '--label', 'refusal', '--judge', join(dir, 'judges.json'), '--out', re).catch((e) => e);
    expect(String(err2?.message)).toMatch(/--label or --judge, not both/);
  });
});
