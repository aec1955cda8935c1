// mixtral's sliding_window (issue 12.7). No HF golden exists for a windowed mixtral, so the reference is an
// independent path: a naive float64 forward of HF's MixtralForCausalLM written out below from the modelling
// code (RMSNorm, rotate-half RoPE, GQA with HF's sliding mask `q - W < k <= q`, softmax router, top-k
// renormalised, SiLU experts), checked first against the HF golden with no window, then compared with the
// runtime with a window. Shapes: T tokens, D hidden, H heads, G kv heads, d head dim, E experts, I inner.

import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SafetensorsCheckpoint } from '@mote/tensor-core';
import { inspectModel, loadModel } from '@mote/moe-runtime';
import { FIXTURES, maxAbsDiff, readGolden } from './parity.js';

const SRC = join(FIXTURES, 'tiny-moe', 'mixtral');
const cfg = JSON.parse(readFileSync(join(SRC, 'config.json'), 'utf8'));

/** Naive HF Mixtral forward in float64: logits [T][V] for one sequence; `window` null = full causal attention. */
function referenceLogits(ids: number[], window: number | null): number[][] {
  const ck = SafetensorsCheckpoint.open(SRC);
  const W = (n: string) => Float64Array.from(ck.readF32(n).data);
  const D = cfg.hidden_size,
    H = cfg.num_attention_heads,
    G = cfg.num_key_value_heads,
    d = D / H,
    E = cfg.num_local_experts,
    K = cfg.num_experts_per_tok;
  const I = cfg.intermediate_size,
    V = cfg.vocab_size,
    eps = cfg.rms_norm_eps;
  const matvec = (w: Float64Array, x: ArrayLike<number>, out: number, inn: number) =>
    Array.from({ length: out }, (_, o) => {
      let s = 0;
      for (let i = 0; i < inn; i++) s += w[o * inn + i] * x[i];
      return s;
    });
  const rms = (x: number[], g: Float64Array) => {
    const r = 1 / Math.sqrt(x.reduce((a, v) => a + v * v, 0) / x.length + eps);
    return x.map((v, i) => v * r * g[i]);
  };
  const rope = (v: number[], pos: number) => {
    // rotate-half: pairs (i, i + d/2), inv_freq = theta^(-2i/d)
    const out = v.slice();
    for (let h = 0; h < v.length / d; h++)
      for (let i = 0; i < d / 2; i++) {
        const a = pos * cfg.rope_theta ** ((-2 * i) / d),
          [x1, x2] = [v[h * d + i], v[h * d + i + d / 2]];
        out[h * d + i] = x1 * Math.cos(a) - x2 * Math.sin(a);
        out[h * d + i + d / 2] = x2 * Math.cos(a) + x1 * Math.sin(a);
      }
    return out;
  };
  const emb = W('model.embed_tokens.weight');
  let h = ids.map((id) => Array.from(emb.subarray(id * D, (id + 1) * D))); // [T, D]
  for (let l = 0; l < cfg.num_hidden_layers; l++) {
    const p = `model.layers.${l}`;
    const [wq, wk, wv, wo] = ['q', 'k', 'v', 'o'].map((n) => W(`${p}.self_attn.${n}_proj.weight`));
    const x = h.map((r) => rms(r, W(`${p}.input_layernorm.weight`)));
    const q = x.map((r, t) => rope(matvec(wq, r, H * d, D), t)),
      k = x.map((r, t) => rope(matvec(wk, r, G * d, D), t)),
      v = x.map((r) => matvec(wv, r, G * d, D));
    const attn = x.map((_, t) => {
      const o = new Array(H * d).fill(0);
      for (let hh = 0; hh < H; hh++) {
        const g = Math.floor(hh / (H / G));
        const keys = Array.from({ length: t + 1 }, (_, s) => s).filter((s) => window === null || s > t - window); // HF: q - W < k <= q
        const sc = keys.map((s) => {
          let a = 0;
          for (let i = 0; i < d; i++) a += q[t][hh * d + i] * k[s][g * d + i];
          return a / Math.sqrt(d);
        });
        const m = Math.max(...sc),
          e = sc.map((z) => Math.exp(z - m)),
          z = e.reduce((a, b) => a + b, 0);
        keys.forEach((s, j) => {
          for (let i = 0; i < d; i++) o[hh * d + i] += (e[j] / z) * v[s][g * d + i];
        });
      }
      return matvec(wo, o, D, H * d);
    });
    h = h.map((r, t) => r.map((val, i) => val + attn[t][i]));
    const gate = W(`${p}.block_sparse_moe.gate.weight`);
    const experts = Array.from({ length: E }, (_, e) => ['w1', 'w2', 'w3'].map((n) => W(`${p}.block_sparse_moe.experts.${e}.${n}.weight`)));
    h = h.map((r) => {
      const y = rms(r, W(`${p}.post_attention_layernorm.weight`));
      const logits = matvec(gate, y, E, D);
      const top = logits
        .map((z, e) => [z, e])
        .sort((a, b) => b[0] - a[0])
        .slice(0, K); // softmax then top-k renormalised = softmax over the k
      const m = top[0][0],
        ws = top.map(([z]) => Math.exp(z - m)),
        s = ws.reduce((a, b) => a + b, 0);
      const out = r.slice();
      top.forEach(([, e], j) => {
        const [w1, w2, w3] = experts[e];
        const a = matvec(w1, y, I, D),
          b = matvec(w3, y, I, D);
        const act = a.map((u, i) => (u / (1 + Math.exp(-u))) * b[i]);
        matvec(w2, act, D, I).forEach((val, i) => (out[i] += (ws[j] / s) * val));
      });
      return out;
    });
  }
  const lm = W('lm_head.weight');
  const logits = h.map((r) => matvec(lm, rms(r, W('model.norm.weight')), V, D));
  ck.close();
  return logits;
}

function windowed(window: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'mote-mixtral-win-'));
  cpSync(SRC, dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, sliding_window: window }));
  return dir;
}

describe('mixtral sliding_window', () => {
  const g = readGolden('mixtral');
  const chat = g.cases.find((c) => c.input_ids.length === 33)!;

  it('the naive reference reproduces the HF golden without a window (it is a faithful Mixtral)', () => {
    expect(maxAbsDiff(chat.logits, referenceLogits(chat.input_ids, null).flat(), cfg.vocab_size)).toBeLessThan(1e-4);
  });

  it('the spec puts the window on every layer', () => {
    expect(inspectModel(windowed(16)).spec.attention.slidingWindow).toEqual(Array(cfg.num_hidden_layers).fill(16));
    expect(inspectModel(SRC).spec.attention.slidingWindow).toEqual(Array(cfg.num_hidden_layers).fill(null));
  });

  it('with window 16 on the 33-token prompt the runtime matches the windowed reference, and differs from full attention', async () => {
    const ref = referenceLogits(chat.input_ids, 16);
    const model = await loadModel(windowed(16), { threads: 1, cache: false });
    const got = (await model.forward([chat.input_ids])).logits!.data as Float32Array;
    expect(maxAbsDiff(ref, got, cfg.vocab_size)).toBeLessThan(1e-4);
    expect(maxAbsDiff(chat.logits, got, cfg.vocab_size)).toBeGreaterThan(1e-2); // the window changes the logits
    // decoding through the KV cache honours the window too: the greedy continuation's first logits
    let first: Float32Array | null = null;
    await model.generate([chat.input_ids], {
      maxNewTokens: 1,
      onLogits: (_, lg) => {
        first ??= lg.slice();
      },
    });
    expect(maxAbsDiff([ref[ref.length - 1]], first!, cfg.vocab_size)).toBeLessThan(1e-4);
    await model.dispose();
  });
});
