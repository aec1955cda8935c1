// The `mote ftri` and `mote rank` commands, parsed by commander in-process on the organism.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Command } from 'commander';
import { register } from '../apps/cli/src/commands/ftri.js';
import { isMoteError } from '@mote/tensor-core';

const ORG = join(__dirname, '..', 'models', 'organism');
const cli = async (...args: string[]): Promise<void> => {
  const program = new Command('mote').exitOverride();
  register(program);
  await program.parseAsync(['node', 'mote', ...args]);
};

describe('mote ftri / mote rank', () => {
  it('runs label mode end to end, then re-ranks the traces', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ftri-cli-'));
    const lines = readFileSync(join(ORG, 'prompts', 'ftri.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const pick = [
      ...lines.filter((p) => p.category === 'sensitive').slice(0, 8),
      ...lines.filter((p) => p.category !== 'sensitive').slice(0, 10),
    ];
    const prompts = join(dir, 'p.jsonl');
    writeFileSync(prompts, pick.map((p) => JSON.stringify(p)).join('\n') + '\n');
    const out = join(dir, 'run');
    await cli(
      'ftri',
      '--model',
      join(ORG, 'model'),
      '--prompts',
      prompts,
      '--generate',
      '64',
      '--label',
      'refusal',
      '--permutations',
      '99',
      '--bootstrap',
      '10',
      '--out',
      out,
    );
    for (const f of ['labels.jsonl', 'ranking.json', 'ranking.csv', 'ranking.parquet', 'report.html', 'maps/heatmap.png'])
      expect(existsSync(join(out, f)), f).toBe(true);
    const labels = readFileSync(join(out, 'labels.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).label);
    expect(labels.filter((l) => l === 'REFUSED')).toHaveLength(8);
    const meta = JSON.parse(readFileSync(join(out, 'ranking.meta.json'), 'utf8'));
    expect(meta.contrast).toMatchObject({ a: 'REFUSED', b: 'rest' });
    expect(meta).toMatchObject({ stat: 'count', n_a: 8, n_b: 10, permutations: 99 });

    const re = join(dir, 're');
    await cli(
      'rank',
      '--traces',
      out,
      '--contrast',
      'sensitive:rest',
      '--stat',
      'logodds',
      '--permutations',
      '49',
      '--bootstrap',
      '0',
      '--maps',
      '0',
      '--out',
      re,
    );
    const ranking = JSON.parse(readFileSync(join(re, 'ranking.json'), 'utf8'));
    expect(ranking).toHaveLength(4 * 16);
    expect(ranking[0].stat).toBe('logodds');
  });

  it('reports bad arguments as MoteErrors', async () => {
    const e1 = await cli('ftri', '--model', join(ORG, 'model'), '--out', '/tmp/x').catch((e) => e);
    expect(isMoteError(e1, 'E_INPUT')).toBe(true);
    expect(String(e1.message)).toMatch(/--prompts FILE\.jsonl or --grid/);
    const e2 = await cli('rank', '--traces', '/tmp/none', '--out', '/tmp/x', '--contrast', 'a:b', '--stat', 'bogus').catch((e) => e);
    expect(String(e2.message)).toMatch(/--stat "bogus"/);
    const e3 = await cli('ftri', '--model', join(ORG, 'model'), '--prompts', 'x.jsonl', '--label', 'nope', '--out', '/tmp/x').catch(
      (e) => e,
    );
    expect(String(e3.message)).toMatch(/--label "nope"/);
  });
});
