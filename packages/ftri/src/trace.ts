// The tracer: router hooks that record, per prompt x token x MoE layer, the chosen experts and their
// applied weights (optionally the full router_probs) and aggregate prompt-level counts on the fly.
// It holds one batch at a time; writing parts to disk is store.ts's job.
// Shapes: N rows of one hook call, K top-k, E routed experts, L MoE layers, F = L*E, b prompts in the batch,
// R recorded token rows.

import { hookName, inScope, SCOPE_NAMES } from '@mote/moe-runtime';
import type { HookMap, HookContext, Tensor, TokenInfo } from '@mote/moe-runtime';
import { MoteError } from '@mote/tensor-core';

/** The runtime's named token scopes plus `answer`: generated, after the think block, think tags excluded. */
export const SCOPES = [...SCOPE_NAMES, 'answer'] as const;
export type Scope = (typeof SCOPES)[number];

/** Row flags in traces: bit 0 generated, bit 1 inside <think>…</think>, bit 2 answer (generated, after the think block). */
export const FLAG_GENERATED = 1,
  FLAG_THINK = 2,
  FLAG_ANSWER = 4;

/** Columnar token rows of one batch. */
export interface TokenRows {
  n: number;
  prompt: Int32Array; // [R] index of the prompt in the prompt set
  pos: Int32Array; // [R]
  tokenId: Int32Array; // [R]
  layer: Int32Array; // [R] decoder-layer index
  flags: Uint8Array; // [R]
  topkIds: Int32Array; // [R, K]
  topkWeights: Float32Array; // [R, K]
  routerProbs: Float32Array | null; // [R, E]
}

export interface BatchAggregate {
  /** prompt-set indices of the batch's prompts, in call order (seq -> prompt) */
  promptIndex: number[];
  counts: Float32Array; // [b, F] selections over scoped tokens
  weights: Float32Array; // [b, F] summed applied weight over scoped tokens
  tokens: Float64Array; // [b] scoped tokens
  promptTokens: Int32Array; // [b] prompt tokens seen (any scope)
  generatedTokens: Int32Array; // [b] generated tokens routed (the final stop token is never routed)
}

/** A growable typed array. */
class Grow<T extends Int32Array | Float32Array | Uint8Array> {
  buf: T;
  n = 0;
  constructor(
    private readonly make: (n: number) => T,
    cap = 4096,
  ) {
    this.buf = make(cap);
  }
  reserve(extra: number): void {
    if (this.n + extra <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.n + extra) cap *= 2;
    const nb = this.make(cap);
    nb.set(this.buf.subarray(0, this.n) as never);
    this.buf = nb;
  }
  push(v: number): void {
    if (this.n === this.buf.length) this.reserve(1);
    this.buf[this.n++] = v;
  }
  take(): T {
    const out = this.buf.slice(0, this.n) as T;
    this.n = 0;
    return out;
  }
}

export interface TracerOptions {
  scope?: Scope;
  /** record token rows (default true); prompt-level counts are always aggregated */
  recordTokens?: boolean;
  /** also record the full router_probs row of each token (E floats per row) */
  routerProbs?: boolean;
  /** token ids of the think tags (excluded from the answer scope) */
  thinkTagIds?: number[];
}

/** Records one batch at a time through router hooks; `begin` a batch, run the model with `hooks`, `end` it. */
export class BatchTracer {
  readonly hooks: HookMap = {};
  readonly scope: Scope;
  private readonly L: number;
  private readonly E: number;
  private readonly K: number;
  private readonly F: number;
  private readonly tags: Set<number>;
  private readonly record: boolean;
  private readonly withProbs: boolean;
  private agg: BatchAggregate | null = null;
  private pending: Array<{ ids?: Int32Array; w?: Float32Array; probs?: Float32Array; tokens?: TokenInfo[]; k?: number }>;
  private rows = {
    prompt: new Grow((n) => new Int32Array(n)),
    pos: new Grow((n) => new Int32Array(n)),
    tokenId: new Grow((n) => new Int32Array(n)),
    layer: new Grow((n) => new Int32Array(n)),
    flags: new Grow((n) => new Uint8Array(n)),
    ids: new Grow((n) => new Int32Array(n)),
    w: new Grow((n) => new Float32Array(n)),
    probs: new Grow((n) => new Float32Array(n)),
  };

  /** true on a model that returns topk_ids only (a served model): weights are NaN, every chosen id counts */
  readonly idsOnly: boolean;

  constructor(info: { moeLayers: number[]; expertCount: number; topK: number; routerPoints?: string[] }, opts: TracerOptions = {}) {
    this.scope = opts.scope ?? 'prompt';
    if (!SCOPES.includes(this.scope))
      throw new MoteError('E_INPUT', `unknown scope "${this.scope}"; use one of ${SCOPES.join(', ')}`, { field: 'scope' });
    if (!info.moeLayers.length)
      throw new MoteError('E_INPUT', 'the model has no MoE layers (info.moeLayers is empty): nothing to trace', { field: 'moeLayers' });
    this.L = info.moeLayers.length;
    this.E = info.expertCount;
    this.K = info.topK;
    this.F = this.L * this.E;
    this.tags = new Set(opts.thinkTagIds ?? []);
    this.record = opts.recordTokens ?? true;
    this.withProbs = !!opts.routerProbs;
    this.idsOnly = !!info.routerPoints && !info.routerPoints.includes('topk_weights');
    if (this.idsOnly && this.withProbs)
      throw new MoteError(
        'E_INPUT',
        'router_probs: this model returns topk_ids only (a served model); trace router_probs with the local runtime (loadModel)',
        { field: 'routerProbs' },
      );
    this.pending = info.moeLayers.map(() => ({}));
    info.moeLayers.forEach((layer, li) => {
      this.hooks[hookName(layer, 'topk_ids')] = (t: Tensor, ctx: HookContext) => {
        const p = this.pending[li];
        p.ids = (t.data as Int32Array).slice(); // a memcpy (TypedArray.from iterates)
        p.tokens = ctx.tokens;
        p.k = ctx.topK;
        if (this.idsOnly) p.w = new Float32Array(p.ids.length).fill(NaN); // [N, K] no gate weights come back
        this.maybeProcess(li, layer);
      };
      if (!this.idsOnly)
        this.hooks[hookName(layer, 'topk_weights')] = (t: Tensor) => {
          this.pending[li].w = (t.data as Float32Array).slice();
          this.maybeProcess(li, layer);
        };
      if (this.withProbs)
        this.hooks[hookName(layer, 'router_probs')] = (t: Tensor) => {
          this.pending[li].probs = (t.data as Float32Array).slice();
          this.maybeProcess(li, layer);
        };
    });
  }

  /** Start a batch whose call-local sequence s is prompt `promptIndex[s]` of the prompt set. */
  begin(promptIndex: number[]): void {
    const b = promptIndex.length;
    this.agg = {
      promptIndex: [...promptIndex],
      counts: new Float32Array(b * this.F),
      weights: new Float32Array(b * this.F),
      tokens: new Float64Array(b),
      promptTokens: new Int32Array(b),
      generatedTokens: new Int32Array(b),
    };
    for (const p of this.pending) (p.ids = p.w = p.probs = undefined), (p.tokens = undefined);
  }

  /** Finish the batch: its prompt-level aggregate and its token rows (empty when not recording). */
  end(): { agg: BatchAggregate; rows: TokenRows } {
    if (!this.agg) throw new MoteError('E_INPUT', 'BatchTracer.end() called without begin()', {});
    const agg = this.agg;
    this.agg = null;
    const r = this.rows;
    const rows: TokenRows = {
      n: r.prompt.n,
      prompt: r.prompt.take(),
      pos: r.pos.take(),
      tokenId: r.tokenId.take(),
      layer: r.layer.take(),
      flags: r.flags.take(),
      topkIds: r.ids.take(),
      topkWeights: r.w.take(),
      routerProbs: this.withProbs ? r.probs.take() : null,
    };
    return { agg, rows };
  }

  private maybeProcess(li: number, layer: number): void {
    const p = this.pending[li];
    if (!p.ids || !p.w || !p.tokens || (this.withProbs && !p.probs)) return;
    const { ids, w, tokens } = p;
    const probs = p.probs;
    const K = p.k ?? this.K;
    p.ids = p.w = p.probs = p.tokens = undefined;
    const agg = this.agg;
    if (!agg) return; // a forward outside begin()/end(): not ours to record
    const N = tokens.length,
      E = this.E,
      F = this.F,
      off = li * E;
    if (ids.length !== N * K || w.length !== N * K)
      throw new MoteError(
        'E_SHAPE',
        `trace: layer ${layer} topk tensors have ${ids.length}/${w.length} values for ${N} tokens x top-${K}`,
        { field: 'topk_ids' },
      );
    const scope = this.scope,
      tags = this.tags,
      rec = this.record,
      r = this.rows;
    if (rec) {
      r.prompt.reserve(N), r.pos.reserve(N), r.tokenId.reserve(N), r.layer.reserve(N), r.flags.reserve(N);
      r.ids.reserve(N * K), r.w.reserve(N * K);
      if (probs) r.probs.reserve(N * E);
    }
    for (let i = 0; i < N; i++) {
      const t = tokens[i];
      const gen = t.generated,
        th = t.inThink;
      const ans = gen && !th && !tags.has(t.tokenId);
      const s = t.seq;
      if (s < 0 || s >= agg.promptIndex.length) continue;
      if (li === 0) gen ? agg.generatedTokens[s]++ : agg.promptTokens[s]++;
      if (!(scope === 'answer' ? ans : inScope(scope, t))) continue;
      if (li === 0) agg.tokens[s]++;
      const base = s * F + off;
      for (let k = 0; k < K; k++) {
        const wk = w[i * K + k];
        if (!(wk > 0) && !this.idsOnly) continue; // a dropped expert (weight 0) is not active
        const e = ids[i * K + k];
        agg.counts[base + e] += 1;
        agg.weights[base + e] += wk;
      }
      if (rec) {
        r.prompt.push(agg.promptIndex[s]);
        r.pos.push(t.pos);
        r.tokenId.push(t.tokenId);
        r.layer.push(layer);
        r.flags.push((gen ? FLAG_GENERATED : 0) | (th ? FLAG_THINK : 0) | (ans ? FLAG_ANSWER : 0));
        for (let k = 0; k < K; k++) r.ids.push(ids[i * K + k]), r.w.push(w[i * K + k]);
        if (probs) for (let e = 0; e < E; e++) r.probs.push(probs[i * E + e]);
      }
    }
  }
}
