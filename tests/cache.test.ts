// The weight cache: the first load builds and writes <root>/<key>/<dtype>-<runtime>/, the second load hits
// it and gives the same logits; the key samples the weights (a copy elsewhere hits after a full re-hash);
// a file rewritten in place with size and mtime restored is caught; a damaged entry is rebuilt with a
// warning; an unwritable cache runs without one; non-finite weights are refused naming the tensor;
// `cache ls|rm`; cache: false builds in memory.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  cpSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../apps/cli/src/main.js';
import { checkpointHash, listCache, loadModel, removeCache } from '@mote/moe-runtime';
import { readSafetensorsHeader } from '@mote/tensor-core';

const TINY = join(import.meta.dirname, 'fixtures', 'tiny-moe', 'qwen3_moe');
const ORGANISM = join(import.meta.dirname, '..', 'models', 'organism', 'model');
const IDS = [
  [0, 17, 4, 99, 23, 8],
  [0, 3, 5],
];

async function logitsOf(dir: string, opts: Parameters<typeof loadModel>[1]) {
  const m = await loadModel(dir, { threads: 1, ...opts });
  const r = await m.forward(IDS);
  const [g] = await m.generate([IDS[0]], { maxNewTokens: 5, stopTokens: [] });
  const cache = m.cache;
  await m.dispose();
  return { logits: r.logits!.data as Float32Array, greedy: g.ids, cache };
}

describe('weight cache', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'mote-cache-'));
  });
  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
  });

  it('second load hits the cache and gives the same logits and greedy ids', async () => {
    const a = await logitsOf(TINY, { cache: root });
    expect(a.cache!.hit).toBe(false);
    expect(existsSync(join(a.cache!.dir!, 'manifest.json'))).toBe(true);
    expect(readdirSync(a.cache!.dir!).filter((f) => f.endsWith('.onnx')).length).toBeGreaterThan(2);
    const b = await logitsOf(TINY, { cache: root });
    expect(b.cache).toEqual({ ...a.cache, hit: true });
    expect(b.logits).toEqual(a.logits);
    expect(b.greedy).toEqual(a.greedy);
    const none = await logitsOf(TINY, { cache: false });
    expect(none.cache).toEqual({ hit: false, dir: null, dtype: 'f32' });
    expect(none.logits).toEqual(a.logits);
  });

  // the built bundle (pnpm build) converts in a child process; from sources (as above) the load converts in-process
  const BUNDLE = join(import.meta.dirname, '..', 'packages', 'moe-runtime', 'dist', 'index.js');
  it.skipIf(!existsSync(BUNDLE))(
    'a cold load of the built package converts in a child process: same logits, its peak reported',
    async () => {
      const built = (await import(pathToFileURL(BUNDLE).href)) as { loadModel: typeof loadModel };
      const own = mkdtempSync(join(tmpdir(), 'mote-cache-'));
      for (const dtype of ['f32', 'int4'] as const) {
        const here = await logitsOf(TINY, { cache: own, dtype });
        const m = await built.loadModel(TINY, { threads: 1, cache: mkdtempSync(join(own, 'child-')), dtype });
        const r = await m.forward(IDS);
        const [g] = await m.generate([IDS[0]], { maxNewTokens: 5, stopTokens: [] });
        expect(m.cache!.hit).toBe(false);
        expect(m.cache!.convertPeakBytes).toBeGreaterThan(20e6); // a node process converted it (not this one)
        expect(r.logits!.data).toEqual(here.logits);
        expect(g.ids).toEqual(here.greedy);
        await m.dispose();
        expect(here.cache!.convertPeakBytes).toBeUndefined(); // sources convert in-process
      }
      rmSync(own, { recursive: true, force: true });
    },
  );

  it('keys by content: a copy of the checkpoint in another folder hits the same entry', async () => {
    const copy = mkdtempSync(join(tmpdir(), 'mote-ckpt-'));
    cpSync(TINY, copy, { recursive: true });
    const a = await logitsOf(TINY, { cache: root });
    const b = await logitsOf(copy, { cache: root });
    expect(b.cache!.hit).toBe(true);
    expect(b.cache!.dir).toBe(a.cache!.dir);
    rmSync(copy, { recursive: true, force: true });
  });

  it('each dtype has its own entry; the manifest records it', async () => {
    const a = await logitsOf(TINY, { cache: root, dtype: 'int8' });
    const b = await logitsOf(TINY, { cache: root, dtype: 'int8' });
    expect(a.cache!.hit).toBe(false);
    expect(b.cache!.hit).toBe(true);
    expect(b.logits).toEqual(a.logits);
    expect(JSON.parse(readFileSync(join(b.cache!.dir!, 'manifest.json'), 'utf8')).dtype).toBe('int8');
  });

  it('a damaged entry (graph removed, weights truncated) is rebuilt with a warning and gives the same logits', async () => {
    const own = mkdtempSync(join(tmpdir(), 'mote-cache-'));
    const a = await logitsOf(TINY, { cache: own });
    for (const damage of [() => rmSync(join(a.cache!.dir!, 'head.onnx')), () => truncateSync(join(a.cache!.dir!, 'layer0_ffn.bin'), 100)]) {
      damage();
      const log: string[] = [];
      const b = await logitsOf(TINY, { cache: own, log: (l) => log.push(l) });
      expect(log.join('\n')).toMatch(/warning: the weight cache entry .* is damaged .*rebuilding it/);
      expect(b.cache!.hit).toBe(false);
      expect(b.logits).toEqual(a.logits);
      expect((await logitsOf(TINY, { cache: own })).cache!.hit).toBe(true);
    }
    rmSync(own, { recursive: true, force: true });
  });

  it('a weight file rewritten in place with size and mtime restored is not served from the stale entry', async () => {
    const own = mkdtempSync(join(tmpdir(), 'mote-cache-'));
    const ck = mkdtempSync(join(tmpdir(), 'mote-ckpt-'));
    cpSync(ORGANISM, ck, { recursive: true });
    const file = join(ck, 'model.safetensors');
    utimesSync(file, 1.7e9, 1.7e9); // whole seconds: utimes can restore them exactly
    const a = await logitsOf(ck, { cache: own });
    expect(a.cache!.hit).toBe(false);
    const key = checkpointHash(ck);
    // lm_head rows at an offset the key's samples miss: only the file identity (ctime) can tell
    const { entries } = readSafetensorsHeader(file);
    const head = entries.find((e) => e.name === 'lm_head.weight')!;
    const st = statSync(file);
    const before = readFileSync(file);
    let changedAt = -1;
    for (let at = head.offset + 64; at + 4096 < head.offset + head.length; at += 8192) {
      const fd = openSync(file, 'r+');
      writeSync(fd, Buffer.alloc(4096, 0x3f), 0, 4096, at); // bf16 0x3f3f = 0.75: every value changes
      closeSync(fd);
      utimesSync(file, 1.7e9, 1.7e9);
      if (checkpointHash(ck) === key) {
        changedAt = at;
        break;
      }
      writeFileSync(file, before); // restore and try the next offset
      utimesSync(file, 1.7e9, 1.7e9);
    }
    expect(changedAt).toBeGreaterThan(0);
    expect(statSync(file).size).toBe(st.size);
    expect(statSync(file).mtimeMs).toBe(st.mtimeMs);
    const log: string[] = [];
    const b = await logitsOf(ck, { cache: own, log: (l) => log.push(l) });
    expect(log.join('\n')).toMatch(/differ from those the cache entry .* was built from .*rebuilding it/);
    expect(b.cache!.hit).toBe(false);
    expect(b.logits).not.toEqual(a.logits);
    const content = JSON.parse(readFileSync(join(b.cache!.dir!, '..', 'content.json'), 'utf8'));
    expect(content.sha256['model.safetensors']).toBe(createHash('sha256').update(readFileSync(file)).digest('hex'));
    // unchanged since: a hit without re-hashing; verify re-hashes and still hits
    expect((await logitsOf(ck, { cache: own })).cache!.hit).toBe(true);
    expect((await logitsOf(ck, { cache: own, verify: true })).cache!.hit).toBe(true);
    rmSync(own, { recursive: true, force: true });
    rmSync(ck, { recursive: true, force: true });
  });

  it('an unwritable cache root runs without a cache, with a warning', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'mote-cache-'));
    writeFileSync(join(tmp, 'file'), 'x');
    const log: string[] = [];
    const a = await logitsOf(TINY, { cache: join(tmp, 'file', 'cache'), log: (l) => log.push(l) });
    expect(log.join('\n')).toMatch(/warning: the weight cache .* is not writable .*running without a cache/);
    expect(a.cache).toEqual({ hit: false, dir: null, dtype: 'f32' });
    rmSync(tmp, { recursive: true, force: true });
  });

  it('a full cache disk runs without a cache, with a warning: too little free space up front, ENOSPC mid-write', async (ctx) => {
    const mnt = mkdtempSync(join(tmpdir(), 'mote-full-'));
    // a small tmpfs is a full disk; mounting needs root (CAP_SYS_ADMIN): skipped where that is not available
    const mount = (size: string) => spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mnt]).status === 0;
    if (!mount('64k')) {
      rmSync(mnt, { recursive: true, force: true });
      ctx.skip();
      return;
    }
    try {
      const ref = await logitsOf(TINY, { cache: false, dtype: 'int8' });
      let log: string[] = [];
      const a = await logitsOf(TINY, { cache: mnt, dtype: 'int8', log: (l) => log.push(l) });
      expect(log.join('\n')).toMatch(
        /warning: the weight cache .* has [\d.]+ GB free but the int8 entry needs about [\d.]+ GB; running without a cache/,
      );
      expect(a.cache).toEqual({ hit: false, dir: null, dtype: 'int8' });
      expect(a.logits).toEqual(ref.logits);
      spawnSync('umount', [mnt]);
      // enough for the up-front check (1.05 x the estimate), not for the files in 4 KiB pages: ENOSPC while writing
      expect(mount('616k')).toBe(true);
      log = [];
      const b = await logitsOf(TINY, { cache: mnt, dtype: 'int8', log: (l) => log.push(l) });
      expect(log.join('\n')).toMatch(/warning: writing the weight cache .* failed \(ENOSPC\); running without a cache/);
      expect(b.cache).toEqual({ hit: false, dir: null, dtype: 'int8' });
      expect(b.logits).toEqual(ref.logits);
      expect(readdirSync(mnt).flatMap((k) => readdirSync(join(mnt, k)))).toEqual([]); // the partial entry is gone
    } finally {
      spawnSync('umount', [mnt]);
      rmSync(mnt, { recursive: true, force: true });
    }
  });

  it('NaN or Inf in a weight is E_NONFINITE naming the tensor, at build time', async () => {
    const ck = mkdtempSync(join(tmpdir(), 'mote-ckpt-'));
    cpSync(TINY, ck, { recursive: true });
    const file = join(ck, 'model.safetensors');
    const { entries } = readSafetensorsHeader(file);
    const e = entries.find((x) => x.name === 'model.layers.1.self_attn.o_proj.weight')!;
    const bytes = e.dtype === 'F32' ? Buffer.from(new Float32Array([Number.POSITIVE_INFINITY]).buffer) : Buffer.from([0xc0, 0x7f]); // bf16 NaN
    const fd = openSync(file, 'r+');
    writeSync(fd, bytes, 0, bytes.length, e.offset + 6 * bytes.length);
    closeSync(fd);
    await expect(loadModel(ck, { threads: 1, cache: false })).rejects.toThrow(
      /E_NONFINITE.*model\.layers\.1\.self_attn\.o_proj\.weight.*at flat index 6/,
    );
    if (existsSync(BUNDLE)) {
      // the built package finds it in its conversion child: the same coded error, and no entry left behind
      const built = (await import(pathToFileURL(BUNDLE).href)) as { loadModel: typeof loadModel };
      const own = mkdtempSync(join(tmpdir(), 'mote-cache-'));
      const err = await built.loadModel(ck, { threads: 1, cache: own }).catch((x: unknown) => x as { code?: string; message: string });
      expect(err).toMatchObject({ code: 'E_NONFINITE', message: expect.stringMatching(/o_proj\.weight.*at flat index 6/) });
      expect(listCache(own)).toEqual([]);
      rmSync(own, { recursive: true, force: true });
    }
    rmSync(ck, { recursive: true, force: true });
  });

  it('cache ls lists entries with dtype, bytes and checkpoint; cache rm removes them', async () => {
    const own = mkdtempSync(join(tmpdir(), 'mote-cache-'));
    await logitsOf(TINY, { cache: own });
    await logitsOf(TINY, { cache: own, dtype: 'int8' });
    const ls = listCache(own);
    expect(ls.map((e) => e.dtype).sort()).toEqual(['f32', 'int8']);
    for (const e of ls) {
      expect(e.complete && e.current).toBe(true);
      expect(e.checkpoint).toBe(TINY);
      expect(e.bytes).toBe(readdirSync(e.dir).reduce((n, f) => n + statSync(join(e.dir, f)).size, 0));
    }
    expect(removeCache({ cache: own, match: 'int8' }).map((e) => e.dtype)).toEqual(['int8']);
    expect(listCache(own).map((e) => e.dtype)).toEqual(['f32']);
    // the CLI prints the same entries and removes them
    let out = '';
    const spy = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => {
      out += a.join(' ') + '\n';
    });
    try {
      await main(['node', 'mote', 'cache', 'ls', '--cache', own]);
      expect(out).toMatch(new RegExp(`^${ls[0].key.slice(0, 12)}  f32 .* ready .* ${TINY}\n1 entries, `));
      out = '';
      await main(['node', 'mote', 'cache', 'rm', '--all', '--cache', own]);
      expect(out).toMatch(/^removed .*\n1 entries removed, /);
    } finally {
      spy.mockRestore();
    }
    expect(listCache(own)).toEqual([]);
    expect(readdirSync(own)).toEqual([]);
    rmSync(own, { recursive: true, force: true });
  });
});
