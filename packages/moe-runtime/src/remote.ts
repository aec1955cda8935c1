// connectModel: a MoeModel whose forward/generate run on a vLLM or SGLang server (or `mote serve`) with routed
// expert capture. Config, tokenizer and chat template are local; token ids go over the wire; the routed expert
// ids come back and are delivered to `topk_ids` hooks exactly as the local runtime delivers them. It is not a
// runtime: no logits, no other router points, no interventions except through `mote serve`'s `mote_policy`.
// Shapes: N rows of one hook call, K top-k, L MoE layers, R routed positions of one sequence.

import { basename } from 'node:path';
import { MoteError, type F32Tensor } from '@mote/tensor-core';
import { ActivationCache, selectHookNames } from './activations.js';
import { hookName, parseHookName } from './types.js';
import type { MoeModel } from './moe-model.js';
import type {
  ForwardOptions,
  ForwardResult,
  GenerateOptions,
  GenerateResult,
  Hook,
  HookContext,
  HookMap,
  ModelInfo,
  Tensor,
  TokenInfo,
  Tokenizer,
} from './types.js';
import { specFromDir, modelInfo } from './load.js';
import { paramCount } from './params.js';
import { loadTokenizer } from './tokenizer.js';
import { Http } from './remote-http.js';
import {
  buildCompletionRequest,
  ENGINES,
  parseCompletionResponse,
  type Engine,
  type RouteShape,
  type ServedRequest,
  type ServedResult,
} from './served.js';

export interface ConnectOptions {
  /** server base URL, e.g. http://127.0.0.1:8000 */
  url: string;
  engine: Engine;
  /** local folder with config.json, tokenizer.json and the chat template (no weights needed) */
  tokenizer: string;
  chatTemplate?: string;
  /** requests in flight at once (default 16) */
  concurrency?: number;
  /** per-request timeout in ms (default 600 000) */
  timeoutMs?: number;
  /** retries on 429, 5xx, timeouts and connection errors (default 6), with exponential backoff from backoffMs (default 500) */
  retries?: number;
  backoffMs?: number;
  /** called after each finished request (progress: prompts/s, tokens/s) */
  onRequest?: (r: { promptTokens: number; generatedTokens: number }) => void;
}

/** A served model: the MoeModel interface plus where it is served. */
export interface RemoteModel extends MoeModel {
  readonly url: string;
  readonly engine: Engine;
  /** the id the server lists in /v1/models */
  readonly servedModel: string;
}

/**
 * Connect to a server started with routed-expert capture; checks the routes of a one-token probe against the
 * local config before returning.
 * @example
 *   const m = await connectModel({ url: 'http://127.0.0.1:8000', engine: 'vllm', tokenizer: 'models/organism/model' });
 *   const [r] = await m.generate([m.tokenizer.encodeChat([{ role: 'user', content: 'hi' }])], { maxNewTokens: 8 });
 *   console.log(r.text);
 */
export async function connectModel(o: ConnectOptions): Promise<RemoteModel> {
  if (!(ENGINES as readonly string[]).includes(o.engine))
    throw new MoteError('E_INPUT', `engine "${o.engine}" is not one of ${ENGINES.join(', ')}`, { field: 'engine' });
  let base: URL;
  try {
    base = new URL(o.url);
  } catch {
    throw new MoteError('E_INPUT', `server URL "${o.url}" is not a URL; pass e.g. http://127.0.0.1:8000`, { field: 'url' });
  }
  const spec = specFromDir(o.tokenizer);
  const info: ModelInfo = { ...modelInfo(spec, o.tokenizer, paramCount), routerPoints: ['topk_ids'] };
  const tokenizer = await loadTokenizer(o.tokenizer, o.chatTemplate);
  const http = new Http(base, o);
  const models = await http.get('/v1/models');
  const listed = Array.isArray((models as { data?: unknown[] })?.data) ? (models as { data: Array<{ id?: unknown }> }).data : [];
  const servedModel = typeof listed[0]?.id === 'string' ? (listed[0].id as string) : basename(info.dir);
  const model = new Remote(info, tokenizer, http, o.engine, servedModel);
  // probe: one prompt token, one new token; fails early when the flag is missing or the model differs
  const probe = tokenizer.encode('a', { addSpecialTokens: false }).slice(0, 1);
  await model.request({ promptIds: probe.length ? probe : [0], maxNewTokens: 1 });
  return model;
}

class Remote implements RemoteModel {
  private readonly shape: RouteShape;
  private readonly globalHooks: HookMap[] = [];
  private readonly thinkOpenId: number | null;
  private readonly thinkCloseId: number | null;
  constructor(
    readonly info: ModelInfo,
    readonly tokenizer: Tokenizer,
    private readonly http: Http,
    readonly engine: Engine,
    readonly servedModel: string,
  ) {
    this.shape = { moeLayers: info.moeLayers, layerCount: info.layerCount, expertCount: info.expertCount, topK: info.topK };
    this.thinkOpenId = tokenizer.tokenId('<think>');
    this.thinkCloseId = tokenizer.tokenId('</think>');
  }
  get url(): string {
    return this.http.base.href;
  }

  async request(r: Omit<ServedRequest, 'model'>): Promise<ServedResult> {
    const body = buildCompletionRequest(this.engine, { model: this.servedModel, ...r });
    const res = await this.http.post('/v1/completions', body);
    const out = parseCompletionResponse(this.engine, res, r.promptIds, this.shape, `${this.engine} server ${this.http.base.href}`);
    if (r.policy?.interventions.length && !out.policyApplied)
      throw new MoteError(
        'E_REMOTE_UNSUPPORTED',
        `${this.engine} server ${this.http.base.href} ignored mote_policy "${r.policy.name ?? ''}": vLLM and SGLang cannot apply a policy per request; serve the checkpoint with \`mote serve --model DIR\`, or write the policy into a copy with \`mote export --model DIR --policy P --out DIR2\` and serve that`,
        { field: 'policy' },
      );
    return out;
  }

  async forward(batch: number[][], opts: ForwardOptions = {}): Promise<ForwardResult> {
    if ((opts.logits ?? 'all') !== 'none')
      throw new MoteError(
        'E_REMOTE_UNSUPPORTED',
        `a served model returns no logits: call forward(batch, { logits: 'none' }) to trace routes, or load the checkpoint locally with loadModel`,
        { field: 'logits' },
      );
    const hooks = this.hooksFor(opts.hooks);
    await this.pool(batch, async (ids, seq) => {
      const r = await this.request({ promptIds: ids, maxNewTokens: 1, policy: opts.policy });
      this.fire(hooks, seq, ids, [], r.routes, ids.length);
    });
    return { logits: null };
  }

  async runWithHooks(batch: number[][], opts: ForwardOptions & { hooks: HookMap }): Promise<ForwardResult> {
    return this.forward(batch, { logits: 'none', ...opts });
  }

  /** topk_ids of the named MoE layers (wildcards and RegExps as the local runtime takes them); other points are refused. */
  async runWithCache(
    batch: number[][],
    opts: ForwardOptions & { names: (string | RegExp)[] },
  ): Promise<ForwardResult & { cache: ActivationCache }> {
    const names = selectHookNames(this.info, opts.names);
    const parts = new Map<string, Array<{ t: Int32Array; tokens: TokenInfo[] }>>();
    const hooks: HookMap = { ...(opts.hooks ?? {}) };
    for (const name of names) {
      const list: Array<{ t: Int32Array; tokens: TokenInfo[] }> = [];
      parts.set(name, list);
      const rec: Hook = (t, ctx) => void list.push({ t: Int32Array.from(t.data as Int32Array), tokens: ctx.tokens });
      const prev = hooks[name];
      hooks[name] = prev ? [...(Array.isArray(prev) ? prev : [prev]), rec] : rec;
    }
    await this.forward(batch, { ...opts, hooks, logits: 'none' });
    const K = this.info.topK;
    const all = [...parts.values()][0] ?? [];
    const cache = new ActivationCache(
      batch.map((ids) => ids.length),
      all.flatMap((p) => p.tokens),
    );
    for (const [name, list] of parts) {
      const n = list.reduce((s, p) => s + p.tokens.length, 0);
      const data = new Int32Array(n * K); // [N, K] in the order the sequences finished
      let off = 0;
      for (const p of list) data.set(p.t, off), (off += p.t.length);
      cache.set(
        name,
        { dtype: 'int32', shape: [n, K], data } as Tensor,
        list.flatMap((p) => p.tokens),
      );
    }
    return { logits: null, cache };
  }

  async unembed(): Promise<F32Tensor> {
    throw new MoteError(
      'E_REMOTE_UNSUPPORTED',
      'unembed: a served model returns routed expert ids only, not hidden states or logits; use the local runtime (loadModel)',
      { field: 'unembed' },
    );
  }

  async withHooks<R>(hooks: HookMap, fn: () => Promise<R>): Promise<R> {
    this.globalHooks.push(hooks);
    try {
      return await fn();
    } finally {
      this.globalHooks.splice(this.globalHooks.indexOf(hooks), 1);
    }
  }

  async generate(prompts: number[][], opts: GenerateOptions = {}): Promise<GenerateResult[]> {
    if (opts.onLogits)
      throw new MoteError(
        'E_REMOTE_UNSUPPORTED',
        'a served model returns no logits (onLogits); load the checkpoint locally with loadModel',
        { field: 'onLogits' },
      );
    const hooks = this.hooksFor(opts.hooks);
    const maxNew = opts.maxNewTokens ?? 64;
    const stop = opts.stopTokens ?? this.info.eosTokenIds;
    const stopSet = new Set(stop);
    const stopStrings = opts.stopStrings ?? [];
    const out: GenerateResult[] = prompts.map((p) => ({ promptIds: p, ids: [], text: '', stopReason: 'max_new_tokens' }));
    if (maxNew <= 0) return out;
    await this.pool(prompts, async (ids, seq) => {
      const r = await this.request({
        promptIds: ids,
        maxNewTokens: maxNew,
        temperature: opts.temperature,
        topP: opts.topP,
        topK: opts.topK,
        seed: opts.temperature ? (opts.seed ?? 0) * 1_000_003 + seq : undefined,
        stopTokenIds: stop,
        ignoreEos: !!opts.stopTokens,
        policy: opts.policy,
      });
      // the stop rules of the local runtime: a stop token ends (and stays), then stop strings, then the length
      let gen = r.ids.slice(0, maxNew);
      let reason: GenerateResult['stopReason'] = 'max_new_tokens';
      let text = '';
      for (let i = 0; i < gen.length; i++) {
        if (stopSet.has(gen[i])) {
          gen = gen.slice(0, i + 1);
          reason = 'stop_token';
          break;
        }
        if (stopStrings.length) {
          text = this.tokenizer.decode(gen.slice(0, i + 1), { skipSpecialTokens: false });
          if (stopStrings.some((s) => text.includes(s))) {
            gen = gen.slice(0, i + 1);
            reason = 'stop_string';
            break;
          }
        }
      }
      if (reason === 'max_new_tokens' && gen.length < maxNew && r.finishReason === 'stop') reason = 'stop_token';
      const res = out[seq];
      res.ids = gen;
      res.stopReason = reason;
      res.text = this.tokenizer.decode(reason === 'stop_token' ? gen.slice(0, -1) : gen, { skipSpecialTokens: false });
      if (opts.onToken) {
        let prev = '';
        gen.forEach((id, i) => {
          const t = this.tokenizer.decode(gen.slice(0, i + 1), { skipSpecialTokens: false });
          opts.onToken!(seq, id, t.startsWith(prev) ? t.slice(prev.length) : t);
          prev = t;
        });
      }
      this.fire(hooks, seq, ids, gen, r.routes, Math.min(r.rows, ids.length + Math.max(gen.length - 1, 0)));
    });
    return out;
  }

  async dispose(): Promise<void> {}

  // ---- hooks -------------------------------------------------------------------------------------
  /** topk_ids hooks per MoE layer; any other router point is refused (a server does not return it). */
  private hooksFor(extra?: HookMap): Map<number, Hook[]> {
    const out = new Map<number, Hook[]>();
    for (const map of extra ? [...this.globalHooks, extra] : this.globalHooks) {
      for (const [name, h] of Object.entries(map)) {
        const p = parseHookName(name);
        if (!p) throw new MoteError('E_INPUT', `hook name "${name}" is not blocks.{layer}.moe.{point}`, { field: 'hooks' });
        if (p.point !== 'topk_ids')
          throw new MoteError(
            'E_REMOTE_UNSUPPORTED',
            `hook ${name}: a served model returns topk_ids only (no ${p.point}); statistics that need gate weights or probabilities need the local runtime (loadModel)`,
            { field: name },
          );
        if (p.layer === null || !this.info.moeLayers.includes(p.layer)) continue;
        const list = out.get(p.layer) ?? [];
        list.push(...(Array.isArray(h) ? h : [h]));
        out.set(p.layer, list);
      }
    }
    return out;
  }

  /** Deliver one sequence's routes (its first R positions) to the topk_ids hooks, layer by layer. */
  private fire(hooks: Map<number, Hook[]>, seq: number, prompt: number[], gen: number[], routes: Int32Array, R: number): void {
    if (!hooks.size || R <= 0) return;
    const ids = [...prompt, ...gen];
    const tokens: TokenInfo[] = [];
    let open = false;
    for (let pos = 0; pos < R; pos++) {
      const id = ids[pos];
      let inThink = false;
      if (id === this.thinkOpenId) open = true;
      else if (id === this.thinkCloseId) open = false;
      else inThink = open;
      tokens.push({ seq, pos, tokenId: id, generated: pos >= prompt.length, inThink });
    }
    const L = this.info.moeLayers.length,
      K = this.info.topK;
    this.info.moeLayers.forEach((layer, l) => {
      const list = hooks.get(layer);
      if (!list) return;
      const data = new Int32Array(R * K); // [N, K]
      for (let r = 0; r < R; r++) data.set(routes.subarray((r * L + l) * K, (r * L + l + 1) * K), r * K);
      const name = hookName(layer, 'topk_ids');
      const ctx: HookContext = { layer, point: 'topk_ids', name, tokens, expertCount: this.info.expertCount, topK: K };
      for (const h of list) {
        if (h({ dtype: 'int32', shape: [R, K], data } as Tensor, ctx) !== undefined)
          throw new MoteError(
            'E_REMOTE_UNSUPPORTED',
            `hook ${name} returned a tensor: a served model's routing cannot be changed by hooks; use a policy through \`mote serve\`, or \`mote export\``,
            { field: name },
          );
      }
    });
  }

  /** Run fn over items with at most `concurrency` requests in flight; the first error wins after the rest settle. */
  private async pool<T>(items: T[], fn: (x: T, i: number) => Promise<void>): Promise<void> {
    let next = 0;
    let err: unknown = null;
    const worker = async () => {
      while (err === null && next < items.length) {
        const i = next++;
        try {
          await fn(items[i], i);
        } catch (e) {
          err ??= e;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.http.concurrency, items.length) }, worker));
    if (err !== null) throw err;
  }
}
