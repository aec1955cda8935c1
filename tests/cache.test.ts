// The weight cache: the first load builds and writes <root>/<content hash>/<dtype>-<runtime>/, the second
// load hits it and gives the same logits; the key is the checkpoint's content (a copy elsewhere hits
// too); a damaged cache fails with a coded error that names the folder; cache: false builds in memory.

import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '@mote/moe-runtime';

const TINY = join(import.meta.dirname, 'fixtures', 'tiny-moe', 'qwen3_moe');
const IDS = [[0, 17, 4, 99, 23, 8], [0, 3, 5]];

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
  beforeAll(() => { root = mkdtempSync(join(tmpdir(), 'mote-cache-')); });
  afterAll(() => { rmSync(root, { recursive: true, force: true }); });

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

  it('a damaged entry fails with E_IO naming the folder', async () => {
    const own = mkdtempSync(join(tmpdir(), 'mote-cache-'));
    const a = await logitsOf(TINY, { cache: own });
    rmSync(join(a.cache!.dir!, 'head.onnx'));
    await expect(loadModel(TINY, { threads: 1, cache: own })).rejects.toThrow(/E_IO.*has no graph head.*delete that folder/);
    rmSync(own, { recursive: true, force: true });
  });
});
