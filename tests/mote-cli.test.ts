// `mote policy top | random | sweep | check` in-process on the organism's config and a synthetic ranking.
import { mkdtempSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { main } from '../apps/cli/src/main.js';
import { policyExperts } from '@mote/mote';

const ORGANISM = join(import.meta.dirname, '..', 'models', 'organism', 'model');

async function cli(...args: string[]): Promise<string> {
  let out = '';
  const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => {
    out += a.join(' ') + '\n';
  });
  try {
    await main(['node', 'mote', ...args]);
  } finally {
    log.mockRestore();
  }
  return out;
}

describe('mote policy', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mote-cli-pol-'));
  const ranking = join(dir, 'ranking.json');
  // 16 experts of layer 2 first, then layer 1 ... (rank order), like an fTRI ranking.json
  writeFileSync(
    ranking,
    JSON.stringify(
      [2, 1, 3, 0].flatMap((l, li) =>
        Array.from({ length: 16 }, (_, e) => ({ layer: l, expert: e, rank: li * 16 + e + 1, score: 1 - (li * 16 + e) / 64 })),
      ),
    ),
  );

  it('top writes the N best-ranked experts; force is capped at top-k per layer', async () => {
    const out = await cli(
      'policy',
      'top',
      '--ranking',
      ranking,
      '--n',
      '3',
      '--mode',
      'drop',
      '--scope',
      'think',
      '--out',
      join(dir, 'top3.json'),
    );
    expect(out).toContain('top3-drop: 3 interventions (drop)');
    const p = JSON.parse(readFileSync(join(dir, 'top3.json'), 'utf8'));
    expect(p.interventions).toEqual([0, 1, 2].map((e) => ({ mode: 'drop', layer: 2, expert: e, scope: 'think' })));
    await cli('policy', 'top', '--ranking', ranking, '--n', '4', '--mode', 'force', '--model', ORGANISM, '--out', join(dir, 'f4.json'));
    const f = JSON.parse(readFileSync(join(dir, 'f4.json'), 'utf8'));
    expect(policyExperts(f)).toEqual([
      { layer: 2, expert: 0 },
      { layer: 2, expert: 1 },
      { layer: 1, expert: 0 },
      { layer: 1, expert: 1 },
    ]);
  });

  it('random matches --like per layer, avoids its experts, and is seeded', async () => {
    await cli('policy', 'top', '--ranking', ranking, '--n', '6', '--out', join(dir, 'top6.json'));
    const args = [
      'policy',
      'random',
      '--model',
      ORGANISM,
      '--seed',
      '7',
      '--like',
      join(dir, 'top6.json'),
      '--avoid',
      join(dir, 'top6.json'),
    ];
    await cli(...args, '--out', join(dir, 'r1.json'));
    await cli(...args, '--out', join(dir, 'r2.json'));
    expect(readFileSync(join(dir, 'r2.json'), 'utf8')).toBe(readFileSync(join(dir, 'r1.json'), 'utf8'));
    const ex = policyExperts(JSON.parse(readFileSync(join(dir, 'r1.json'), 'utf8')));
    expect(ex).toHaveLength(6);
    expect(ex.every((e) => e.layer === 2 && e.expert >= 6)).toBe(true);
    // uniform, avoiding the top N of a ranking
    await cli(
      'policy',
      'random',
      '--model',
      ORGANISM,
      '--n',
      '5',
      '--seed',
      '3',
      '--avoid',
      ranking,
      '--mode',
      'exclude',
      '--out',
      join(dir, 'u.json'),
    );
    const u = policyExperts(JSON.parse(readFileSync(join(dir, 'u.json'), 'utf8')));
    expect(u).toHaveLength(5);
    expect(u.some((e) => e.layer === 2 && e.expert < 5)).toBe(false);
  });

  it('sweep writes one policy per N; check validates against the model and exits 2 on a bad policy', async () => {
    await cli('policy', 'sweep', '--ranking', ranking, '--ns', '1,2,5', '--mode', 'exclude', '--out', join(dir, 'sweep'));
    expect(readdirSync(join(dir, 'sweep')).sort()).toEqual(['top1-exclude.json', 'top2-exclude.json', 'top5-exclude.json']);
    expect(await cli('policy', 'check', join(dir, 'sweep', 'top5-exclude.json'), '--model', ORGANISM)).toMatch(/^ok {2}top5-exclude/);
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ interventions: [{ mode: 'exclude', layer: 9, expert: 1 }] }));
    let err = '';
    const w = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((err += String(s)), true));
    const exit = vi.spyOn(process, 'exit').mockImplementation(((code: number) => {
      throw new Error(`exit ${code}`);
    }) as never);
    try {
      await expect(cli('policy', 'check', join(dir, 'bad.json'), '--model', ORGANISM)).rejects.toThrow('exit 2');
    } finally {
      w.mockRestore();
      exit.mockRestore();
    }
    expect(err).toMatch(/E_POLICY.*bad\.json.*layer 9 has no router/);
  });
});
