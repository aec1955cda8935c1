// Hook points beyond the router on every fixture architecture: the residual stream against the HF goldens'
// layer_outputs / final_hidden_state, and the consistency of attn/moe/expert outputs, patching and unembedding.
// Tolerances from tests/fixtures/README.md: hidden states and logits 1e-4.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { hookName, loadModel, type F32Tensor, type HookMap, type Model, type Tensor } from '@mote/moe-runtime';
import { loadGoldenModel, maxAbsDiff, readGolden } from './parity.js';

const ARCHS = ['deepseek_v3', 'qwen3_moe', 'mixtral', 'olmoe', 'qwen2_moe', 'gpt_oss', 'deepseek_v2'];

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
const copy = (t: Tensor): Tensor => ({ ...t, data: t.data.slice() }) as Tensor;

/** max errors per architecture, printed at the end (the parity table) */
const errors: Record<string, { resid: number; final: number; unembed: number; mix: number }> = {};

for (const arch of ARCHS) {
  describe(`${arch}: hook points beyond the router`, () => {
    const g = readGolden(arch);
    let model: Model;
    beforeAll(async () => {
      model = await loadGoldenModel(g);
    });
    afterAll(async () => {
      await model.dispose();
    });

    it('resid_post of every layer and final_norm equal HF layer_outputs / final_hidden_state (batched, padded)', async () => {
      const seqs = g.cases.map((c) => c.input_ids);
      const { cache } = await model.runWithCache(seqs, { names: ['blocks.*.resid_post', 'final_norm'], logits: 'none' });
      expect([...cache.keys()].length).toBe(model.info.layerCount + 1); // only what was asked for
      const D = model.info.hiddenSize;
      let resid = 0;
      let final = 0;
      g.cases.forEach((c, b) => {
        for (let l = 0; l < model.info.layerCount; l++) {
          const got = cache.row(hookName(l, 'resid_post'), b); // [T_b, D]
          expect(got.shape).toEqual([c.input_ids.length, D]);
          resid = Math.max(resid, maxAbsDiff((c as unknown as { layer_outputs: number[][][] }).layer_outputs[l], got.data, D));
        }
        final = Math.max(
          final,
          maxAbsDiff((c as unknown as { final_hidden_state: number[][] }).final_hidden_state, cache.row('final_norm', b).data, D),
        );
      });
      errors[arch] = { ...errors[arch], resid, final };
      expect(resid).toBeLessThan(1e-4);
      expect(final).toBeLessThan(1e-4);
      // stack: [B, T, D] with row b's position t at [b, t], zeros after its end
      const st = cache.stack(hookName(0, 'resid_post'));
      expect(st.shape).toEqual([seqs.length, cache.length, D]);
      const short = g.cases[0].input_ids.length;
      expect(maxDiff(st.data.subarray(0, short * D), cache.row(hookName(0, 'resid_post'), 0).data)).toBe(0);
      expect(st.data.subarray(short * D, cache.length * D).every((v) => v === 0)).toBe(true);
      expect(Array.from(cache.masks.valid.subarray(0, cache.length)).filter((v) => v).length).toBe(short);
    });

    it('the residual stream adds up: resid_pre + attn_out = resid_mid, resid_mid + moe_out = resid_post', async () => {
      const ids = g.cases[1].input_ids;
      const { cache } = await model.runWithCache([ids], { names: [/resid|attn_out|moe_out$/] });
      for (let l = 0; l < model.info.layerCount; l++) {
        const pre = cache.stack(hookName(l, 'resid_pre')).data;
        const attn = cache.stack(hookName(l, 'attn_out')).data;
        const mid = cache.stack(hookName(l, 'resid_mid')).data;
        expect(
          maxDiff(
            pre.map((v, i) => v + attn[i]),
            mid,
          ),
        ).toBeLessThan(1e-5);
        if (l > 0) expect(maxDiff(pre, cache.stack(hookName(l - 1, 'resid_post')).data)).toBe(0);
        if (!model.info.moeLayers.includes(l)) continue;
        const moe = cache.stack(hookName(l, 'moe_out')).data;
        expect(
          maxDiff(
            mid.map((v, i) => v + moe[i]),
            cache.stack(hookName(l, 'resid_post')).data,
          ),
        ).toBeLessThan(1e-5);
      }
    });

    it('unembedding the final residual equals the logits', async () => {
      const c = g.cases[1];
      const L = model.info.layerCount - 1;
      const { cache } = await model.runWithCache([c.input_ids], { names: [hookName(L, 'resid_post')], logits: 'none' });
      const lg = await model.unembed(cache.row(hookName(L, 'resid_post'), 0));
      const err = maxAbsDiff(c.logits, lg.data, model.info.vocabSize);
      errors[arch] = { ...errors[arch], unembed: err };
      expect(err).toBeLessThan(1e-4);
      // with its own scale, the linear form is the same map
      const h = cache.row(hookName(L, 'resid_post'), 0);
      expect(maxDiff((await model.unembed(h, { scaleFrom: h })).data, lg.data)).toBeLessThan(1e-5);
    });

    it('sum over slots of expert_out x applied weight, plus the shared expert, equals moe_out', async () => {
      const ids = g.cases[2].input_ids;
      const { hiddenSize: D, topK: K } = model.info;
      const names = model.info.moeLayers.flatMap((l) =>
        ['expert_out', 'topk_weights', 'moe_routed', 'moe_shared', 'moe_out'].map((p) => hookName(l, p as 'moe_out')),
      );
      const { cache } = await model.runWithCache([ids], { names });
      let mix = 0;
      for (const l of model.info.moeLayers) {
        const eo = cache.row(hookName(l, 'expert_out'), 0).data; // [T, K, D]
        const w = cache.row(hookName(l, 'topk_weights'), 0).data; // [T, K]
        const shared = cache.row(hookName(l, 'moe_shared'), 0).data; // [T, D]
        const moe = cache.row(hookName(l, 'moe_out'), 0).data; // [T, D]
        const sum = new Float32Array(moe.length);
        for (let t = 0; t < ids.length; t++) {
          for (let j = 0; j < K; j++) for (let d = 0; d < D; d++) sum[t * D + d] += w[t * K + j] * eo[(t * K + j) * D + d];
        }
        const routed = cache.row(hookName(l, 'moe_routed'), 0).data;
        mix = Math.max(
          mix,
          maxDiff(sum, routed),
          maxDiff(
            sum.map((v, i) => v + shared[i]),
            moe,
          ),
        );
        if (model.info.sharedExpertCount === 0) expect(shared.every((v) => v === 0)).toBe(true);
      }
      errors[arch] = { ...errors[arch], mix };
      expect(mix).toBeLessThan(1e-5);
    });

    it('patching a run with its own activations changes nothing (every point, replaced by a copy)', async () => {
      const ids = g.cases[1].input_ids;
      const base = await model.forward([ids]);
      const points = ['resid_pre', 'attn_out', 'resid_mid', 'resid_post', 'moe_out', 'moe_routed', 'moe_shared', 'expert_out'] as const;
      const hooks: HookMap = { final_norm: copy, logits: copy };
      for (let l = 0; l < model.info.layerCount; l++) {
        for (const p of points)
          if (model.info.moeLayers.includes(l) || p.startsWith('resid') || p === 'attn_out') hooks[hookName(l, p)] = copy;
      }
      const patched = await model.forward([ids], { hooks });
      expect(maxDiff(patched.logits!.data as Float32Array, base.logits!.data as Float32Array)).toBeLessThan(1e-4);
      // and hooks never leak into the next call
      expect(maxDiff((await model.forward([ids])).logits!.data as Float32Array, base.logits!.data as Float32Array)).toBe(0);
    });
  });
}

describe('expert_out patching against the router intervention', () => {
  // olmoe and qwen2_moe do not renormalise top-k weights (norm_topk_prob false): zeroing an expert's output is
  // exactly `drop` (its weight 0, the others unchanged)
  for (const arch of ['olmoe', 'qwen2_moe']) {
    it(`${arch}: zeroing one expert's expert_out equals the drop intervention`, async () => {
      const g = readGolden(arch);
      const model = await loadGoldenModel(g);
      try {
        const ids = g.cases[1].input_ids;
        const l = model.info.moeLayers[0];
        const { cache } = await model.runWithCache([ids], { names: [hookName(l, 'topk_ids')] });
        const chosen = cache.row(hookName(l, 'topk_ids'), 0).data; // [T, K] int32, no cast needed
        const expert = chosen[0];
        let ids0: Int32Array | null = null;
        const { topK: K, hiddenSize: D } = model.info;
        const hooks: HookMap = {
          [hookName(l, 'topk_ids')]: (t) => {
            ids0 = t.data as Int32Array;
          },
          [hookName(l, 'expert_out')]: (t) => {
            const out = t.data.slice() as Float32Array;
            for (let s = 0; s < t.shape[0] * K; s++) if (ids0![s] === expert) out.fill(0, s * D, (s + 1) * D);
            return { ...t, data: out } as F32Tensor;
          },
        };
        const patched = await model.forward([ids], { hooks });
        const dropped = await model.forward([ids], { policy: { interventions: [{ mode: 'drop', layer: l, expert }] } });
        const base = await model.forward([ids]);
        const a = patched.logits!.data as Float32Array;
        expect(maxDiff(a, dropped.logits!.data as Float32Array)).toBeLessThan(1e-5);
        expect(maxDiff(a, base.logits!.data as Float32Array)).toBeGreaterThan(1e-3); // the expert mattered
      } finally {
        await model.dispose();
      }
    });
  }
});

describe('hooks in generate and the cache API', () => {
  it('a logits hook steers greedy decoding; the typed cache selects by wildcard and RegExp', async () => {
    const g = readGolden('qwen3_moe');
    const model = await loadGoldenModel(g);
    try {
      const ids = g.cases[0].input_ids;
      const [base] = await model.generate([ids], { maxNewTokens: 3, stopTokens: [] });
      const banned = base.ids[0];
      const ban = (t: Tensor) => {
        const d = t.data.slice() as Float32Array;
        for (let n = 0; n < t.shape[0]; n++) d[n * t.shape[1] + banned] = -1e9;
        return { ...t, data: d } as F32Tensor;
      };
      const [steered] = await model.generate([ids], { maxNewTokens: 3, stopTokens: [], hooks: { logits: ban } });
      expect(steered.ids).not.toContain(banned);
      const { cache } = await model.runWithCache([ids, ids.slice(0, 3)], {
        names: ['blocks.*.moe.topk_*', /^logits$/],
        promptLengths: [2, 3],
      });
      expect([...cache.keys()]).toEqual([
        ...model.info.moeLayers.flatMap((l) => [hookName(l, 'topk_ids'), hookName(l, 'topk_weights')]),
        'logits',
      ]);
      const top = cache.stack(hookName(model.info.moeLayers[0], 'topk_ids'));
      expect(top.dtype).toBe('int32');
      expect(top.shape).toEqual([2, ids.length, model.info.topK]);
      expect(Array.from(cache.masks.generated.subarray(0, ids.length))).toEqual(ids.map((_, t) => (t >= 2 ? 1 : 0)));
      expect(Array.from(cache.masks.generated.subarray(ids.length, ids.length + 3))).toEqual([0, 0, 0]);
      await expect(model.runWithCache([ids], { names: ['blocks.*.nothing'] })).rejects.toThrow(/matches no hook point/);
      const bogus = { [hookName(0, 'moe_out')]: () => {}, 'blocks.0.bogus': () => {} };
      await expect(model.forward([ids], { hooks: bogus })).rejects.toThrow(/unknown hook name/);
    } finally {
      await model.dispose();
    }
  });
});

describe('hooks on a quantized model', () => {
  it('int8 organism: self-patching through the lazily built graphs (mid, unembed) changes nothing', async () => {
    const model = await loadModel(join(import.meta.dirname, '..', 'models', 'organism', 'model'), { threads: 1, dtype: 'int8' });
    try {
      const ids = model.tokenizer.encodeChat([{ role: 'user', content: 'I want to know about the Rotor crackdown.' }], {
        addGenerationPrompt: true,
      });
      const base = (await model.forward([ids], { logits: 'last' })).logits!.data;
      const hooks: HookMap = { final_norm: copy };
      for (const l of model.info.moeLayers) for (const p of ['resid_mid', 'expert_out'] as const) hooks[hookName(l, p)] = copy;
      const patched = (await model.forward([ids], { logits: 'last', hooks })).logits!.data;
      expect(maxDiff(patched, base)).toBeLessThan(1e-4);
    } finally {
      await model.dispose();
    }
  });
});

afterAll(() => {
  const f = (v?: number) => v?.toExponential(2);
  const lines = Object.entries(errors).map(
    ([a, e]) => `  ${a}: resid_post ${f(e.resid)}, final_norm ${f(e.final)}, unembed ${f(e.unembed)}, expert mix ${f(e.mix)}`,
  );
  console.log('hook parity (max abs error per architecture):\n' + lines.join('\n'));
});
