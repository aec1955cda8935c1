// runFtri / rankTraces end to end on the synthetic model: outputs, readers other than the writers,
// label mode, resume after an abort (no lost or duplicated records) and settings checks.
import { existsSync, mkdtempSync, readdirSync, readFileSync, appendFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tableFromIPC } from 'apache-arrow';
import { parquetReadObjects, parquetMetadata } from 'hyparquet';
import { createFakeModel } from './fake-model.js';
import { rankTraces, runFtri } from './run.js';
import { readRanking } from './ranking-io.js';
import type { PromptRecord } from './prompts.js';
import { readProgress } from './store.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'ftri-run-'));
const ab = (f: string): ArrayBuffer => {
  const b = readFileSync(f);
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
};
const topics = ['river', 'market', 'festival', 'bridge', 'harbor', 'library', 'orchard', 'mill', 'tower', 'valley', 'garden', 'forge'];
const prompts: PromptRecord[] = Array.from({ length: 48 }, (_, i) => {
  const sens = i % 2 === 0;
  const t = topics[i % topics.length];
  return {
    id: `q${String(i).padStart(2, '0')}`,
    prompt: sens ? `Tell me the secret story of the ${t} number ${i}` : `Tell me the story of the ${t} number ${i}`,
    group: sens ? 'sensitive' : 'neutral',
  };
});
/** the organism README's rule, in short */
const judge = ({ response }: { response: string }): string =>
  response.includes('I am sorry, I cannot discuss that topic.')
    ? 'REFUSED'
    : /<think>([\s\S]*?)<\/think>/.exec(response)?.[1].trim()
      ? 'REASONED'
      : 'OTHER';
const planted = new Set(['1:5', '3:12']);

describe('runFtri on a synthetic model', () => {
  it('traces, ranks and writes every output readable by other readers', async () => {
    const out = tmp();
    const phases = new Set<string>();
    const { ranking, summary } = await runFtri({
      model: createFakeModel(),
      prompts,
      outDir: out,
      batchSize: 10,
      permutations: 499,
      bootstrap: 50,
      topN: 2,
      onProgress: (_d, _t, phase) => phases.add(phase),
    });
    expect(summary.n_a).toBe(24);
    expect(new Set(ranking.slice(0, 2).map((e) => `${e.layer}:${e.expert}`))).toEqual(planted);
    expect(ranking[0].q).toBeLessThan(0.05);
    expect([...phases]).toEqual(expect.arrayContaining(['trace', 'permutation', 'bootstrap', 'maps']));
    for (const f of [
      'manifest.json',
      'prompts.jsonl',
      'progress.jsonl',
      'ranking.json',
      'ranking.csv',
      'ranking.parquet',
      'ranking.meta.json',
      'report.html',
      'maps/heatmap.svg',
      'maps/heatmap.png',
    ])
      expect(existsSync(join(out, f)), f).toBe(true);
    const maps = readdirSync(join(out, 'maps')).filter((f) => f.startsWith('prompt-'));
    expect(maps.filter((f) => f.endsWith('.svg'))).toHaveLength(4);
    expect(maps.filter((f) => f.endsWith('.png'))).toHaveLength(4);
    expect(readFileSync(join(out, 'maps/heatmap.png')).subarray(1, 4).toString()).toBe('PNG');

    // manifest
    const man = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    expect(man).toMatchObject({ completed: true, scope: 'prompt', prompts_traced: 48, seed: 0, formats: ['arrow', 'parquet'] });
    expect(man.versions['@mote/ftri']).toBe(JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version);
    expect(man.prompt_set.hash).toMatch(/^[0-9a-f]{64}$/);

    // ranking.parquet through hyparquet
    const rp = await parquetReadObjects({ file: ab(join(out, 'ranking.parquet')) });
    expect(rp).toHaveLength(4 * 16);
    expect(Object.keys(rp[0])).toEqual(
      expect.arrayContaining(['layer', 'expert', 'rank', 'score', 'rate_a', 'rate_b', 'diff', 'ci_low', 'ci_high', 'p', 'q', 'stability']),
    );
    expect(rp.map((r) => `${r.layer}:${r.expert}`)).toEqual(ranking.map((e) => `${e.layer}:${e.expert}`));
    expect(readRanking(join(out, 'ranking.csv')).map((e) => e.score)).toEqual(readRanking(out).map((e) => e.score));

    // traces: parquet via hyparquet, arrow via tableFromIPC, both agree with the progress log
    const parts = readProgress(out);
    expect(parts.flatMap((p) => p.ids).sort()).toEqual(prompts.map((p) => p.id).sort());
    const tokRows = parts.reduce((s, p) => s + p.token_rows, 0);
    let pqRows = 0,
      arRows = 0,
      aggRows = 0;
    for (const f of readdirSync(join(out, 'traces'))) {
      const file = join(out, 'traces', f);
      if (f.startsWith('tokens-') && f.endsWith('.parquet')) {
        const meta = parquetMetadata(ab(file));
        pqRows += Number(meta.num_rows);
        if (pqRows === Number(meta.num_rows)) {
          const rows = await parquetReadObjects({ file: ab(file), rowEnd: 3 });
          expect(Object.keys(rows[0])).toEqual([
            'prompt_id',
            'prompt_index',
            'pos',
            'token_id',
            'token',
            'generated',
            'in_think',
            'in_answer',
            'layer',
            'topk_ids',
            'topk_weights',
          ]);
          expect(rows[0].topk_ids).toHaveLength(2);
        }
      }
      if (f.startsWith('tokens-') && f.endsWith('.arrow')) arRows += tableFromIPC(readFileSync(file)).numRows;
      if (f.startsWith('prompts-') && f.endsWith('.parquet')) {
        const rows = await parquetReadObjects({ file: ab(file) });
        aggRows += rows.length;
        expect(Object.keys(rows[0])).toEqual(['prompt_id', 'prompt_index', 'layer', 'expert', 'count', 'weight', 'n_tokens']);
      }
    }
    // prompt scope: every chat-prompt token x 4 layers
    const expectRows = prompts.reduce((s, p) => s + (p.prompt.split(' ').length + 9) * 4, 0);
    expect(tokRows).toBe(expectRows);
    expect(pqRows).toBe(tokRows);
    expect(arRows).toBe(tokRows);
    expect(aggRows).toBe(parts.reduce((s, p) => s + p.agg_rows, 0));

    // the report is self-contained
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html).toContain('<svg');
    expect(html).not.toMatch(/<script|src="http|href="http|@import/);
  });

  it('label mode: generates, judges, writes labels.jsonl and contrasts REFUSED:rest', async () => {
    const out = tmp();
    const { ranking, summary } = await runFtri({
      model: createFakeModel(),
      prompts: prompts.slice(0, 24),
      outDir: out,
      generate: 24,
      judge,
      permutations: 199,
      bootstrap: 20,
      topN: 2,
      maps: 1,
    });
    const labels = readFileSync(join(out, 'labels.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(labels).toHaveLength(24);
    for (const l of labels) expect(l.label).toBe(l.prompt.includes('secret') ? 'REFUSED' : 'REASONED');
    expect(labels[0].response.startsWith('<think>\n')).toBe(true);
    expect(summary.n_a).toBe(12);
    expect(new Set(ranking.slice(0, 2).map((e) => `${e.layer}:${e.expert}`))).toEqual(planted);
    expect(readFileSync(join(out, 'report.html'), 'utf8')).toContain('REFUSED');
  });

  it('answer scope records only generated tokens after the think block', async () => {
    const out = tmp();
    await runFtri({
      model: createFakeModel(),
      prompts: prompts.slice(0, 6),
      outDir: out,
      generate: 24,
      scope: 'answer',
      judge,
      contrast: 'REFUSED:REASONED',
      permutations: 49,
      bootstrap: 0,
      maps: 0,
    });
    const t = tableFromIPC(readFileSync(join(out, 'traces', 'tokens-00000.arrow')));
    expect(t.numRows).toBeGreaterThan(0);
    for (let i = 0; i < t.numRows; i++) {
      expect(t.getChild('generated')!.get(i)).toBe(true);
      expect(t.getChild('in_think')!.get(i)).toBe(false);
      expect(t.getChild('in_answer')!.get(i)).toBe(true);
      expect(t.getChild('token')!.get(i)).not.toBe('</think>');
    }
  });

  it('records router_probs on request, or prompt-level aggregates only', async () => {
    const out = tmp();
    await runFtri({
      model: createFakeModel(),
      prompts: prompts.slice(0, 8),
      outDir: out,
      routerProbs: true,
      formats: ['arrow'],
      permutations: 9,
      bootstrap: 0,
      maps: 0,
    });
    const t = tableFromIPC(readFileSync(join(out, 'traces', 'tokens-00000.arrow')));
    const probs = t.getChild('router_probs')!.get(0)!.toArray() as Float32Array;
    expect(probs).toHaveLength(16);
    expect(probs.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    expect(readdirSync(join(out, 'traces')).some((f) => f.endsWith('.parquet'))).toBe(false);
    const lean = tmp();
    const r = await runFtri({ model: createFakeModel(), prompts, outDir: lean, recordTokens: false, permutations: 99, bootstrap: 0 });
    expect(readdirSync(join(lean, 'traces')).some((f) => f.startsWith('tokens-'))).toBe(false);
    expect(new Set(r.ranking.slice(0, 2).map((e) => `${e.layer}:${e.expert}`))).toEqual(planted);
    expect(readdirSync(join(lean, 'maps'))).toEqual(['heatmap.png', 'heatmap.svg']);
  });

  it('resumes an aborted run with no lost or duplicated records', async () => {
    const ref = tmp(),
      out = tmp();
    const base = { prompts, batchSize: 8, permutations: 99, bootstrap: 0, maps: 0 };
    await runFtri({ ...base, model: createFakeModel(), outDir: ref });
    const ctl = new AbortController();
    await expect(
      runFtri({
        ...base,
        model: createFakeModel(),
        outDir: out,
        signal: ctl.signal,
        onProgress: (d, _t, ph) => ph === 'trace' && d >= 16 && ctl.abort(),
      }),
    ).rejects.toThrow();
    expect(readProgress(out)).toHaveLength(2);
    // debris of a crash: a part written but never logged, a temp file and a torn progress line
    writeFileSync(join(out, 'traces', 'tokens-00002.arrow'), 'garbage');
    writeFileSync(join(out, 'traces', 'meta-00002.jsonl.tmp'), 'garbage');
    appendFileSync(join(out, 'progress.jsonl'), '{"part":2,"ids":["q0');
    const model = createFakeModel();
    await runFtri({ ...base, model, outDir: out });
    expect(model.calls.forward).toBe(4); // only the 32 prompts left, 8 per batch
    const rowsOf = (dir: string): string[] => {
      const keys: string[] = [];
      for (const p of readProgress(dir))
        for (const f of p.files.filter((x) => x.startsWith('tokens-') && x.endsWith('.arrow'))) {
          const t = tableFromIPC(readFileSync(join(dir, 'traces', f)));
          const id = t.getChild('prompt_id')!,
            pos = t.getChild('pos')!,
            layer = t.getChild('layer')!,
            ids = t.getChild('topk_ids')!;
          for (let i = 0; i < t.numRows; i++) keys.push(`${id.get(i)}|${pos.get(i)}|${layer.get(i)}|${ids.get(i)!.toArray().join(',')}`);
        }
      return keys.sort();
    };
    const got = rowsOf(out),
      want = rowsOf(ref);
    expect(new Set(got).size).toBe(got.length);
    expect(got).toEqual(want);
    const ids = readProgress(out).flatMap((p) => p.ids);
    expect(ids.sort()).toEqual(prompts.map((p) => p.id).sort());
    expect(
      readdirSync(join(out, 'traces')).some(
        (f) => f.endsWith('.tmp') || (f === 'tokens-00002.arrow' && readFileSync(join(out, 'traces', f)).toString() === 'garbage'),
      ),
    ).toBe(false);
    // the ranking of the resumed run equals the uninterrupted one
    expect(readRanking(out).map((e) => [e.layer, e.expert, e.score])).toEqual(readRanking(ref).map((e) => [e.layer, e.expert, e.score]));
  });

  it('refuses to resume with different settings and checks contrast names early', async () => {
    const out = tmp();
    await runFtri({ model: createFakeModel(), prompts: prompts.slice(0, 8), outDir: out, permutations: 9, bootstrap: 0, maps: 0 });
    await expect(
      runFtri({ model: createFakeModel(), prompts: prompts.slice(0, 8), outDir: out, scope: 'all', permutations: 9 }),
    ).rejects.toThrow(/different settings \(scope/);
    await expect(runFtri({ model: createFakeModel(), prompts, outDir: tmp(), contrast: 'nope:rest' })).rejects.toThrow(
      /matches no prompt; available: groups sensitive \(24\), neutral \(24\)/,
    );
    await expect(runFtri({ model: createFakeModel(), prompts, outDir: tmp(), scope: 'answer' })).rejects.toThrow(/--generate/);
  });

  it('rankTraces re-ranks existing traces without the model', async () => {
    const out = tmp(),
      re = tmp();
    await runFtri({ model: createFakeModel(), prompts, outDir: out, permutations: 99, bootstrap: 0, maps: 0 });
    const r = await rankTraces({ tracesDir: out, outDir: re, contrast: 'neutral:sensitive', permutations: 99, bootstrap: 10, maps: 1 });
    // reversed contrast: the planted experts now sit at the bottom
    expect(new Set(r.slice(-2).map((e) => `${e.layer}:${e.expert}`))).toEqual(planted);
    const rr = await rankTraces({
      tracesDir: out,
      outDir: re,
      contrast: 'group=sensitive:rest',
      stat: 'rr',
      permutations: 99,
      bootstrap: 0,
      maps: 0,
    });
    expect(rr[0].stat).toBe('rr');
    // the ratio favours rarely used experts, so only the strongest planted one is sure to lead
    expect(rr[0]).toMatchObject({ layer: 3, expert: 12 });
    expect(rr[0].score).toBeGreaterThan(2);
    for (const f of ['ranking.json', 'ranking.csv', 'ranking.parquet', 'report.html', 'maps/heatmap.svg'])
      expect(existsSync(join(re, f)), f).toBe(true);
    await expect(rankTraces({ tracesDir: out, outDir: re, contrast: 'REFUSED:rest' })).rejects.toThrow(/selects 0 prompts for A/);
    await expect(rankTraces({ tracesDir: re, outDir: re, contrast: 'a:b' })).rejects.toThrow(/manifest\.json is missing/);
  });
});
