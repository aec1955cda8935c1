// The built CLI end to end over loopback: `mote serve` on the organism, then `mote ftri --server … --engine vllm`
// and `--engine sglang` give local `mote ftri`'s labels, counts and ranking; `mote eval --server` gives local
// `mote eval`'s summary (policies applied through mote_policy); `mote ftri --server` killed (SIGKILL) mid-run
// and run again traces every prompt exactly once. Needs `pnpm build` (spawns apps/cli/dist/bin.js).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readActivations, readProgress } from '@mote/ftri';

const ROOT = join(import.meta.dirname, '..');
const BIN = join(ROOT, 'apps', 'cli', 'dist', 'bin.js');
const ORG = join(ROOT, 'models', 'organism');
const MODEL = join(ORG, 'model');

function mote(args: string[]): { child: ChildProcess; done: Promise<{ code: number | null; out: string; err: string }> } {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, MOTE_CACHE: 'off' } });
  let out = '',
    err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  return { child, done: new Promise((r) => child.on('exit', (code) => r({ code, out, err }))) };
}
const ok = async (args: string[]) => {
  const r = await mote(args).done;
  expect(r.code, `mote ${args.join(' ')}\n${r.err}`).toBe(0);
  return r;
};

function ftriSummary(dir: string) {
  const { activations, metas } = readActivations(dir);
  const F = activations.layers.length * activations.expertCount;
  const order = metas.map((m, i) => ({ m, i })).sort((a, b) => a.m.id.localeCompare(b.m.id));
  const ranking = JSON.parse(readFileSync(join(dir, 'ranking.json'), 'utf8')) as Array<{
    rank: number;
    layer: number;
    expert: number;
    score: number;
  }>;
  return {
    labels: order.map(({ m }) => `${m.id}:${m.label}`),
    counts: order.map(({ i }) => Array.from(activations.counts.subarray(i * F, (i + 1) * F)).join(',')),
    ranking: ranking.map((e) => `${e.rank}:${e.layer}:${e.expert}:${e.score.toFixed(6)}`),
  };
}

describe.skipIf(!existsSync(BIN))('mote serve + --server over loopback (built CLI)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mote-serve-cli-'));
  let server: ChildProcess;
  let url = '';
  const prompts = join(dir, 'p.jsonl');
  const common = [
    '--prompts',
    prompts,
    '--label',
    'refusal',
    '--generate',
    '24',
    '--permutations',
    '99',
    '--bootstrap',
    '10',
    '--maps',
    '0',
    '--batch-size',
    '4',
  ];
  beforeAll(async () => {
    const lines = readFileSync(join(ORG, 'prompts', 'ftri.jsonl'), 'utf8')
      .trim()
      .split('\n');
    writeFileSync(prompts, lines.filter((_, i) => i % 15 === 0).join('\n') + '\n');
    const s = mote(['serve', '--model', MODEL, '--port', '0', '--threads', '1']);
    server = s.child;
    url = await new Promise<string>((resolve, reject) => {
      let buf = '';
      server.stdout!.on('data', (d) => {
        buf += d;
        const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(buf);
        if (m) resolve(m[1]);
      });
      server.on('exit', (c) => reject(new Error(`mote serve exited ${c}`)));
    });
  });
  afterAll(() => {
    server?.kill('SIGKILL');
  });

  it('mote ftri --server (vllm, sglang) = local mote ftri', async () => {
    await ok(['ftri', '--model', MODEL, ...common, '--out', join(dir, 'local')]);
    const local = ftriSummary(join(dir, 'local'));
    expect(local.labels.some((l) => l.endsWith(':REFUSED'))).toBe(true);
    for (const engine of ['vllm', 'sglang']) {
      const r = await ok(['ftri', '--model', MODEL, '--server', url, '--engine', engine, ...common, '--out', join(dir, engine)]);
      expect(r.out).toContain('rank');
      expect(ftriSummary(join(dir, engine))).toEqual(local);
    }
  });

  it('mote ftri --server killed mid-run and run again: no prompt lost or doubled', async () => {
    const out = join(dir, 'killed');
    const run = mote(['ftri', '--model', MODEL, '--server', url, '--engine', 'vllm', ...common, '--batch-size', '2', '--out', out]);
    for (let i = 0; i < 600 && !(existsSync(join(out, 'progress.jsonl')) && readProgress(out).length >= 2); i++)
      await new Promise((r) => setTimeout(r, 50));
    run.child.kill('SIGKILL');
    await run.done;
    const before = readProgress(out).length;
    expect(before).toBeGreaterThan(0);
    await ok(['ftri', '--model', MODEL, '--server', url, '--engine', 'vllm', ...common, '--batch-size', '2', '--out', out]);
    const ids = readActivations(out).metas.map((m) => m.id);
    const want = readFileSync(prompts, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).id);
    expect(ids.length).toBe(want.length);
    expect(new Set(ids)).toEqual(new Set(want));
    expect(ftriSummary(out)).toEqual(ftriSummary(join(dir, 'local')));
  });

  it('mote eval --server = local mote eval (baseline and a policy through mote_policy)', async () => {
    const lines = readFileSync(join(ORG, 'prompts', 'eval-dev.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    const pick = [
      ...lines.filter((l) => l.category === 'sensitive').slice(0, 6),
      ...lines.filter((l) => l.category === 'capability').slice(0, 6),
    ];
    writeFileSync(join(dir, 'suite.jsonl'), pick.map((l) => JSON.stringify(l)).join('\n') + '\n');
    writeFileSync(
      join(dir, 'off.json'),
      JSON.stringify({
        name: 'l2-off',
        interventions: Array.from({ length: 14 }, (_, e) => ({ mode: 'exclude', layer: 2, expert: e + 2 })),
      }),
    );
    const args = [
      '--model',
      MODEL,
      '--suite',
      join(dir, 'suite.jsonl'),
      '--policy',
      join(dir, 'off.json'),
      '--judges',
      'organism',
      '--max-new-tokens',
      '32',
    ];
    await ok(['eval', ...args, '--out', join(dir, 'eval-local')]);
    await ok(['eval', ...args, '--server', url, '--engine', 'vllm', '--out', join(dir, 'eval-served')]);
    const strip = (f: string) => JSON.parse(readFileSync(f, 'utf8')).policies;
    expect(strip(join(dir, 'eval-served', 'summary.json'))).toEqual(strip(join(dir, 'eval-local', 'summary.json')));
    const resp = (f: string) =>
      readFileSync(f, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l))
        .map((r) => `${r.policy}:${r.id}:${r.response}`)
        .sort();
    expect(resp(join(dir, 'eval-served', 'responses.jsonl'))).toEqual(resp(join(dir, 'eval-local', 'responses.jsonl')));
  });
});
