// The runtime: per-layer onnxruntime sessions (attention + router logits, then MoE or dense MLP), the
// router in TypeScript between them, a batched KV cache, forward and generate.
// Shapes: B rows, T new tokens per row, S cached + new positions, C cache slots (capacity >= cached
// positions), D hidden, E experts, K top-k, V vocab.

import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { isMoteError, MoteError, SafetensorsCheckpoint, Session, type F32Tensor, type GraphBuilder, type Tensor } from '@mote/tensor-core';
import { buildDenseBlock, buildHead, buildMidGraph, buildMoeBlock, buildUnembed, moeKernelFeeds, Weights } from './graphs.js';
import { CheckedWeights, checkSizesFit, modelInfo, specFromDir } from './load.js';
import { estimateMemory, resolveDtype } from './memory.js';
import { quantizeGraph, WEIGHT_DTYPES, type WeightDtype } from './quantize.js';
import { paramCount } from './params.js';
import { ropeCosSin, ropeTables, type RopeTables } from './rope.js';
import { route } from './routing.js';
import { createRng } from '@mote/stats';
import { checkSampling, isGreedy, sample } from './sampling.js';
import type { ModelSpec } from './spec.js';
import { loadTokenizer } from './tokenizer.js';
import {
  type ForwardOptions,
  type ForwardResult,
  type GenerateOptions,
  type GenerateResult,
  type Hook,
  type HookMap,
  type Intervention,
  type LoadOptions,
  type SamplingOptions,
  type ModelInfo,
  type MoeModel,
  type Policy,
  type TokenInfo,
  type Tokenizer,
} from './types.js';
import { validatePolicy } from './policy.js';
import { ATTENTION_BUILDERS, DECODE_ATTENTION_BUILDERS } from './attention.js';
import { CacheCorrupt, cacheRoot, WeightCache, type CacheStats, type RowTable } from './cache.js';
import { buildExpertSlicesBlock, expertSlicesFeeds, expertSlicesFit } from './experts.js';
import { convertInChild } from './convert.js';
import { mlaCacheDims } from './mla.js';
import {
  groupHooks,
  hookPadded,
  hookPoint,
  gatherRows as gatherReal,
  scatterRows,
  MODEL_KEY,
  wantsModelPoints,
  wantsMoeParts,
  type LayerHooks,
  type PointHooks,
  type RowsContext,
} from './hooks.js';
import { ActivationCache, selectHookNames } from './activations.js';

const MASKED = -1e30;
/** Prompt positions fed per prefill step of generate (bounds its mask and attention scores). */
const PREFILL_CHUNK = 512;
/** Most bytes of masks and attention scores a one-shot forward may need. */
const ONE_SHOT_ATTENTION_BYTES = 8 * 2 ** 30;

interface LayerSessions {
  attn: Session;
  /** the attention graph for steps of one token a row, where the kind has one (MLA: absorbed) */
  attnDecode: Session | null;
  ffn: Session;
  moe: boolean;
  /** the MoE graph is expert slices (experts.ts), fed ids and weights, not onnxruntime's MoE op */
  sliced: boolean;
  /** the expert-slices graph adds expert biases and takes rowExpert (gpt-oss) */
  rowExpert: boolean;
  correctionBias: Float32Array | null;
}

/** Per-row state of a batch in the KV cache. */
interface Row {
  seq: number; // index of the sequence in the caller's batch
  ids: number[]; // all real tokens so far (prompt + generated)
  promptLen: number;
  pad: number; // left padding in cache coordinates
  thinkOpen: boolean; // state after the last token
}

/** K/V of every layer in buffers with spare slots: a step's graphs read them in place and return only the
 *  new tokens' K/V, written here at [len, len + T); buffers grow (reserve) when full. */
interface Cache {
  rows: Row[];
  len: number; // cached positions (including padding)
  cap: number; // C: slots per row and head (>= 1; slots >= len are masked)
  k: Float32Array[]; // per layer [B, Hkv, C, kd]; MLA: the latents [B, 1, C, kvr + rd]
  v: Float32Array[]; // per layer [B, Hkv, C, vd]; MLA: empty (vd = 0)
  kvDims: { heads: number; kd: number; vd: number }[];
}

export class Model implements MoeModel {
  readonly info: ModelInfo;
  /** where the weights came from: the cache folder and whether this load hit it */
  cache: CacheStats | null = null;
  private readonly globalHooks: HookMap[] = [];
  private readonly lazy = new Map<string, Promise<Session>>();
  private loadOpts: LoadOptions = {};
  private readonly thinkOpenId: number | null;
  private readonly thinkCloseId: number | null;

  private constructor(
    readonly spec: ModelSpec,
    readonly tokenizer: Tokenizer,
    private readonly layers: LayerSessions[],
    private readonly head: Session,
    private readonly embed: RowTable, // [V, D], rows read per step
    private readonly rope: RopeTables,
    dir: string,
  ) {
    this.info = modelInfo(spec, dir, paramCount);
    this.thinkOpenId = tokenizer.tokenId('<think>');
    this.thinkCloseId = tokenizer.tokenId('</think>');
  }

  /**
   * Load: resolve the dtype against the memory available (E_MEMORY before allocating), then on a cache
   * miss convert every graph straight into the cache (no sessions held meanwhile), then create the
   * sessions from the cache files. A damaged entry is rebuilt once; a cache that cannot be written
   * degrades to building in memory.
   */
  static async load(dir: string, opts: LoadOptions = {}): Promise<Model> {
    const abs = resolve(dir);
    const spec = specFromDir(abs);
    // sizes a config implies against the weight bytes, before any memory estimate or allocation (a folder
    // without weights is refused after the memory check, which needs only the config)
    let headers: SafetensorsCheckpoint | null = null;
    try {
      headers = SafetensorsCheckpoint.open(abs);
      checkSizesFit(spec, headers.totalBytes(), abs);
    } catch (e) {
      if (!isMoteError(e, 'E_WEIGHTS_MISSING')) throw e;
    } finally {
      headers?.close();
    }
    const log =
      opts.log ??
      ((line: string) => {
        process.stderr.write(`mote: ${line}\n`);
      });
    const want = (opts.dtype ?? (process.env.MOTE_DTYPE || 'f32')) as WeightDtype | 'auto';
    if (want !== 'auto' && !WEIGHT_DTYPES.includes(want)) {
      throw new MoteError(
        'E_INPUT',
        `dtype ${JSON.stringify(want)}${opts.dtype ? '' : ' (from $MOTE_DTYPE)'} is not supported; use one of auto, ${WEIGHT_DTYPES.join(', ')}`,
        { field: 'dtype' },
      );
    }
    const root = cacheRoot(opts.cache);
    const path = (d: WeightDtype) => (!root ? 'uncached' : WeightCache.has(abs, d, opts.cache) ? 'cached' : 'cold');
    const choice = resolveDtype(spec, want, abs, path);
    if (want === 'auto') log(choice.note);
    const dtype = choice.dtype;
    const tokenizer = await loadTokenizer(abs, opts.chatTemplate, opts.chatTemplateLimits);
    const copen = { cache: opts.cache, verify: opts.verify, log, bytes: estimateMemory(spec, dtype).cache };
    for (let attempt = 0; ; attempt++) {
      let cache = WeightCache.open(abs, dtype, copen);
      if (cache.building) {
        const ok = (await convertInChild(abs, cache, copen)) ?? (await Model.convert(spec, abs, cache));
        cache = ok ? WeightCache.open(abs, dtype, copen) : WeightCache.none(dtype, abs, log);
        cache.built = true;
      }
      try {
        return await Model.fromCache(spec, abs, tokenizer, cache, opts);
      } catch (e) {
        if (!(e instanceof CacheCorrupt) || attempt > 0)
          throw e instanceof CacheCorrupt ? new MoteError('E_IO', `${e.message}; delete that folder`) : e;
        log(`warning: ${e.message}; rebuilding the entry`);
        cache.remove();
      }
    }
  }

  /** The graphs of a model in load order: name, builder, session label. */
  private static graphs(spec: ModelSpec, w: Weights, dtype: WeightDtype): { name: string; build: () => GraphBuilder; label: string }[] {
    const kind = spec.attention.kind;
    const attention = ATTENTION_BUILDERS[kind];
    const decode = Object.hasOwn(DECODE_ATTENTION_BUILDERS, kind) ? DECODE_ATTENTION_BUILDERS[kind] : null;
    const out: { name: string; build: () => GraphBuilder; label: string }[] = [];
    for (let l = 0; l < spec.layerCount; l++) {
      const moe = spec.moeLayers.includes(l);
      out.push({ name: `layer${l}_attention`, build: () => attention({ spec, layer: l, w, moe }), label: `layer ${l} attention` });
      if (decode)
        out.push({
          name: `layer${l}_attention_decode`,
          build: () => decode({ spec, layer: l, w, moe }),
          label: `layer ${l} decode attention`,
        });
      const sliced = moe && expertSlicesFit(spec, l, dtype);
      const build = () =>
        moe ? (sliced ? buildExpertSlicesBlock(spec, l, w, dtype) : buildMoeBlock(spec, l, w)) : buildDenseBlock(spec, l, w);
      out.push({ name: `layer${l}_ffn`, build, label: `layer ${l} ${moe ? 'MoE' : 'MLP'}` });
    }
    out.push({ name: 'head', build: () => buildHead(spec, w), label: 'lm_head' });
    return out;
  }

  /** JS-held tensors: name -> reader. */
  private static tensors(
    spec: ModelSpec,
    w: Weights,
    cache: WeightCache,
  ): { correction: (l: number) => Float32Array | null; embed: () => RowTable } {
    return {
      correction: (l) => {
        const cb = spec.weights.layer(l).correctionBias;
        return spec.moeLayers.includes(l) && cb
          ? cache.tensor(`layer${l}_correction_bias`, () => w.get(cb, [spec.expertCount])).data
          : null;
      },
      embed: () => cache.rows('embed', () => w.get(spec.weights.embed, [spec.vocab, spec.hidden])),
    };
  }

  /** Cold load: every graph and tensor converted one at a time straight into the cache entry (non-finite
   *  weights refused here, once). false: the disk refused, nothing cached. */
  static async convert(spec: ModelSpec, abs: string, cache: WeightCache): Promise<boolean> {
    const ckpt = SafetensorsCheckpoint.open(abs);
    try {
      const w = new CheckedWeights(ckpt, abs);
      for (const g of Model.graphs(spec, w, cache.dtype)) if (!cache.write(g.name, g.build)) return false;
      const t = Model.tensors(spec, w, cache);
      for (let l = 0; l < spec.layerCount; l++) t.correction(l);
      cache.tensor('embed', () => w.get(spec.weights.embed, [spec.vocab, spec.hidden]));
      return cache.commit();
    } catch (e) {
      cache.abort();
      throw e;
    } finally {
      ckpt.close();
    }
  }

  /** Sessions from a cache hit (weights read once, by onnxruntime), or built in memory without a cache. */
  private static async fromCache(
    spec: ModelSpec,
    abs: string,
    tokenizer: Tokenizer,
    cache: WeightCache,
    opts: LoadOptions,
  ): Promise<Model> {
    const ckpt = cache.stats.hit ? null : SafetensorsCheckpoint.open(abs);
    const sessions = new Map<string, Session>();
    try {
      const w = new CheckedWeights(ckpt as SafetensorsCheckpoint, abs); // never read on a hit
      // more threads than cores only oversubscribe them (--threads 1000 ran for minutes)
      const threads = opts.threads === undefined ? undefined : Math.max(1, Math.min(opts.threads, availableParallelism()));
      const sopts = (label: string) => ({ threads, spinning: opts.spinning, label: `${label} of ${spec.modelType} (${abs})` });
      for (const g of Model.graphs(spec, w, cache.dtype)) sessions.set(g.name, await cache.session(g.name, g.build, sopts(g.label)));
      const t = Model.tensors(spec, w, cache);
      const layers: LayerSessions[] = [];
      for (let l = 0; l < spec.layerCount; l++) {
        const moe = spec.moeLayers.includes(l);
        const ffn = sessions.get(`layer${l}_ffn`)!;
        layers.push({
          attn: sessions.get(`layer${l}_attention`)!,
          attnDecode: sessions.get(`layer${l}_attention_decode`) ?? null,
          ffn,
          moe,
          sliced: moe && expertSlicesFit(spec, l, cache.dtype),
          rowExpert: ffn.inputNames.includes('rowExpert'),
          correctionBias: t.correction(l),
        });
      }
      const model = new Model(spec, tokenizer, layers, sessions.get('head')!, t.embed(), ropeTables(spec.rope), abs);
      model.cache = cache.stats;
      model.info.dtype = cache.dtype;
      model.loadOpts = opts;
      return model;
    } catch (e) {
      await Promise.all([...sessions.values()].map((s) => s.release()));
      throw e;
    } finally {
      ckpt?.close();
    }
  }

  // ---- hooks -------------------------------------------------------------------------------------
  private layerHooks(extra?: HookMap): LayerHooks {
    return groupHooks(this.spec, extra ? [...this.globalHooks, extra] : this.globalHooks);
  }

  async withHooks<R>(hooks: HookMap, fn: () => Promise<R>): Promise<R> {
    this.layerHooks(hooks); // validate names now
    this.globalHooks.push(hooks);
    try {
      return await fn();
    } finally {
      this.globalHooks.splice(this.globalHooks.indexOf(hooks), 1);
    }
  }

  private policyByLayer(policy: Policy | null | undefined): Map<number, Intervention[]> {
    const m = new Map<number, Intervention[]>();
    if (!policy) return m;
    validatePolicy(policy, { info: this.info });
    for (const iv of policy.interventions) m.set(iv.layer, [...(m.get(iv.layer) ?? []), iv]);
    return m;
  }

  // ---- forward -----------------------------------------------------------------------------------
  private checkIds(batch: number[][]): void {
    if (batch.length === 0) throw new MoteError('E_INPUT', 'forward/generate needs at least one sequence');
    for (const [b, ids] of batch.entries()) {
      if (ids.length === 0) throw new MoteError('E_INPUT', `sequence ${b} is empty; give at least one token id`);
      if (ids.length > this.spec.maxPositions) {
        throw new MoteError(
          'E_LIMIT',
          `sequence ${b} has ${ids.length} tokens, more than the ${this.spec.maxPositions} positions (max_position_embeddings) of ${this.spec.modelType} (${this.info.dir}); fix: shorten the prompt, or truncate it (generate: truncate / --truncate keeps the last tokens)`,
          { field: `ids[${b}]` },
        );
      }
      for (const id of ids) {
        if (!Number.isInteger(id) || id < 0 || id >= this.spec.vocab) {
          throw new MoteError(
            'E_TOKEN_RANGE',
            `token id ${id} in sequence ${b} is outside the vocabulary [0, ${this.spec.vocab}) of ${this.spec.modelType} (${this.info.dir}); use ids from this model's tokenizer`,
            { field: `ids[${b}]` },
          );
        }
      }
    }
  }

  private newCache(seqs: { seq: number; ids: number[] }[]): Cache {
    const T = Math.max(...seqs.map((s) => s.ids.length));
    const kvDims = this.layers.map(() => this.kvDims());
    const B = seqs.length;
    return {
      rows: seqs.map((s) => ({ seq: s.seq, ids: [], promptLen: s.ids.length, pad: T - s.ids.length, thinkOpen: false })),
      len: 0,
      cap: 1,
      k: kvDims.map((d) => new Float32Array(B * d.heads * d.kd)),
      v: kvDims.map((d) => new Float32Array(B * d.heads * d.vd)),
      kvDims,
    };
  }

  private kvDims(): { heads: number; kd: number; vd: number } {
    const m = this.spec.attention.mla;
    if (this.spec.attention.kind === 'mla' && m) return mlaCacheDims(m); // the latent only (vd = 0: no values)
    return { heads: this.spec.kvHeads, kd: this.spec.headDim, vd: this.spec.headDim };
  }

  /**
   * Bytes the KV cache holds per token and layer (float32): 2 x kv heads x head dim for GQA, the latent
   * (kv_lora_rank + qk_rope_head_dim) for MLA.
   * @example
   *   const m = await loadModel('tests/fixtures/tiny-moe/deepseek_v3');
   *   m.kvBytesPerToken(); // (kvr + rd) * 4
   */
  kvBytesPerToken(): number {
    const d = this.kvDims();
    return d.heads * (d.kd + d.vd) * 4;
  }

  /** Grow the cache buffers (copying the cached slots) to hold S positions and an eighth (at least 32) spare:
   *  masked spare slots are still read by every step, so the slack stays small. */
  private reserve(cache: Cache, S: number): void {
    if (S <= cache.cap) return;
    const cap = S + Math.max(32, S >> 3);
    const grow = (a: Float32Array, rows: number, d: number) => {
      const out = new Float32Array(rows * cap * d);
      for (let r = 0; r < rows; r++) out.set(a.subarray(r * cache.cap * d, r * cache.cap * d + cache.len * d), r * cap * d);
      return out;
    };
    const B = cache.rows.length;
    cache.k = cache.k.map((k, l) => grow(k, B * cache.kvDims[l].heads, cache.kvDims[l].kd));
    cache.v = cache.v.map((v, l) => grow(v, B * cache.kvDims[l].heads, cache.kvDims[l].vd));
    cache.cap = cap;
  }

  /**
   * Feed T new tokens per row (rows padded on the left in prefill) through every layer. `fresh[b]` are row
   * b's new tokens (length <= T; shorter rows are left-padded). With `keep` the new K/V go into the cache
   * for later steps; without it (a one-shot forward) the cache is read but left as it is and the graphs
   * return no K/V. Returns h [B, T, D].
   */
  private async step(
    cache: Cache,
    fresh: number[][],
    hooks: LayerHooks,
    policy: Map<number, Intervention[]>,
    keep = true,
    rows?: { rc?: RowsContext },
  ): Promise<Float32Array> {
    const { hidden: D, expertCount: E, topK: K } = this.spec;
    const B = cache.rows.length;
    const T = Math.max(...fresh.map((f) => f.length));
    const S = cache.len + T;
    // token info of the real (non-pad) rows, in row-major [b, t] order, and their flat indices
    const tokens: TokenInfo[] = [];
    const realIdx: number[] = [];
    const h = new Float32Array(B * T * D); // [B, T, D]
    const positions = new Float64Array(B * T);
    for (let b = 0; b < B; b++) {
      const r = cache.rows[b];
      const padNow = T - fresh[b].length;
      for (let t = 0; t < T; t++) {
        if (t < padNow) continue;
        const id = fresh[b][t - padNow];
        const pos = r.ids.length;
        let inThink = false;
        if (id === this.thinkOpenId) r.thinkOpen = true;
        else if (id === this.thinkCloseId) r.thinkOpen = false;
        else inThink = r.thinkOpen;
        r.ids.push(id);
        tokens.push({ seq: r.seq, pos, tokenId: id, generated: pos >= r.promptLen, inThink });
        realIdx.push(b * T + t);
        positions[b * T + t] = pos;
        h.set(this.embed.row(id), (b * T + t) * D);
      }
    }
    const rd = this.rope.invFreq.length * 2;
    const { cos, sin } = ropeCosSin(this.rope, positions);
    if (keep) this.reserve(cache, S);
    const C = cache.cap;
    const mask = this.buildMask(cache, fresh, T);
    const feedsBase = {
      cos: { dtype: 'float32', shape: [B, T, 1, rd], data: cos } as Tensor,
      sin: { dtype: 'float32', shape: [B, T, 1, rd], data: sin } as Tensor,
    };
    let hT: Tensor = { dtype: 'float32', shape: [B, T, D], data: h };
    const rc: RowsContext = { tokens, realIdx, expertCount: E, topK: K, layerCount: this.layers.length };
    if (rows) rows.rc = rc;
    for (let l = 0; l < this.layers.length; l++) {
      const L = this.layers[l];
      const dims = cache.kvDims[l];
      const LH = hooks.get(l);
      if (LH?.resid_pre) hT = { ...hT, data: hookPadded(LH.resid_pre, hT.data as Float32Array, D, l, 'resid_pre', rc) };
      const a = await (T === 1 && L.attnDecode ? L.attnDecode : L.attn).run(
        {
          h: hT,
          ...feedsBase,
          mask: { dtype: 'float32', shape: [B, 1, 1, T, C + T], data: this.windowMask(mask, l, cache, T) },
          past_k: { dtype: 'float32', shape: [B, dims.heads, C, dims.kd], data: cache.k[l] },
          // MLA caches no values (vd = 0): its graph has no past_v / new_v
          ...(dims.vd ? { past_v: { dtype: 'float32', shape: [B, dims.heads, C, dims.vd], data: cache.v[l] } as Tensor } : {}),
        },
        keep ? undefined : L.moe ? NO_KV_MOE : NO_KV,
      );
      if (keep) {
        writeSlots(cache.k[l], a.new_k.data as Float32Array, B * dims.heads, T, dims.kd, C, cache.len);
        if (dims.vd) writeSlots(cache.v[l], a.new_v.data as Float32Array, B * dims.heads, T, dims.vd, C, cache.len);
      }
      this.checkFinite(a.h_mid.data as Float32Array, l, 'attention');
      const mid = LH && (LH.attn_out || LH.resid_mid) ? await this.hookMid(l, LH, hT, a, rc) : a;
      if (!L.moe) {
        hT = (await L.ffn.run({ h_mid: mid.h_mid, x: mid.x }, FFN_OUT)).h;
        this.checkFinite(hT.data as Float32Array, l, 'MLP');
        if (LH?.resid_post) hT = { ...hT, data: hookPadded(LH.resid_post, hT.data as Float32Array, D, l, 'resid_post', rc) };
        continue;
      }
      const all = mid.router_logits.data as Float32Array; // [B*T, E]
      const logits = new Float32Array(realIdx.length * E); // [N, E] real rows only
      realIdx.forEach((i, n) => logits.set(all.subarray(i * E, (i + 1) * E), n * E));
      const r = route({
        spec: this.spec.router,
        layer: l,
        expertCount: E,
        topK: K,
        logits,
        correctionBias: L.correctionBias,
        tokens,
        interventions: policy.get(l) ?? [],
        hooks: hooks.get(l) ?? {},
      });
      this.checkFinite(logits, l, 'router');
      r.weights.forEach((wt, j) => {
        if (wt < 0 || !Number.isFinite(wt)) {
          // the router logits are finite here: a non-finite or negative weight comes from the policy or a hook
          const by = [policy.has(l) ? 'the policy' : '', hooks.has(l) ? 'a router hook' : ''].filter(Boolean).join(' or ') || 'the router';
          throw new MoteError(
            by === 'the router' ? 'E_NONFINITE' : 'E_POLICY',
            `layer ${l}: expert ${r.ids[j]} got weight ${wt} from ${by}; applied expert weights must be finite and >= 0${by === 'the router' ? '' : ' (check scale values and topk_weights hooks)'}`,
            { field: `layer ${l}` },
          );
        }
      });
      const routed = this.routedFeeds(L, r.ids, r.weights, realIdx, B * T);
      hT =
        LH && (LH.moe_out || wantsMoeParts(LH))
          ? await this.hookMoe(l, LH, mid, routed, r, rc)
          : (await L.ffn.run({ h_mid: mid.h_mid, x: mid.x, ...routed }, FFN_OUT)).h;
      this.checkFinite(hT.data as Float32Array, l, 'MoE');
      if (LH?.resid_post) hT = { ...hT, data: hookPadded(LH.resid_post, hT.data as Float32Array, D, l, 'resid_post', rc) };
    }
    if (keep) cache.len = S;
    return hT.data as Float32Array;
  }

  /** Throw E_NONFINITE naming the layer's tensors when an output of its part holds NaN or Inf (one pass over
   *  [rows, width] floats: small beside the layer's own arithmetic). */
  private checkFinite(x: Float32Array, l: number, part: 'attention' | 'router' | 'MLP' | 'MoE' | 'lm_head'): void {
    for (let i = 0; i < x.length; i++) {
      if (Number.isFinite(x[i])) continue;
      const w = part === 'lm_head' ? null : this.spec.weights.layer(l);
      const names =
        part === 'lm_head'
          ? [this.spec.weights.norm, this.spec.weights.lmHead]
          : part === 'attention'
            ? [w!.inputNorm, ...Object.values(w!.attn).filter((n): n is string => !!n)]
            : part === 'router'
              ? [w!.router ?? '', w!.routerBias ?? ''].filter(Boolean)
              : part === 'MLP'
                ? [w!.postNorm, ...Object.values(w!.mlp ?? {})]
                : [
                    w!.postNorm,
                    w!.fusedExperts?.gateUp ?? `${w!.expert?.(0).gate.replace(/\.0\./, '.*.') ?? 'experts'}`,
                    ...(w!.shared ? Object.values(w!.shared) : []),
                  ];
      const shown = names.length > 4 ? `${names.slice(0, 4).join(', ')}, ...` : names.join(', ');
      throw new MoteError(
        'E_NONFINITE',
        `${part === 'lm_head' ? 'the lm_head' : `layer ${l}'s ${part}`} of ${this.spec.modelType} (${this.info.dir}) produced ${x[i]}: one of its weights (${shown}) holds NaN or Inf; fix: re-download or re-convert the checkpoint, and clear the weight cache`,
        { field: part === 'lm_head' ? this.spec.weights.lmHead : `layer ${l}` },
      );
    }
  }

  /** The routing feeds of layer L's MoE graph: expert-slice ids/weights, or the MoE kernel's [BT, E] probs. */
  private routedFeeds(L: LayerSessions, ids: Int32Array, weights: Float32Array, realIdx: number[], BT: number): Record<string, Tensor> {
    const { expertCount: E, topK: K } = this.spec;
    return L.sliced ? expertSlicesFeeds(ids, weights, realIdx, BT, E, K, L.rowExpert) : moeKernelFeeds(ids, weights, realIdx, BT, E, K);
  }

  // ---- hook points beyond the router (hooks.ts) ------------------------------------------------------
  /** attn_out / resid_mid hooks. A replacement re-runs the post-attention norm and router on the new h_mid. */
  private async hookMid(
    l: number,
    LH: PointHooks,
    hIn: Tensor,
    a: Record<string, Tensor>,
    rc: RowsContext,
  ): Promise<Record<string, Tensor>> {
    const D = this.spec.hidden;
    const pre = gatherReal(hIn.data as Float32Array, rc.realIdx, D); // [N, D]
    const mid = gatherReal(a.h_mid.data as Float32Array, rc.realIdx, D); // [N, D]
    let changed = false;
    if (LH.attn_out) {
      const attn = mid.map((v, i) => v - pre[i]); // [N, D]
      const got = hookPoint(LH.attn_out, attn, [D], l, 'attn_out', rc);
      if (got !== attn) {
        changed = true;
        for (let i = 0; i < mid.length; i++) mid[i] = pre[i] + got[i];
      }
    }
    const got = hookPoint(LH.resid_mid, mid, [D], l, 'resid_mid', rc);
    if (!changed && got === mid) return a;
    const hMid: Tensor = { ...a.h_mid, data: scatterRows(a.h_mid.data as Float32Array, got, rc.realIdx, D) };
    const moe = this.layers[l].moe;
    const session = await this.lazySession(`layer${l}_mid`, (w) => buildMidGraph(this.spec, l, w, moe));
    return { ...a, h_mid: hMid, ...(await session.run({ h_mid: hMid }, moe ? ['x', 'router_logits'] : ['x'])) };
  }

  /** moe_out / moe_routed / moe_shared / expert_out hooks around layer l's MoE block. expert_out runs the block
   *  once per top-k slot with that slot's expert alone at weight 1 (K extra passes); a replaced expert_out is
   *  mixed again with the applied weights. Returns h [B, T, D]. */
  private async hookMoe(
    l: number,
    LH: PointHooks,
    mid: Record<string, Tensor>,
    feeds: Record<string, Tensor>,
    r: { ids: Int32Array; weights: Float32Array },
    rc: RowsContext,
  ): Promise<Tensor> {
    const { hidden: D, topK: K, expertCount: E } = this.spec;
    const L = this.layers[l];
    const N = rc.realIdx.length;
    const BT = mid.h_mid.shape[0] * mid.h_mid.shape[1];
    const parts = wantsMoeParts(LH);
    const shared = L.ffn.outputNames.includes('shared_out');
    const outputs = parts ? ['h', 'routed_out', ...(shared ? ['shared_out'] : [])] : FFN_OUT;
    const run = await L.ffn.run({ h_mid: mid.h_mid, x: mid.x, ...feeds }, outputs);
    const midRows = gatherReal(mid.h_mid.data as Float32Array, rc.realIdx, D); // [N, D]
    const hRows = gatherReal(run.h.data as Float32Array, rc.realIdx, D); // [N, D]
    const diff = () => hRows.map((v, i) => v - midRows[i]); // [N, D] the block's output as applied
    let moe: Float32Array;
    let changed = false;
    if (!parts) moe = diff();
    else {
      let routed = gatherReal(run.routed_out.data as Float32Array, rc.realIdx, D); // [N, D]
      const sharedRows = shared ? gatherReal(run.shared_out.data as Float32Array, rc.realIdx, D) : new Float32Array(N * D); // [N, D]
      if (LH.expert_out) {
        const eo = new Float32Array(N * K * D); // [N, K, D]
        for (let j = 0; j < K; j++) {
          const one = new Float32Array(N * K); // [N, K]: slot j alone, weight 1
          for (let n = 0; n < N; n++) one[n * K + j] = 1;
          const o = await L.ffn.run({ h_mid: mid.h_mid, x: mid.x, ...this.routedFeeds(L, r.ids, one, rc.realIdx, BT) }, ['routed_out']);
          const rows = gatherReal(o.routed_out.data as Float32Array, rc.realIdx, D);
          for (let n = 0; n < N; n++) eo.set(rows.subarray(n * D, (n + 1) * D), (n * K + j) * D);
        }
        const got = hookPoint(LH.expert_out, eo, [K, D], l, 'expert_out', rc);
        if (got !== eo) {
          changed = true;
          routed = new Float32Array(N * D);
          for (let n = 0; n < N; n++)
            for (let j = 0; j < K; j++) {
              const wt = r.weights[n * K + j];
              for (let d = 0; d < D; d++) routed[n * D + d] += wt * got[(n * K + j) * D + d];
            }
        }
      }
      const gr = hookPoint(LH.moe_routed, routed, [D], l, 'moe_routed', rc);
      const gs = hookPoint(LH.moe_shared, sharedRows, [D], l, 'moe_shared', rc);
      changed ||= gr !== routed || gs !== sharedRows;
      moe = changed ? gr.map((v, i) => v + gs[i]) : diff();
    }
    const gm = hookPoint(LH.moe_out, moe, [D], l, 'moe_out', rc);
    if (!changed && gm === moe) return run.h;
    const out = midRows.map((v, i) => v + gm[i]); // [N, D]
    return { ...run.h, data: scatterRows(run.h.data as Float32Array, out, rc.realIdx, D) };
  }

  /** A session built on first use from the checkpoint (graphs only hooks need: never in an unhooked run). */
  private lazySession(name: string, build: (w: Weights) => GraphBuilder): Promise<Session> {
    let p = this.lazy.get(name);
    if (!p) {
      p = (async () => {
        const ckpt = SafetensorsCheckpoint.open(this.info.dir);
        try {
          const g = build(new Weights(ckpt, this.info.dir));
          quantizeGraph(g, this.info.dtype ?? 'f32');
          const label = `${name} of ${this.spec.modelType} (${this.info.dir})`;
          return await Session.create(g.toBytes(), { threads: this.loadOpts.threads, spinning: this.loadOpts.spinning, label });
        } finally {
          ckpt.close();
        }
      })();
      this.lazy.set(name, p);
    }
    return p;
  }

  /** Causal + padding mask [B, 1, 1, T, C + T] (additive): columns [0, C) are the cache slots, then the T
   *  new tokens. A pad query row sees itself to stay finite. */
  private buildMask(cache: Cache, fresh: number[][], T: number): Float32Array {
    const B = cache.rows.length;
    const W = cache.cap + T;
    const m = new Float32Array(B * T * W).fill(MASKED);
    for (let b = 0; b < B; b++) {
      const r = cache.rows[b];
      const padNow = T - fresh[b].length;
      for (let t = 0; t < T; t++) {
        const row = (b * T + t) * W;
        if (t < padNow) {
          m[row + cache.cap + t] = 0;
          continue;
        }
        m.fill(0, row + r.pad, row + cache.len);
        m.fill(0, row + cache.cap + padNow, row + cache.cap + t + 1);
      }
    }
    return m;
  }

  /** The mask of layer l: the causal mask, narrowed to the sliding window where the layer has one. */
  private windowMask(mask: Float32Array, l: number, cache: Cache, T: number): Float32Array {
    const win = this.spec.attention.slidingWindow[l];
    if (!win) return mask;
    const m = mask.slice();
    const B = cache.rows.length;
    const W = cache.cap + T;
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        const q = cache.len + t; // query position; a key at position p is out of the window when p <= q - win
        const row = (b * T + t) * W;
        m.fill(MASKED, row, row + Math.max(0, Math.min(cache.len, q - win + 1)));
        m.fill(MASKED, row + cache.cap, row + cache.cap + Math.max(0, q - win + 1 - cache.len));
      }
    }
    return m;
  }

  /** lm_head on chosen flat rows of h [B*T, D]: logits [M, V]. */
  private async logitsOf(h: Float32Array, rows: number[]): Promise<Float32Array> {
    const lg = (await this.headRun(h, rows, 'logits')).data as Float32Array;
    this.checkFinite(lg, -1, 'lm_head');
    return lg;
  }

  private async headRun(h: Float32Array, rows: number[], output: 'logits' | 'greedy'): Promise<Tensor> {
    const D = this.spec.hidden;
    const x = new Float32Array(rows.length * D);
    rows.forEach((r, i) => x.set(h.subarray(r * D, (r + 1) * D), i * D));
    return (await this.head.run({ h: { dtype: 'float32', shape: [rows.length, D], data: x } }, [output]))[output];
  }

  async forward(batch: number[][], opts: ForwardOptions = {}): Promise<ForwardResult> {
    return (await this.forwardRows(batch, opts)).result;
  }

  /** forward() that also returns the call's token rows; `promptLengths` mark later positions as generated. */
  private async forwardRows(
    batch: number[][],
    opts: ForwardOptions,
    promptLengths?: number[],
  ): Promise<{ result: ForwardResult; rc: RowsContext }> {
    this.checkIds(batch);
    this.checkAttentionMemory(batch);
    const hooks = this.layerHooks(opts.hooks);
    const policy = this.policyByLayer(opts.policy);
    const cache = this.newCache(batch.map((ids, seq) => ({ seq, ids })));
    promptLengths?.forEach((n, b) => {
      cache.rows[b].promptLen = n;
    });
    const held: { rc?: RowsContext } = {};
    const h = await this.step(cache, batch, hooks, policy, false, held);
    const rc = held.rc!;
    const MH = hooks.get(MODEL_KEY);
    const mode = opts.logits ?? 'all';
    if (mode === 'none' && !wantsModelPoints(MH)) return { result: { logits: null }, rc };
    const B = batch.length;
    const T = Math.max(...batch.map((x) => x.length));
    const V = this.spec.vocab;
    if (mode === 'last') {
      const lg = await this.headHooked(
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
    const lg = await this.headHooked(h, rows, MH, rc);
    if (mode === 'none') return { result: { logits: null }, rc };
    const out = new Float32Array(B * T * V);
    dest.forEach((d, i) => out.set(lg.subarray(i * V, (i + 1) * V), d * V));
    return { result: { logits: { dtype: 'float32', shape: [B, T, V], data: out } }, rc };
  }

  /** lm_head on flat rows of h with the final_norm / logits hooks of those rows: logits [M, V]. */
  private async headHooked(h: Float32Array, rows: number[], MH: PointHooks | undefined, rc: RowsContext): Promise<Float32Array> {
    if (!MH || !wantsModelPoints(MH)) return this.logitsOf(h, rows);
    const { hidden: D, vocab: V } = this.spec;
    const at = new Map(rc.realIdx.map((i, n) => [i, n]));
    const sub: RowsContext = { ...rc, tokens: rows.map((i) => rc.tokens[at.get(i)!]), realIdx: rows };
    const x: Tensor = { dtype: 'float32', shape: [rows.length, D], data: gatherReal(h, rows, D) }; // [M, D]
    const out = await this.head.run({ h: x }, ['logits', 'final_norm']);
    let logits = out.logits.data as Float32Array; // [M, V]
    const normed = out.final_norm.data as Float32Array; // [M, D]
    const got = hookPoint(MH.final_norm, normed, [D], null, 'final_norm', sub);
    if (got !== normed) {
      const unembed = await this.lazySession('unembed', (w) => buildUnembed(this.spec, w));
      const xn: Tensor = { dtype: 'float32', shape: [rows.length, D], data: got }; // [M, D]
      logits = (await unembed.run({ x: xn }, ['logits'])).logits.data as Float32Array;
    }
    return hookPoint(MH.logits, logits, [V], null, 'logits', sub);
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
    const out = (await this.head.run({ h: x }, ['logits'])).logits.data as Float32Array; // [M, V]
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
    const cache = new ActivationCache(
      batch.map((ids) => ids.length),
      rc.tokens,
    );
    for (const [name, t, tokens] of seen) cache.set(name, t, tokens);
    return { ...result, cache };
  }

  /** A one-shot forward holds a [B, T, T] mask and [B, H, T, T] attention scores: refuse what cannot fit
   *  (generate prefills long prompts in chunks instead, linear in T). */
  private checkAttentionMemory(batch: number[][]): void {
    const T = Math.max(...batch.map((x) => x.length));
    const bytes = 4 * batch.length * (this.spec.heads + 1) * T * (T + 1);
    if (bytes > ONE_SHOT_ATTENTION_BYTES) {
      throw new MoteError(
        'E_LIMIT',
        `a forward pass over ${batch.length} x ${T} tokens needs ${(bytes / 2 ** 30).toFixed(1)} GiB of attention masks and scores (limit ${ONE_SHOT_ATTENTION_BYTES / 2 ** 30} GiB); fix: fewer or shorter sequences per call, or generate(), which prefills in chunks`,
        { field: 'ids' },
      );
    }
  }

  // ---- generate ----------------------------------------------------------------------------------
  async generate(prompts: number[][], opts: GenerateOptions = {}): Promise<GenerateResult[]> {
    checkSampling(opts);
    if (opts.truncate) prompts = prompts.map((p) => (p.length > this.spec.maxPositions ? p.slice(p.length - this.spec.maxPositions) : p));
    this.checkIds(prompts);
    const hooks = this.layerHooks(opts.hooks);
    const policy = this.policyByLayer(opts.policy);
    const maxNew = opts.maxNewTokens ?? 64;
    const stopTokens = new Set(opts.stopTokens ?? this.spec.eosTokenIds);
    const stopStrings = opts.stopStrings ?? [];
    const batchSize = opts.batchSize ?? 16;
    if (!Number.isSafeInteger(batchSize) || batchSize < 1)
      throw new MoteError('E_INPUT', `batchSize ${batchSize} must be a whole number >= 1`, { field: 'batchSize' });
    const results: GenerateResult[] = prompts.map((p) => ({ promptIds: p, ids: [], text: '', stopReason: 'max_new_tokens' }));
    // rows of similar length decode together: less padding
    const order = prompts.map((_, i) => i).sort((a, b) => prompts[a].length - prompts[b].length);
    for (let c = 0; c < order.length; c += batchSize) {
      const chunk = order.slice(c, c + batchSize);
      const { temperature, topK, topP, seed, onToken, onLogits, prefillChunk } = opts;
      await this.generateChunk(chunk, prompts, results, {
        temperature,
        topK,
        topP,
        seed,
        onToken,
        onLogits,
        maxNew,
        stopTokens,
        stopStrings,
        hooks,
        policy,
        prefillChunk,
      });
    }
    return results;
  }

  private async generateChunk(
    chunk: number[],
    prompts: number[][],
    results: GenerateResult[],
    o: SamplingOptions & {
      prefillChunk?: number;
      onToken?: GenerateOptions['onToken'];
      onLogits?: GenerateOptions['onLogits'];
      maxNew: number;
      stopTokens: Set<number>;
      stopStrings: string[];
      hooks: LayerHooks;
      policy: Map<number, Intervention[]>;
    },
  ): Promise<void> {
    const V = this.spec.vocab;
    const cache = this.newCache(chunk.map((seq) => ({ seq, ids: prompts[seq] })));
    const randoms = new Map(chunk.map((seq) => [seq, createRng((o.seed ?? 0) * 1_000_003 + seq)]));
    const texts = new Map(chunk.map((seq) => [seq, '']));
    if (o.maxNew <= 0) return;
    // long prompts are prefilled PREFILL_CHUNK padded positions at a time: masks and scores stay linear in T
    const T0 = Math.max(...chunk.map((seq) => prompts[seq].length));
    const padded = (seq: number, from: number, to: number) => {
      const pad = T0 - prompts[seq].length;
      return prompts[seq].slice(Math.max(0, from - pad), Math.max(0, to - pad));
    };
    let start = 0;
    const every = o.prefillChunk ?? PREFILL_CHUNK;
    for (; T0 - start > every; start += every) {
      await this.step(
        cache,
        chunk.map((seq) => padded(seq, start, start + every)),
        o.hooks,
        o.policy,
      );
    }
    let fresh = chunk.map((seq) => padded(seq, start, T0));
    for (let stepNo = 0; ; stepNo++) {
      const T = Math.max(...fresh.map((f) => f.length));
      const held: { rc?: RowsContext } = {};
      const h = await this.step(cache, fresh, o.hooks, o.policy, true, held);
      const last = cache.rows.map((_, b) => b * T + T - 1);
      const MH = o.hooks.get(MODEL_KEY);
      // greedy without an onLogits callback or a logits hook needs only the argmax, taken inside the head graph
      // (the first step fetches the logits anyway, to check the lm_head once: its argmax alone cannot show NaN)
      const argmaxOnly = stepNo > 0 && isGreedy(o) && !o.onLogits && !wantsModelPoints(MH);
      const greedy = argmaxOnly ? ((await this.headRun(h, last, 'greedy')).data as BigInt64Array) : null;
      const lg = greedy ? null : await this.headHooked(h, last, MH, held.rc!); // [B, V]
      const next: number[] = [];
      const alive: number[] = [];
      cache.rows.forEach((r, b) => {
        let id: number;
        if (greedy) id = Number(greedy[b]);
        else {
          const row = lg!.subarray(b * V, (b + 1) * V);
          o.onLogits?.(r.seq, row);
          id = sample(row, o, randoms.get(r.seq)!);
        }
        const res = results[r.seq];
        res.ids.push(id);
        if (o.onToken || o.stopStrings.length) {
          const text = this.tokenizer.decode(res.ids, { skipSpecialTokens: false });
          const prev = texts.get(r.seq)!;
          texts.set(r.seq, text);
          o.onToken?.(r.seq, id, text.startsWith(prev) ? text.slice(prev.length) : text);
        }
        let stop: GenerateResult['stopReason'] | null = null;
        if (o.stopTokens.has(id)) stop = 'stop_token';
        else if (o.stopStrings.some((s) => texts.get(r.seq)!.includes(s))) stop = 'stop_string';
        else if (res.ids.length >= o.maxNew) stop = 'max_new_tokens';
        if (stop) {
          res.stopReason = stop;
          const body = stop === 'stop_token' ? res.ids.slice(0, -1) : res.ids;
          res.text = this.tokenizer.decode(body, { skipSpecialTokens: false });
        } else {
          alive.push(b);
          next.push(id);
        }
      });
      if (alive.length === 0) return;
      if (alive.length < cache.rows.length) this.keepRows(cache, alive);
      fresh = next.map((id) => [id]);
    }
  }

  /** Drop finished rows from the cache (copies the kept rows of each layer's K/V). */
  private keepRows(cache: Cache, keep: number[]): void {
    const C = cache.cap;
    cache.k = cache.k.map((k, l) => gatherRows(k, keep, cache.kvDims[l].heads * C * cache.kvDims[l].kd));
    cache.v = cache.v.map((v, l) => gatherRows(v, keep, cache.kvDims[l].heads * C * cache.kvDims[l].vd));
    cache.rows = keep.map((b) => cache.rows[b]);
  }

  async dispose(): Promise<void> {
    for (const L of this.layers) {
      await L.attn.release();
      await L.attnDecode?.release();
      await L.ffn.release();
    }
    await this.head.release();
    for (const p of this.lazy.values()) await (await p).release();
    this.embed.close();
  }
}

/** the FFN graph's output when no hook asks for its parts */
const FFN_OUT = ['h'];
/** attention outputs of a one-shot forward (no K/V back to JS) */
const NO_KV = ['h_mid', 'x'];
const NO_KV_MOE = [...NO_KV, 'router_logits'];

/** Write the new tokens' K/V src [R, T, d] into slots [at, at + T) of the cache buffer dst [R, C, d]. */
function writeSlots(dst: Float32Array, src: Float32Array, R: number, T: number, d: number, C: number, at: number): void {
  for (let r = 0; r < R; r++) dst.set(src.subarray(r * T * d, (r + 1) * T * d), (r * C + at) * d);
}

function gatherRows(a: Float32Array, rows: number[], width: number): Float32Array {
  const out = new Float32Array(rows.length * width);
  rows.forEach((r, i) => out.set(a.subarray(r * width, (r + 1) * width), i * width));
  return out;
}

/** Load a Hugging Face MoE checkpoint folder (config.json, safetensors, tokenizer) for inference. */
export function loadModel(dir: string, opts: LoadOptions = {}): Promise<Model> {
  return Model.load(dir, opts);
}
