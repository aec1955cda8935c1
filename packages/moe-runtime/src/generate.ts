// generate(): batched decoding over a KV cache — rows sorted by length and decoded in chunks, long prompts
// prefilled in pieces, sampling or greedy argmax, stop tokens / strings, streaming callbacks. Not the layer
// pass (step.ts), the KV cache buffers (kv-cache.ts) nor sampling itself (sampling.ts).
// Shapes: B rows of a chunk, T new tokens per row, V vocab.

import { MoteError } from '@mote/tensor-core';
import { createRng } from '@mote/stats';
import { checkSampling, isGreedy, sample } from './sampling.js';
import type { GenerateOptions, GenerateResult, HookMap, Intervention, SamplingOptions } from './types.js';
import { MODEL_KEY, wantsModelPoints, type LayerHooks, type RowsContext } from './hooks.js';
import { checkIds } from './checks.js';
import { keepRows, newKvCache } from './kv-cache.js';
import type { ModelRuntime } from './sessions.js';
import { headHooked, headRun, layerHooks, policyByLayer, step } from './step.js';

/** Prompt positions fed per prefill step of generate (bounds its mask and attention scores). */
const PREFILL_CHUNK = 512;

/** Model.generate: `globalHooks` are those of the enclosing withHooks calls. */
export async function generate(
  rt: ModelRuntime,
  globalHooks: HookMap[],
  prompts: number[][],
  opts: GenerateOptions = {},
): Promise<GenerateResult[]> {
  checkSampling(opts);
  if (opts.truncate) prompts = prompts.map((p) => (p.length > rt.spec.maxPositions ? p.slice(p.length - rt.spec.maxPositions) : p));
  checkIds(rt, prompts);
  const hooks = layerHooks(rt, globalHooks, opts.hooks);
  const policy = policyByLayer(rt, opts.policy);
  const maxNew = opts.maxNewTokens ?? 64;
  const stopTokens = new Set(opts.stopTokens ?? rt.spec.eosTokenIds);
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
    await generateChunk(rt, chunk, prompts, results, {
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

async function generateChunk(
  rt: ModelRuntime,
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
  const V = rt.spec.vocab;
  const kv = newKvCache(
    rt.spec,
    rt.layers.length,
    chunk.map((seq) => ({ seq, ids: prompts[seq] })),
  );
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
    await step(
      rt,
      kv,
      chunk.map((seq) => padded(seq, start, start + every)),
      o.hooks,
      o.policy,
    );
  }
  let fresh = chunk.map((seq) => padded(seq, start, T0));
  for (let stepNo = 0; ; stepNo++) {
    const T = Math.max(...fresh.map((f) => f.length));
    const held: { rc?: RowsContext } = {};
    const h = await step(rt, kv, fresh, o.hooks, o.policy, true, held);
    const last = kv.rows.map((_, b) => b * T + T - 1);
    const MH = o.hooks.get(MODEL_KEY);
    // greedy without an onLogits callback or a logits hook needs only the argmax, taken inside the head graph
    // (the first step fetches the logits anyway, to check the lm_head once: its argmax alone cannot show NaN)
    const argmaxOnly = stepNo > 0 && isGreedy(o) && !o.onLogits && !wantsModelPoints(MH);
    const greedy = argmaxOnly ? ((await headRun(rt, h, last, 'greedy')).data as BigInt64Array) : null;
    const lg = greedy ? null : await headHooked(rt, h, last, MH, held.rc!); // [B, V]
    const next: number[] = [];
    const alive: number[] = [];
    kv.rows.forEach((r, b) => {
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
        const text = rt.tokenizer.decode(res.ids, { skipSpecialTokens: false });
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
        res.text = rt.tokenizer.decode(body, { skipSpecialTokens: false });
      } else {
        alive.push(b);
        next.push(id);
      }
    });
    if (alive.length === 0) return;
    if (alive.length < kv.rows.length) keepRows(kv, alive);
    fresh = next.map((id) => [id]);
  }
}
