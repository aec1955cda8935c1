// The ftri analyses (attribution, logit lens, patching, ablation) on fixture checkpoints, checked against the HF
// goldens and the router interventions: they use only the runtime's public hooks and unembed().
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hookName, type Model } from '@mote/moe-runtime';
import { expertAblation, expertAttribution, logitLens, patchSweep } from '@mote/ftri';
import { loadGoldenModel, readGolden } from './parity.js';

describe('analyses on qwen2_moe (shared expert, no renormalisation)', () => {
  const g = readGolden('qwen2_moe');
  let model: Model;
  beforeAll(async () => {
    model = await loadGoldenModel(g);
  });
  afterAll(async () => {
    await model.dispose();
  });

  it('direct logit attributions of embedding, attention, experts and shared experts add up to the HF logit', async () => {
    const c = g.cases[1];
    const T = c.input_ids.length;
    const p = T - 1;
    const { hiddenSize: D, vocabSize: V, layerCount, moeLayers } = model.info;
    const want = c.logits[p];
    const target = want.indexOf(Math.max(...want));
    const [attr] = [await expertAttribution(model, [{ ids: c.input_ids, target }])];
    // the other components, unembedded with the same frozen final-norm scale
    const names = [
      hookName(0, 'resid_pre'),
      hookName(layerCount - 1, 'resid_post'),
      ...Array.from({ length: layerCount }, (_, l) => hookName(l, 'attn_out')),
      ...moeLayers.map((l) => hookName(l, 'moe_shared')),
    ];
    const { cache } = await model.runWithCache([c.input_ids], { names });
    const parts = names.filter((n) => !n.endsWith('resid_post'));
    const x = new Float32Array(parts.length * D);
    parts.forEach((n, i) => x.set(cache.row(n, 0).data.subarray(p * D, (p + 1) * D), i * D));
    const final = cache.row(hookName(layerCount - 1, 'resid_post'), 0).data.subarray(p * D, (p + 1) * D);
    const scale = new Float32Array(parts.length * D);
    parts.forEach((_, i) => scale.set(final, i * D));
    const lg = await model.unembed(
      { dtype: 'float32', shape: [parts.length, D], data: x },
      { scaleFrom: { dtype: 'float32', shape: [parts.length, D], data: scale } },
    );
    let total = 0;
    parts.forEach((_, i) => {
      total += lg.data[i * V + target];
    });
    total += attr.reduce((s, e) => s + e.score, 0);
    expect(Math.abs(total - want[target])).toBeLessThan(1e-4);
    // each expert was chosen at most once (one item), and exactly K per MoE layer
    expect(attr.reduce((s, e) => s + e.chosen, 0)).toBe(moeLayers.length * model.info.topK);
  });

  it('the logit lens of the last layer is the model prediction', async () => {
    const c = g.cases[0];
    const last = c.logits[c.logits.length - 1];
    const top = last.indexOf(Math.max(...last));
    const rows = await logitLens(model, c.input_ids, { target: top, topN: 3 });
    expect(rows).toHaveLength(model.info.layerCount);
    expect(rows.at(-1)!.top[0].id).toBe(top);
    expect(rows.at(-1)!.target!.rank).toBe(1);
    expect(Math.abs(rows.at(-1)!.target!.logit - last[top])).toBeLessThan(1e-4);
  });

  it('patching the whole clean residual into the corrupted run restores the clean metric', async () => {
    const clean = g.cases[1].input_ids;
    const corrupt = [...clean].reverse();
    const metric = (lg: Float32Array) => lg[5] - lg[7];
    const names = [hookName(0, 'resid_pre'), hookName(model.info.layerCount - 1, 'resid_post')];
    const r = await patchSweep(model, { clean, corrupt, names, metric });
    for (const x of r) expect(Math.abs(x.recovered - 1)).toBeLessThan(1e-4);
    const lastOnly = await patchSweep(model, { clean, corrupt, names: names.slice(1), metric, position: 'last' });
    expect(Math.abs(lastOnly[0].recovered - 1)).toBeLessThan(1e-4); // the last layer's last token decides alone
  });

  it('expert ablation equals the drop intervention (no renormalisation here)', async () => {
    const ids = g.cases[1].input_ids;
    const l = model.info.moeLayers[0];
    const metric = (lg: Float32Array) => lg[11];
    const r = await expertAblation(model, { ids, metric, layers: [l] });
    const used = r.filter((x) => x.effect !== 0);
    expect(used.length).toBeGreaterThan(0);
    for (const x of used.slice(0, 3)) {
      const d = await model.forward([ids], { logits: 'last', policy: { interventions: [{ mode: 'drop', layer: l, expert: x.expert }] } });
      expect(Math.abs(metric(d.logits!.data) - x.metric)).toBeLessThan(1e-5);
    }
  });
});
