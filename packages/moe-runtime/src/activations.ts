// The typed activation cache that runWithCache returns, and hook-name selection by wildcard / RegExp.
// Not the recorder itself (model.ts installs the hooks); this file only stores and reshapes what they saw.
// Shapes: B rows of the call, T = longest row, N = real tokens of the call (rows in [b, t] order).

import { MoteError, type Tensor } from '@mote/tensor-core';
import { hookName, MODEL_POINTS, MOE_POINTS, RESID_POINTS, ROUTER_POINTS, type ModelInfo, type TensorAt, type TokenInfo } from './types.js';

/**
 * Every hook name of a model: residual points of every layer, router and MoE points of MoE layers, then
 * final_norm and logits. `expertOut` adds the opt-in `blocks.{l}.moe.expert_out` names.
 * @example
 * allHookNames(model.info).filter((n) => n.endsWith('resid_post')); // ['blocks.0.resid_post', ...]
 */
export function allHookNames(info: Pick<ModelInfo, 'layerCount' | 'moeLayers'>, opts: { expertOut?: boolean } = {}): string[] {
  const out: string[] = [];
  for (let l = 0; l < info.layerCount; l++) {
    out.push(...RESID_POINTS.map((p) => hookName(l, p)));
    if (!info.moeLayers.includes(l)) continue;
    out.push(...ROUTER_POINTS.map((p) => hookName(l, p)));
    out.push(...MOE_POINTS.filter((p) => opts.expertOut || p !== 'expert_out').map((p) => hookName(l, p)));
  }
  return [...out, ...MODEL_POINTS.map((p) => hookName(p))];
}

/**
 * The hook names a list of selectors picks, in the model's order: exact names, `*` wildcards (one name part,
 * `blocks.*.resid_post`) and RegExps. expert_out is large, so a wildcard or RegExp picks it only when the
 * selector itself mentions `expert_out`. A selector that picks nothing is an error.
 * @example
 * selectHookNames(model.info, ['blocks.*.resid_post', /moe\.topk_ids$/]);
 * // ['blocks.0.resid_post', 'blocks.0.moe.topk_ids', 'blocks.1.resid_post', ...]
 */
export function selectHookNames(info: Pick<ModelInfo, 'layerCount' | 'moeLayers' | 'modelType'>, selectors: (string | RegExp)[]): string[] {
  const all = allHookNames(info, { expertOut: true });
  const picked = new Set<string>();
  for (const s of selectors) {
    const mentionsExpertOut = (typeof s === 'string' ? s : s.source).includes('expert_out');
    const glob = (g: string) =>
      new RegExp(
        `^${g
          .split('*')
          .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
          .join('[^.]+')}$`,
      );
    const re = typeof s === 'string' ? glob(s) : s;
    const hits = all.filter((n) => re.test(n) && (mentionsExpertOut || !n.endsWith('.expert_out')));
    if (hits.length === 0) {
      const like = `${hookName(0, 'resid_post')}, ${hookName(info.moeLayers[0] ?? 0, 'topk_ids')}, logits`;
      const msg = `cache selector ${String(s)} matches no hook point of ${info.modelType}; names look like ${like}`;
      throw new MoteError('E_INPUT', msg, { field: 'names' });
    }
    hits.forEach((n) => picked.add(n));
  }
  return all.filter((n) => picked.has(n));
}

/** One [B, T] byte mask per token class (1 = true). Position t of row b is at [b, t]; a row shorter than T
 *  has valid = 0 after its end. */
export interface ActivationMasks {
  valid: Uint8Array;
  prompt: Uint8Array;
  generated: Uint8Array;
  think: Uint8Array;
}

/**
 * What runWithCache recorded: per name the [N, ...] rows the hook saw (memory = the names asked for), read back
 * as [B, T, ...] (`stack`), one row without padding (`row`), or the hooks' own layout (`get`). Types follow the
 * name: `topk_ids` is int32, everything else float32, no casts.
 * @example
 * const { cache } = await model.runWithCache([ids], { names: ['blocks.*.resid_post'] });
 * const h = cache.stack('blocks.1.resid_post'); // F32Tensor [1, T, D]
 * const prompt = cache.masks.prompt;            // Uint8Array [1, T]
 */
export class ActivationCache {
  readonly batch: number;
  readonly length: number;
  /** real tokens per row */
  readonly lengths: number[];
  /** [B, T] token ids, 0 after a row's end */
  readonly tokenIds: Int32Array;
  readonly masks: ActivationMasks;
  private readonly store = new Map<string, { tensor: Tensor; tokens: TokenInfo[] }>();

  constructor(lengths: number[], tokens: TokenInfo[]) {
    this.batch = lengths.length;
    this.lengths = lengths;
    this.length = Math.max(...lengths);
    const BT = this.batch * this.length;
    this.tokenIds = new Int32Array(BT);
    this.masks = { valid: new Uint8Array(BT), prompt: new Uint8Array(BT), generated: new Uint8Array(BT), think: new Uint8Array(BT) };
    for (const t of tokens) {
      const i = t.seq * this.length + t.pos;
      this.tokenIds[i] = t.tokenId;
      this.masks.valid[i] = 1;
      this.masks.prompt[i] = t.generated ? 0 : 1;
      this.masks.generated[i] = t.generated ? 1 : 0;
      this.masks.think[i] = t.inThink ? 1 : 0;
    }
  }

  /** record what a hook saw (the runtime calls this; the tensor is copied) */
  set(name: string, tensor: Tensor, tokens: TokenInfo[]): void {
    this.store.set(name, { tensor: { ...tensor, shape: tensor.shape.slice(), data: tensor.data.slice() } as Tensor, tokens });
  }

  get size(): number {
    return this.store.size;
  }
  keys(): IterableIterator<string> {
    return this.store.keys();
  }
  has(name: string): boolean {
    return this.store.has(name);
  }

  /** The hooks' layout: [N, ...] rows in [b, t] order with their TokenInfo (undefined if not cached). */
  get<N extends string>(name: N): { tensor: TensorAt<N>; tokens: TokenInfo[] } | undefined {
    return this.store.get(name) as { tensor: TensorAt<N>; tokens: TokenInfo[] } | undefined;
  }

  private need(name: string): { tensor: Tensor; tokens: TokenInfo[] } {
    const e = this.store.get(name);
    if (!e) {
      const cached = `${[...this.store.keys()].slice(0, 8).join(', ')}${this.size > 8 ? ', ...' : ''}`;
      throw new MoteError('E_INPUT', `activation ${name} was not cached; cached names: ${cached}`, { field: name });
    }
    return e;
  }

  /** [B, T, ...]: position t of row b at [b, t]; positions after a row's end are 0 (see masks.valid). */
  stack<N extends string>(name: N): TensorAt<N> {
    const { tensor, tokens } = this.need(name);
    const inner = tensor.shape.slice(1);
    const w = inner.reduce((a, b) => a * b, 1);
    const Ctor = tensor.data.constructor as new (n: number) => Tensor['data'];
    const out = new Ctor(this.batch * this.length * w);
    const src = tensor.data as Float32Array;
    tokens.forEach((t, n) => (out as Float32Array).set(src.subarray(n * w, (n + 1) * w), (t.seq * this.length + t.pos) * w));
    return { dtype: tensor.dtype, shape: [this.batch, this.length, ...inner], data: out } as TensorAt<N>;
  }

  /** Row b without padding: [len_b, ...] (the rows the hook saw: one per position, or the last with logits 'last'). */
  row<N extends string>(name: N, b: number): TensorAt<N> {
    const { tensor, tokens } = this.need(name);
    const inner = tensor.shape.slice(1);
    const w = inner.reduce((a, c) => a * c, 1);
    const first = tokens.findIndex((t) => t.seq === b);
    if (first < 0) throw new MoteError('E_INPUT', `row ${b} is outside the cached batch of ${this.batch}`, { field: 'row' });
    let n = 0;
    for (let i = first; i < tokens.length && tokens[i].seq === b; i++) n++;
    return { dtype: tensor.dtype, shape: [n, ...inner], data: tensor.data.slice(first * w, (first + n) * w) } as TensorAt<N>;
  }
}
