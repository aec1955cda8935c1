// mote export: a policy written into a copy of the deepseek_v3 / gpt_oss fixtures gives, on the exported folder
// without a policy, the top-k ids, greedy ids and logits that the original folder gives with the policy; the
// folder is laid out as documented (copied config/tokenizer, linked unchanged shards, one new shard, index);
// each case that cannot be exact is refused with E_EXPORT naming `mote serve`.
import { cpSync, existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SafetensorsCheckpoint, writeSafetensors } from '@mote/tensor-core';
import { hookName, loadModel, type Policy } from '@mote/moe-runtime';
import { exportPolicy, EXPORT_SHARD } from '@mote/mote';

const FIX = join(__dirname, 'fixtures', 'tiny-moe');
const tmp = (p: string) => mkdtempSync(join(tmpdir(), p));

/** The fixture split into two shards (layers >= 2 in the second) with an index, so one shard can stay linked. */
function sharded(arch: string, configPatch: Record<string, unknown> = {}): string {
  const dir = tmp(`${arch}-sharded-`);
  const src = join(FIX, arch);
  for (const f of ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'])
    cpSync(join(src, f), join(dir, f));
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, ...configPatch }));
  const ck = SafetensorsCheckpoint.open(src);
  const late = (n: string) => /layers\.([2-9]|\d\d)\./.test(n);
  const map: Record<string, string> = {};
  for (const [file, pick] of [
    ['model-00001-of-00002.safetensors', (n: string) => !late(n)],
    ['model-00002-of-00002.safetensors', late],
  ] as const) {
    const names = ck.names().filter(pick);
    writeSafetensors(
      join(dir, file),
      names.map((n) => ({ name: n, dtype: ck.entry(n).dtype, shape: ck.entry(n).shape, bytes: ck.readBytes(n) })),
    );
    for (const n of names) map[n] = file;
  }
  ck.close();
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: map }));
  return dir;
}

async function compare(orig: string, exported: string, policy: Policy): Promise<void> {
  const a = await loadModel(orig, { threads: 1, cache: false });
  const b = await loadModel(exported, { threads: 1, cache: false });
  try {
    const batch = [[1, 5, 9, 13, 17, 21, 25, 29], [3, 8, 2, 40, 7], Array.from({ length: 12 }, (_, i) => (i * 37 + 11) % a.info.vocabSize)];
    const names = a.info.moeLayers.map((l) => hookName(l, 'topk_ids'));
    const ra = await a.runWithCache(batch, { names, policy, logits: 'all' });
    const rb = await b.runWithCache(batch, { names, logits: 'all' });
    const K = a.info.topK;
    let changedSomething = false;
    const plain = await a.runWithCache(batch, { names, logits: 'none' });
    for (const n of names) {
      const ia = ra.cache.get(n)!.tensor.data as Int32Array,
        ib = rb.cache.get(n)!.tensor.data as Int32Array,
        ip = plain.cache.get(n)!.tensor.data as Int32Array;
      for (let r = 0; r < ia.length / K; r++) {
        const sa = [...ia.subarray(r * K, (r + 1) * K)].sort((x, y) => x - y),
          sb = [...ib.subarray(r * K, (r + 1) * K)].sort((x, y) => x - y);
        expect(sb, `${n} row ${r}`).toEqual(sa);
        if (sa.join() !== [...ip.subarray(r * K, (r + 1) * K)].sort((x, y) => x - y).join()) changedSomething = true;
      }
    }
    expect(changedSomething).toBe(true); // the policy did change routing on these tokens
    const la = ra.logits!.data,
      lb = rb.logits!.data;
    let max = 0;
    for (let i = 0; i < la.length; i++) max = Math.max(max, Math.abs(la[i] - lb[i]));
    expect(max).toBeLessThan(1e-6);
    const ga = await a.generate(batch, { policy, maxNewTokens: 8 });
    const gb = await b.generate(batch, { maxNewTokens: 8 });
    expect(gb.map((g) => g.ids)).toEqual(ga.map((g) => g.ids));
  } finally {
    await a.dispose();
    await b.dispose();
  }
}

describe('mote export', () => {
  it('deepseek_v3 (group-limited): exclude + bias are exact; layout as documented', async () => {
    const src = sharded('deepseek_v3');
    const policy: Policy = {
      name: 'ds-off',
      interventions: [
        { mode: 'exclude', layer: 1, expert: 3 },
        { mode: 'exclude', layer: 1, expert: 9 },
        { mode: 'exclude', layer: 1, expert: 14 },
        { mode: 'bias', layer: 1, expert: 6, value: 0.75 },
        { mode: 'bias', layer: 1, expert: 0, value: -0.4 },
      ],
    };
    const out = join(tmp('ds-export-'), 'out');
    const r = exportPolicy({ model: src, policy, out });
    expect(r.changed).toEqual(['model.layers.1.mlp.gate.e_score_correction_bias']);
    expect(r.rewritten).toEqual(['model-00001-of-00002.safetensors']);
    expect(r.linked).toEqual(['model-00002-of-00002.safetensors']);
    const link = join(out, 'model-00002-of-00002.safetensors');
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readlinkSync(link).startsWith('/')).toBe(false);
    const index = JSON.parse(readFileSync(join(out, 'model.safetensors.index.json'), 'utf8'));
    expect(index.weight_map['model.layers.1.mlp.gate.e_score_correction_bias']).toBe(EXPORT_SHARD);
    for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'mote-policy.json', 'MOTE-EXPORT.md'])
      expect(existsSync(join(out, f)), f).toBe(true);
    const ck = SafetensorsCheckpoint.open(out); // loads: every tensor once, in the shard the index names
    expect(ck.entry('model.layers.1.mlp.gate.e_score_correction_bias').dtype).toBe('F32');
    ck.close();
    await compare(src, out, policy);
  });

  it('deepseek_v3 force: exact when every group is kept, refused with group limits', async () => {
    const src = sharded('deepseek_v3', { topk_group: 4 });
    const policy: Policy = {
      name: 'ds-force',
      interventions: [
        { mode: 'force', layer: 1, expert: 5 },
        { mode: 'force', layer: 2, expert: 12 },
        { mode: 'exclude', layer: 2, expert: 1 },
      ],
    };
    const out = join(tmp('ds-force-'), 'out');
    exportPolicy({ model: src, policy, out, copy: true });
    expect(lstatSync(join(out, 'model-00002-of-00002.safetensors')).isSymbolicLink()).toBe(false);
    await compare(src, out, policy);
    expect(() => exportPolicy({ model: join(FIX, 'deepseek_v3'), policy, out: join(tmp('x-'), 'o') })).toThrow(
      /E_EXPORT.*group.*mote serve/,
    );
    // why it is refused: the same +2^24 bias under group limits (topk_group 2 of 4) routes differently from
    // mote's force, because the boosted expert's group is always kept
    const naive = join(tmp('ds-naive-'), 'out');
    cpSync(out, naive, { recursive: true });
    const cfg = JSON.parse(readFileSync(join(naive, 'config.json'), 'utf8'));
    writeFileSync(join(naive, 'config.json'), JSON.stringify({ ...cfg, topk_group: 2 }));
    const grouped = sharded('deepseek_v3');
    await expect(compare(grouped, naive, policy)).rejects.toThrow(/topk_ids row/);
  });

  it('gpt_oss exclude is exact', async () => {
    const src = sharded('gpt_oss');
    const policy: Policy = {
      name: 'oss-off',
      interventions: [
        { mode: 'exclude', layer: 0, expert: 2 },
        { mode: 'exclude', layer: 1, expert: 5 },
        { mode: 'exclude', layer: 1, expert: 0 },
      ],
    };
    const out = join(tmp('oss-export-'), 'out');
    exportPolicy({ model: src, policy, out });
    await compare(src, out, policy);
  });

  it('refused cases name what works instead', () => {
    const ds = join(FIX, 'deepseek_v3'),
      oss = join(FIX, 'gpt_oss');
    const o = () => join(tmp('refuse-'), 'o');
    const cases: Array<[string, Policy, RegExp]> = [
      [ds, { interventions: [{ mode: 'drop', layer: 1, expert: 2 }] }, /drop/],
      [ds, { interventions: [{ mode: 'scale', layer: 1, expert: 2, value: 0.5 }] }, /scale/],
      [ds, { interventions: [{ mode: 'exclude', layer: 1, expert: 2, scope: 'generated' }] }, /scope/],
      [ds, { interventions: [{ mode: 'exclude', layer: 1, expert: 2, scope: { from: 0, to: 4 } }] }, /scope/],
      [oss, { interventions: [{ mode: 'force', layer: 1, expert: 2 }] }, /only exclude/],
      [oss, { interventions: [{ mode: 'bias', layer: 1, expert: 2, value: 1 }] }, /only exclude/],
      [join(FIX, 'qwen3_moe'), { interventions: [{ mode: 'exclude', layer: 0, expert: 2 }] }, /no selection bias/],
      [join(FIX, 'mixtral'), { interventions: [{ mode: 'exclude', layer: 0, expert: 2 }] }, /no selection bias/],
    ];
    for (const [model, policy, re] of cases) {
      let err: unknown = null;
      try {
        exportPolicy({ model, policy, out: o() });
      } catch (e) {
        err = e;
      }
      expect(String(err), JSON.stringify(policy)).toMatch(/E_EXPORT/);
      expect(String(err)).toMatch(re);
      expect(String(err)).toMatch(/mote serve/);
    }
  });
});
