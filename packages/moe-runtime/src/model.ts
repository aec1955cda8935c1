// The Model class: a loaded checkpoint's public face — one-shot forward (logits all / last / none),
// runWithCache (the activation cache), unembed, generate, withHooks, dispose. It holds the runtime that
// sessions.ts loads and delegates: the layer pass to step.ts, decoding to generate.ts, the KV cache to
// kv-cache.ts, input checks to checks.ts. Shapes: B rows, T = longest row, D hidden, V vocab, M rows.

import { MoteError, type F32Tensor, type Tensor } from '@mote/tensor-core';
import type {
  ForwardOptions,
  ForwardResult,
  GenerateOptions,
  GenerateResult,
  Hook,
  HookMap,
  LoadOptions,
  ModelInfo,
  TokenInfo,
  Tokenizer,
} from './types.js';
import type { MoeModel } from './moe-model.js';
import type { CacheStats } from './cache.js';
import { MODEL_KEY, wantsModelPoints, type RowsContext } from './hooks.js';
import { ActivationCache, selectHookNames } from './activations.js';
import { checkAttentionMemory, checkIds } from './checks.js';
import { generate } from './generate.js';
import { layerKvDims, newKvCache } from './kv-cache.js';
import { loadRuntime, releaseRuntime, type ModelRuntime } from './sessions.js';
import type { ModelSpec } from './spec.js';
import { headHooked, layerHooks, policyByLayer, step } from './step.js';

export class Model implements MoeModel {
  readonly info: ModelInfo;
  readonly spec: ModelSpec;
  readonly tokenizer: Tokenizer;
  /** the weight cache (on disk) this load used: its folder and whether this load hit it */
  cache: CacheStats | null;
  private readonly globalHooks: HookMap[] = [];

  private constructor(private readonly rt: ModelRuntime) {
    this.info = rt.info;
    this.spec = rt.spec;
    this.tokenizer = rt.tokenizer;
    this.cache = rt.weightCache;
  }

  /**
   * Load: resolve the dtype against the memory available (E_MEMORY before allocating), then on a cache
   * miss convert every graph straight into the weight cache, then create the sessions from its files
   * (sessions.ts).
   */
  static async load(dir: string, opts: LoadOptions = {}): Promise<Model> {
    return new Model(await loadRuntime(dir, opts));
  }

  // ---- hooks -------------------------------------------------------------------------------------
  async withHooks<R>(hooks: HookMap, fn: () => Promise<R>): Promise<R> {
    layerHooks(this.rt, this.globalHooks, hooks); // validate names now
    this.globalHooks.push(hooks);
    try {
      return await fn();
    } finally {
      this.globalHooks.splice(this.globalHooks.indexOf(hooks), 1);
    }
  }

  /**
   * Bytes the KV cache holds per token and layer (float32): 2 x kv heads x head dim for GQA, the latent
   * (kv_lora_rank + qk_rope_head_dim) for MLA.
   * @example
   *   const m = await loadModel('tests/fixtures/tiny-moe/deepseek_v3');
   *   m.kvBytesPerToken(); // (kvr + rd) * 4
   */
  kvBytesPerToken(): number {
    const d = layerKvDims(this.spec);
    return d.heads * (d.kd + d.vd) * 4;
  }

  // ---- forward -----------------------------------------------------------------------------------
  async forward(batch: number[][], opts: ForwardOptions = {}): Promise<ForwardResult> {
    return (await this.forwardRows(batch, opts)).result;
  }

  /** forward() that also returns the call's token rows; `promptLengths` mark later positions as generated. */
  private async forwardRows(
    batch: number[][],
    opts: ForwardOptions,
    promptLengths?: number[],
  ): Promise<{ result: ForwardResult; rc: RowsContext }> {
    checkIds(this, batch);
    checkAttentionMemory(this, batch);
    const hooks = layerHooks(this.rt, this.globalHooks, opts.hooks);
    const policy = policyByLayer(this.rt, opts.policy);
    const kv = newKvCache(
      this.spec,
      this.rt.layers.length,
      batch.map((ids, seq) => ({ seq, ids })),
    );
    promptLengths?.forEach((n, b) => {
      kv.rows[b].promptLen = n;
    });
    const held: { rc?: RowsContext } = {};
    const h = await step(this.rt, kv, batch, hooks, policy, false, held);
    const rc = held.rc!;
    const MH = hooks.get(MODEL_KEY);
    const mode = opts.logits ?? 'all';
    if (mode === 'none' && !wantsModelPoints(MH)) return { result: { logits: null }, rc };
    const B = batch.length;
    const T = Math.max(...batch.map((x) => x.length));
    const V = this.spec.vocab;
    if (mode === 'last') {
      const lg = await headHooked(
        this.rt,
        h,
        batch.map((_, b) => b * T + T - 1),
        MH,
        rc,
      );
      return { result: { logits: { dtype: 'float32', shape: [B, 1, V], data: lg } }, rc };
    }
    // row b's positions 0..len_b-1 at [b, 0..len_b-1]; the rest of a shorter row stays 0
    const rows: number[] = [];
    const dest: number[] = [];
    batch.forEach((ids, b) =>
      ids.forEach((_, t) => {
        rows.push(b * T + (T - ids.length) + t);
        dest.push(b * T + t);
      }),
    );
    const lg = await headHooked(this.rt, h, rows, MH, rc);
    if (mode === 'none') return { result: { logits: null }, rc };
    const out = new Float32Array(B * T * V);
    dest.forEach((d, i) => out.set(lg.subarray(i * V, (i + 1) * V), d * V));
    return { result: { logits: { dtype: 'float32', shape: [B, T, V], data: out } }, rc };
  }

  async unembed(h: F32Tensor, opts: { scaleFrom?: F32Tensor } = {}): Promise<F32Tensor> {
    const { hidden: D, vocab: V, rmsEps: eps } = this.spec;
    const M = h.data.length / D;
    if (h.shape[h.shape.length - 1] !== D || !Number.isInteger(M)) {
      const msg = `unembed: h has shape [${h.shape}] but ${this.spec.modelType} needs [M, ${D}] (hidden size ${D})`;
      throw new MoteError('E_SHAPE', msg, { field: 'h' });
    }
    if (opts.scaleFrom && opts.scaleFrom.data.length !== h.data.length) {
      const msg = `unembed: scaleFrom has shape [${opts.scaleFrom.shape}] but must match h [${h.shape}]`;
      throw new MoteError('E_SHAPE', msg, { field: 'scaleFrom' });
    }
    const x: Tensor = { dtype: 'float32', shape: [M, D], data: h.data }; // [M, D]
    const out = (await this.rt.head.run({ h: x }, ['logits'])).logits.data as Float32Array; // [M, V]
    if (opts.scaleFrom) {
      // head(h) = (h / rms(h)) * g @ W; times rms(h) / rms(scaleFrom) gives (h / rms(scaleFrom)) * g @ W, linear in h
      const ms = (a: Float32Array, m: number) => {
        let z = 0;
        for (let d = 0; d < D; d++) z += a[m * D + d] ** 2;
        return z / D;
      };
      for (let m = 0; m < M; m++) {
        const f = Math.sqrt(ms(h.data, m) + eps) / Math.sqrt(ms(opts.scaleFrom.data, m) + eps);
        for (let v = 0; v < V; v++) out[m * V + v] *= f;
      }
    }
    return { dtype: 'float32', shape: [M, V], data: out };
  }

  async runWithHooks(batch: number[][], opts: ForwardOptions & { hooks: HookMap }): Promise<ForwardResult> {
    return this.forward(batch, opts);
  }

  async runWithCache(batch: number[][], opts: ForwardOptions & { names: (string | RegExp)[]; promptLengths?: number[] }) {
    const names = selectHookNames(this.info, opts.names);
    const seen: [string, Tensor, TokenInfo[]][] = [];
    const hooks: HookMap = { ...(opts.hooks ?? {}) };
    for (const name of names) {
      const rec: Hook = (t, ctx) => {
        seen.push([name, { ...t, shape: t.shape.slice(), data: t.data.slice() } as Tensor, ctx.tokens]);
      };
      const prev = hooks[name];
      hooks[name] = prev ? [...(Array.isArray(prev) ? prev : [prev]), rec] : rec;
    }
    const { result, rc } = await this.forwardRows(batch, { ...opts, hooks }, opts.promptLengths);
    const activations = new ActivationCache(
      batch.map((ids) => ids.length),
      rc.tokens,
    );
    for (const [name, t, tokens] of seen) activations.set(name, t, tokens);
    return { ...result, cache: activations };
  }

  // ---- generate ----------------------------------------------------------------------------------
  async generate(prompts: number[][], opts: GenerateOptions = {}): Promise<GenerateResult[]> {
    return generate(this.rt, this.globalHooks, prompts, opts);
  }

  async dispose(): Promise<void> {
    await releaseRuntime(this.rt);
  }
}

/** Load a Hugging Face MoE checkpoint folder (config.json, safetensors, tokenizer) for inference. */
export function loadModel(dir: string, opts: LoadOptions = {}): Promise<Model> {
  return Model.load(dir, opts);
}
