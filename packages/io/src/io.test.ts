// @mote/io: torn JSONL tails, atomic writes, the lock (live holder, stale takeover, racing takers in real
// processes), and the run manifest (resume, changed settings, force-new, foreign outputs).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isMoteError } from '@mote/tensor-core';
import {
  acquireLock,
  lockOutput,
  appendJsonl,
  diffSettings,
  hashJson,
  openRunFile,
  openRunFolder,
  parseJsonl,
  readJsonl,
  writeAtomic,
} from './index.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'mote-io-'));
const err = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return e as Error & { code?: string; field?: string };
  }
  throw new Error('expected an error');
};
/** pid of a process that has exited (and been reaped) */
const deadPid = () => Number(execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).toString());

describe('jsonl', () => {
  it('cuts a torn last line of a resumed log, and only there', () => {
    const f = join(tmp(), 'log.jsonl');
    writeFileSync(f, '{"id":1}\n{"id":2}\n{"id":');
    expect(readJsonl(f, { resume: true })).toEqual([{ id: 1 }, { id: 2 }]);
    expect(readFileSync(f, 'utf8')).toBe('{"id":1}\n{"id":2}\n');
    // a complete-looking last line without its newline is a torn append too: its newline never came
    writeFileSync(f, '{"id":1}\n{"id":2}');
    expect(readJsonl(f, { resume: true })).toEqual([{ id: 1 }]);
    // an input file may end without a newline; a bad line anywhere names file and line
    expect(parseJsonl('{"a":1}\n\n{"a":2}', 'in.jsonl').lines.map((l) => l.line)).toEqual([1, 3]);
    const e = err(() => parseJsonl('{"a":1}\n{oops}\n{"a":2}\n', 'in.jsonl'));
    expect(isMoteError(e, 'E_INPUT') && e.message).toMatch(/in\.jsonl:2 is not valid JSON/);
    // in a log, a bad line before the tail is corruption, not a torn append
    writeFileSync(f, '{"id":1}\nxx\n{"id":3}\n');
    expect(err(() => readJsonl(f, { resume: true })).message).toMatch(/log\.jsonl:2/);
  });

  it('appends whole lines and writes atomically (no temp file left)', () => {
    const d = tmp();
    appendJsonl(join(d, 'a.jsonl'), [{ x: 1 }, { x: 'é' }]);
    appendJsonl(join(d, 'a.jsonl'), [{ x: 3 }]);
    expect(readFileSync(join(d, 'a.jsonl'), 'utf8')).toBe('{"x":1}\n{"x":"é"}\n{"x":3}\n');
    writeAtomic(join(d, 'b.json'), 'one');
    writeAtomic(join(d, 'b.json'), 'two');
    expect(readFileSync(join(d, 'b.json'), 'utf8')).toBe('two');
    expect(readdirSync(d).sort()).toEqual(['a.jsonl', 'b.json']);
    const e = err(() => writeAtomic(join(d, 'no', 'such', 'c.json'), 'x'));
    expect(isMoteError(e, 'E_IO') && e.message).toMatch(
      /c\.json does not exist \(or a folder above it is missing\); fix: .*create the folder first \(ENOENT/,
    );
  });
});

describe('lock', () => {
  it('refuses a live holder by pid and host, takes over a dead one, releases only its own', () => {
    const f = join(tmp(), '.lock');
    const a = acquireLock(f);
    const e = err(() => acquireLock(f));
    expect(isMoteError(e, 'E_LOCKED') && e.message).toContain(`pid ${process.pid} on ${hostname()}`);
    a.release();
    expect(existsSync(f)).toBe(false);
    const pid = deadPid();
    writeFileSync(f, JSON.stringify({ pid, host: hostname(), started: 'x', command: 'killed', nonce: 'n0' }));
    const b = acquireLock(f);
    expect(JSON.parse(readFileSync(f, 'utf8')).pid).toBe(process.pid);
    b.release();
    // another host's lock is never taken over: its pid means nothing here
    writeFileSync(f, JSON.stringify({ pid, host: 'elsewhere', started: 'x', command: 'c', nonce: 'n1' }));
    expect(err(() => acquireLock(f)).message).toMatch(/pid \d+ on elsewhere.*delete/);
  });

  it('lockOutput locks before the slow start; the run folder takes it again in the same process', () => {
    const d = join(tmp(), 'run');
    const early = lockOutput(d)!;
    const run = openRunFolder(d, { kind: 'eval', settings: {} });
    run.release();
    expect(existsSync(join(d, '.lock'))).toBe(true); // still held by the early lock
    early.release();
    expect(existsSync(join(d, '.lock'))).toBe(false);
    const foreign = join(tmp(), 'theirs');
    mkdirSync(foreign);
    writeFileSync(join(foreign, 'data.csv'), 'x');
    expect(lockOutput(foreign)).toBeNull(); // never writes into a folder mote did not create
    expect(readdirSync(foreign)).toEqual(['data.csv']);
  });

  it('of 6 processes racing for one stale lock, exactly one wins', async () => {
    const d = tmp();
    const f = join(d, '.lock');
    writeFileSync(f, JSON.stringify({ pid: deadPid(), host: hostname(), started: 'x', command: 'killed', nonce: 'stale' }));
    // the child imports the built package (Node 20 cannot import TypeScript); pnpm build makes it
    const mod = join(import.meta.dirname, '..', 'dist', 'index.js');
    const script = `import { acquireLock } from ${JSON.stringify(mod)};
      const until = Number(process.argv[2]); while (Date.now() < until) {}
      try { acquireLock(${JSON.stringify(f)}); console.log('won'); setTimeout(() => {}, 1500); } catch (e) { console.log(e.code); }`;
    writeFileSync(join(d, 'race.mjs'), script);
    const start = Date.now() + 1500;
    const outs = await Promise.all(
      Array.from(
        { length: 6 },
        () =>
          new Promise<string>((res) => {
            const c = spawn(process.execPath, [join(d, 'race.mjs'), String(start)], {
              stdio: ['ignore', 'pipe', 'inherit'],
              env: { ...process.env, NODE_OPTIONS: '' },
            });
            let s = '';
            c.stdout.on('data', (b) => (s += b));
            c.on('exit', () => res(s.trim()));
          }),
      ),
    );
    expect(outs.filter((o) => o === 'won')).toHaveLength(1);
    expect(outs.filter((o) => o === 'E_LOCKED')).toHaveLength(5);
  });
});

describe('run folders and files', () => {
  it('resumes with the same settings, names each changed field, starts over only when asked', () => {
    const d = join(tmp(), 'run');
    const settings = { model: 'h1', policy: hashJson({ interventions: [] }), sampling: { temperature: 0, seed: 1 } };
    const r1 = openRunFolder(d, { kind: 'eval', settings });
    expect(r1.resumed).toBe(false);
    writeFileSync(join(d, 'responses.jsonl'), '{"id":1}\n');
    expect(
      isMoteError(
        err(() => openRunFolder(d, { kind: 'eval', settings })),
        'E_LOCKED',
      ),
    ).toBe(true);
    r1.release();
    const r2 = openRunFolder(d, { kind: 'eval', settings });
    expect(r2.resumed).toBe(true);
    r2.release();
    const e = err(() => openRunFolder(d, { kind: 'eval', settings: { ...settings, sampling: { temperature: 0.7, seed: 1 } } }));
    expect(isMoteError(e, 'E_RESUME') && e.field).toBe('sampling.temperature');
    expect(e.message).toMatch(/different settings \(sampling\.temperature: 0 -> 0\.7\).*--force-new/);
    expect(existsSync(join(d, 'responses.jsonl'))).toBe(true);
    const r3 = openRunFolder(d, { kind: 'eval', settings: { ...settings, model: 'h2' }, forceNew: true });
    expect(r3.resumed).toBe(false);
    expect(readdirSync(d).sort()).toEqual(['.lock', 'mote-run.json']);
    r3.release();
    expect(err(() => openRunFolder(d, { kind: 'ftri', settings })).message).toMatch(/holds a `mote eval` run/);
  });

  it('never writes into a folder or file that mote did not create, nor onto an input', () => {
    const d = tmp();
    mkdirSync(join(d, 'mine'));
    writeFileSync(join(d, 'mine', 'thesis.tex'), 'x');
    for (const forceNew of [false, true]) {
      const e = err(() => openRunFolder(join(d, 'mine'), { kind: 'ftri', settings: {}, forceNew }));
      expect(isMoteError(e, 'E_RESUME') && e.message).toMatch(/was not written by `mote ftri`/);
    }
    expect(readFileSync(join(d, 'mine', 'thesis.tex'), 'utf8')).toBe('x');
    const out = join(d, 'notes.jsonl');
    writeFileSync(out, 'my notes\n{"id":"a"}\n');
    expect(err(() => openRunFile(out, { kind: 'generate', settings: {}, forceNew: true })).message).toMatch(
      /not written by `mote generate`/,
    );
    expect(readFileSync(out, 'utf8')).toBe('my notes\n{"id":"a"}\n');
    expect(existsSync(`${out}.lock`)).toBe(false);
    const e2 = err(() => openRunFile(out, { kind: 'generate', settings: {}, inputs: [out], flag: '--out' }));
    expect(isMoteError(e2, 'E_INPUT') && e2.message).toMatch(/is also the input/);
    expect(err(() => openRunFile(join(d, 'nope', 'a.jsonl'), { kind: 'generate', settings: {} })).message).toMatch(
      /does not exist; fix: create it/,
    );
    expect(err(() => openRunFile(d, { kind: 'generate', settings: {} })).message).toMatch(/is a folder/);
    // a file mote created is resumed, and with force-new emptied
    const own = join(d, 'answers.jsonl');
    openRunFile(own, { kind: 'generate', settings: { p: 1 } }).release();
    writeFileSync(own, '{"id":"a"}\n');
    const r = openRunFile(own, { kind: 'generate', settings: { p: 1 } });
    expect(r.resumed).toBe(true);
    r.release();
    openRunFile(own, { kind: 'generate', settings: { p: 2 }, forceNew: true }).release();
    expect(existsSync(own)).toBe(false);
  });

  it('diffSettings: grow keys may gain entries, shared entries must match', () => {
    expect(diffSettings({ a: 1, pol: { x: 'h1' } }, { a: 1, pol: { x: 'h1', y: 'h2' } }, ['pol'])).toEqual([]);
    expect(diffSettings({ pol: { x: 'h1' } }, { pol: { x: 'h9' } }, ['pol']).map((d) => d.field)).toEqual(['pol.x']);
    expect(diffSettings({ a: [1, 2], b: { c: 1 } }, { a: [1, 2], b: { c: 1, d: 2 } }).map((d) => d.field)).toEqual(['b.d']);
  });
});
