// Issue 12's CLI failures, each reproduced in-process (main) or through the built executable: every number
// validated with the bad value named, coded one-line errors instead of stack traces (stack only under
// --debug), file-system failures (folders, missing parents, ENOSPC) as E_IO, EPIPE quiet, --version.

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { describeFailure, main } from '../apps/cli/src/main.js';
import { intArg, numArg, threadsArg } from '../apps/cli/src/options.js';
import { runInWorker } from '../apps/cli/src/worker.js';

const ROOT = join(import.meta.dirname, '..');
const ORGANISM = join(ROOT, 'models', 'organism', 'model');
const dir = mkdtempSync(join(tmpdir(), 'mote-cli-err-'));

/** Run the CLI in-process: its stdout, stderr and exit code (process.exit is caught). */
async function cli(...args: string[]): Promise<{ out: string; err: string; code: number }> {
  let out = '',
    err = '',
    code = 0;
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((out += String(s)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((err += String(s)), true));
  const l = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => {
    out += a.join(' ') + '\n';
  });
  const x = vi.spyOn(process, 'exit').mockImplementation(((c: number) => {
    throw Object.assign(new Error('exit'), { exitCode: c });
  }) as never);
  try {
    await main(['node', 'mote', ...args]);
  } catch (ex) {
    if ((ex as { exitCode?: number }).exitCode === undefined) throw ex;
    code = (ex as { exitCode: number }).exitCode;
  } finally {
    o.mockRestore();
    e.mockRestore();
    l.mockRestore();
    x.mockRestore();
  }
  return { out, err, code };
}
const noStack = (s: string) => expect(s).not.toMatch(/\n\s+at /);

describe('CLI numbers: one parser each, the bad value named (issue 12.4, 13.5)', () => {
  const prompts = join(dir, 'p.jsonl');
  writeFileSync(prompts, '{"id":"a","prompt":"hi"}\n');
  const cases: [string[], RegExp][] = [
    [['generate', '-m', ORGANISM, '--prompt', 'x', '--max-new-tokens', 'abc'], /--max-new-tokens must be a whole number >= 0, got "abc"/],
    [['generate', '-m', ORGANISM, '--prompt', 'x', '--temperature', '-1'], /--temperature must be a finite number >= 0, got "-1"/],
    [['generate', '-m', ORGANISM, '--prompt', 'x', '--top-p', '2'], /--top-p must be a finite number > 0 and <= 1, got "2"/],
    [['generate', '-m', ORGANISM, '--prompt', 'x', '--top-k', '-5'], /--top-k must be a whole number >= 1, got "-5"/],
    [['generate', '-m', ORGANISM, '--prompt', 'x', '--seed', 'abc'], /--seed must be a whole number in 0\.\.4294967295, got "abc"/],
    [['logits', '-m', ORGANISM, '--ids', '1,2', '--greedy', '1.5'], /--greedy must be a whole number >= 0, got "1\.5"/],
    [['eval', '-m', ORGANISM, '--suite', prompts, '-o', dir, '--temperature', '-1'], /--temperature must be a finite number >= 0/],
    [['eval', '-m', ORGANISM, '--suite', prompts, '-o', dir, '--top-p', '5'], /--top-p must be a finite number > 0 and <= 1, got "5"/],
    [['ftri', '-m', ORGANISM, '--prompts', prompts, '-o', dir, '--batch-size', '0'], /--batch-size must be a whole number >= 1, got "0"/],
    [['generate', '-m', ORGANISM, '--prompt', 'x', '--dtype', 'int3'], /--dtype must be one of f32, int8, int4, auto, got "int3"/],
    [['generate', '-m', ORGANISM, '--prompt', 'x', '-n', 'Infinity'], /--max-new-tokens must be a whole number/],
  ];
  for (const [args, want] of cases) {
    it(`${args[0]} ${args.slice(-2).join(' ')} is E_INPUT, exit 2`, async () => {
      const r = await cli(...args);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/^mote: \[E_INPUT\] /);
      expect(r.err).toMatch(want);
      noStack(r.err);
    });
  }

  it('parsers: ranges, integer-ness, finiteness; --threads capped at the cores', () => {
    expect(intArg('--n', { min: 1 })('3')).toBe(3);
    for (const bad of ['', ' ', '1e400', '2.5', '0x', 'NaN', '-1'])
      expect(() => intArg('--n', { min: 0 })(bad), bad).toThrow(/E_INPUT.*--n/);
    expect(numArg('--top-p', { above: 0, max: 1 })('1')).toBe(1);
    expect(() => numArg('--top-p', { above: 0, max: 1 })('0')).toThrow(/> 0/);
    const w = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    expect(threadsArg('1000')).toBe(availableParallelism());
    w.mockRestore();
    expect(() => threadsArg('0')).toThrow(/--threads must be a whole number >= 1/);
  });
});

describe('coded errors instead of stack traces (issue 12.5, 12.6)', () => {
  it('--version prints the package version', async () => {
    const r = await cli('--version');
    expect(r.out.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it("every command's help ends with an example and lists the shared short flags", async () => {
    const commands = [
      ['inspect'],
      ['logits'],
      ['generate'],
      ['ftri'],
      ['rank'],
      ['eval'],
      ['run'],
      ['demo'],
      ['policy', 'top'],
      ['policy', 'random'],
      ['policy', 'sweep'],
      ['policy', 'check'],
      ['serve'],
      ['export'],
      ['plan'],
      ['mtbench'],
      ['cache', 'ls'],
      ['cache', 'rm'],
    ];
    for (const cmd of commands) {
      const r = await cli(...cmd, '--help');
      expect(r.out, cmd.join(' ')).toMatch(/Example:\n {2}\$ mote /);
    }
    const flat = async (c: string) => (await cli(c, '--help')).out.replace(/\s+/g, ' '); // commander wraps lines
    const g = await flat('generate');
    for (const flag of [
      '-m, --model',
      '-o, --out',
      '-p, --policy',
      '-n, --max-new-tokens',
      '-b, --batch-size',
      '-t, --threads',
      '-s, --seed',
      '--dtype',
    ])
      expect(g).toContain(flag);
    // 2048 so reasoning models finish their answer (64 cut R1's reasoning short: issue 14)
    expect(g).toMatch(/--max-new-tokens <n> [^-]*?\(default: 2048\)/);
    for (const c of ['generate', 'eval', 'ftri']) expect(await flat(c), c).toMatch(/--batch-size <n> [^-]*?\(default: 16\)/);
  });

  it('an unknown option is one E_INPUT line', async () => {
    const r = await cli('inspect', '-m', ORGANISM, '--colour');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/mote: \[E_INPUT\] unknown option '--colour'/);
  });

  it('--prompts and --out that are folders, and a missing parent of --out, are E_IO naming the path', async () => {
    const folder = join(dir, 'a-folder');
    mkdirSync(folder, { recursive: true });
    const prompts = join(dir, 'ok.jsonl');
    writeFileSync(prompts, '{"id":"a","prompt":"hi"}\n');
    for (const [args, want] of [
      [['--prompts', folder, '-o', join(dir, 'o.jsonl')], `${folder} is a folder`],
      [['--prompts', prompts, '-o', folder], `${folder} is a folder`],
      [['--prompts', prompts, '-o', join(dir, 'no', 'such', 'o.jsonl')], 'does not exist'],
    ] as const) {
      const r = await cli('generate', '-m', ORGANISM, '-n', '1', ...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err).toMatch(/mote: \[E_(IO|INPUT)\] /);
      expect(r.err).toContain(want);
      noStack(r.err);
    }
  });

  it('model.safetensors that is a folder is a coded error', async () => {
    const m = join(dir, 'model-with-folder');
    mkdirSync(join(m, 'model.safetensors'), { recursive: true });
    for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json'])
      if (existsSync(join(ORGANISM, f))) writeFileSync(join(m, f), (await import('node:fs')).readFileSync(join(ORGANISM, f)));
    const r = await cli('logits', '-m', m, '--ids', '1,2');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/\[E_SAFETENSORS_HEADER\] weights file .*model\.safetensors is a folder/);
  });

  it('ENOSPC on a write is E_IO naming the path and the fix', async () => {
    const ranking = join(dir, 'ranking.json');
    writeFileSync(ranking, JSON.stringify([{ layer: 0, expert: 1, rank: 1, score: 1 }]));
    const r = await cli('policy', 'top', '-r', ranking, '--n', '1', '-o', '/dev/full');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/\[E_IO\] no space left on the device while writing \/dev\/full; fix: free disk space.*ENOSPC/);
  });

  it('--judges with a JSON that is not a judge file (a policy) is E_INPUT, not the default judges', async () => {
    const pol = join(dir, 'policy.json');
    writeFileSync(pol, JSON.stringify({ name: 'x', interventions: [{ mode: 'exclude', layer: 0, expert: 1 }] }));
    const suite = join(dir, 'suite.jsonl');
    writeFileSync(suite, '{"id":"a","prompt":"hi"}\n');
    const r = await cli('eval', '-m', ORGANISM, '--suite', suite, '--judges', pol, '-n', '1', '-o', join(dir, 'eval'));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/\[E_INPUT\] .*"name" must be \{refusal\?, answer\?\}.*not a judge file/);
  });

  it('--policy takes a folder and comma lists (the output of policy sweep)', async () => {
    const ranking = join(dir, 'rk.json');
    writeFileSync(ranking, JSON.stringify([0, 1, 2].map((e) => ({ layer: 1, expert: e, rank: e + 1, score: 1 - e / 10 }))));
    await cli('policy', 'sweep', '-r', ranking, '--ns', '1,2', '-o', join(dir, 'sweep'));
    const r = await cli('policy', 'check', `${join(dir, 'sweep')},${join(dir, 'sweep', 'top1-exclude.json')}`, '-m', ORGANISM);
    expect(r.out.trim().split('\n')).toEqual([
      expect.stringMatching(/^ok {2}top1-exclude/),
      expect.stringMatching(/^ok {2}top2-exclude/),
      expect.stringMatching(/^ok {2}top1-exclude/),
    ]);
    const empty = join(dir, 'empty');
    mkdirSync(empty, { recursive: true });
    expect((await cli('policy', 'check', empty)).err).toMatch(/\[E_INPUT\] policy folder .* holds no \*\.json files/);
  });

  it('an unexpected error is one E_INTERNAL line; the stack only with --debug', () => {
    const plain = describeFailure(new TypeError("Cannot read properties of null (reading 'x')"), false);
    expect(plain.exitCode).toBe(1);
    expect(plain.text).toMatch(/^mote: \[E_INTERNAL\] unexpected error: Cannot read properties of null.*--debug/);
    noStack(plain.text);
    expect(describeFailure(new TypeError('x'), true).text).toMatch(/\n\s+at /);
    expect(describeFailure(Object.assign(new Error('x'), { code: 'ENOSPC', path: '/o', syscall: 'write' }), false).error.code).toBe('E_IO');
    expect(describeFailure(new RangeError('Invalid typed array length: 137322176546'), false).error.code).toBe('E_LIMIT');
  });

  it('an error thrown past the worker crosses the thread as a coded line without a stack', async () => {
    const f = join(dir, 'throws.mjs');
    writeFileSync(f, `throw new TypeError("build is not a function");\n`);
    let err = '';
    const e = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((err += String(s)), true));
    const code = await runInWorker(f, ['node', 'mote']);
    e.mockRestore();
    expect(code).toBe(1);
    expect(err).toMatch(/^mote: \[E_INTERNAL\] unexpected error: build is not a function/);
    noStack(err);
  });
});

describe('Ctrl-C (issue 12.5)', () => {
  it('the first Ctrl-C stops a worker stuck in JavaScript (a runaway regex never reads the interrupt)', async () => {
    const f = join(dir, 'stuck.mjs');
    writeFileSync(f, `/(a+)+$/.test('a'.repeat(40) + 'b'); while (true) {}\n`);
    const e = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const done = runInWorker(f, [], { graceMs: 300 });
    await new Promise((r) => setTimeout(r, 300));
    process.emit('SIGINT');
    const code = await done;
    e.mockRestore();
    expect(code).toBe(130);
  });
});

describe('EPIPE (issue 12.6)', () => {
  const bin = join(ROOT, 'apps', 'cli', 'dist', 'bin.js');
  it.skipIf(!existsSync(bin))('`mote logits ... | head -c 100` exits 0 without a word on stderr', async () => {
    const ids = Array.from({ length: 64 }, (_, i) => i + 3).join(',');
    const child = spawn(process.execPath, [bin, 'logits', '-m', ORGANISM, '--ids', ids, '--json', '-t', '1'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.stdout.once('data', () => child.stdout.destroy()); // the reader goes away after the first chunk
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    expect(err).toBe('');
    expect(code).toBe(0);
  });
});
