// Loading a checkpoint into what the runtime runs: the dtype check, the graphs of every layer converted once
// into the weight cache (cold load) and opened from it as onnxruntime sessions, the JS-held tensors, and
// graphs built on first use for hooks. Not the config -> spec step (load.ts), not the cache folder and its
// files (cache.ts), not the forward pass (step.ts).

import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { isMoteError, MoteError, SafetensorsCheckpoint, Session, type GraphBuilder } from '@mote/tensor-core';
import { buildDenseBlock, buildHead, buildMoeBlock, Weights } from './graphs.js';
import { CheckedWeights, checkSizesFit, modelInfo, specFromDir } from './load.js';
import { estimateMemory, resolveDtype } from './memory.js';
import { quantizeGraph, WEIGHT_DTYPES, type WeightDtype } from './quantize.js';
import { paramCount } from './params.js';
import { ropeTables, type RopeTables } from './rope.js';
import type { ModelSpec } from './spec.js';
import { loadTokenizer } from './tokenizer.js';
import type { LoadOptions, ModelInfo, Tokenizer } from './types.js';
import { ATTENTION_BUILDERS, DECODE_ATTENTION_BUILDERS } from './attention.js';
import { CacheCorrupt, cacheRoot, WeightCache, type CacheStats } from './cache.js';
import type { RowTable } from './cache-files.js';
import { convertInChild } from './convert.js';
import { buildExpertSlicesBlock, expertSlicesFit } from './experts.js';

export interface LayerSessions {
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

/** A loaded model's runtime state: spec, tokenizer, sessions and JS-held tensors. Model wraps it. */
export interface ModelRuntime {
  readonly spec: ModelSpec;
  readonly info: ModelInfo;
  readonly tokenizer: Tokenizer;
  readonly layers: LayerSessions[];
  readonly head: Session;
  readonly embed: RowTable; // [V, D], rows read per step
  readonly rope: RopeTables;
  readonly thinkOpenId: number | null;
  readonly thinkCloseId: number | null;
  /** where the weights came from: the weight-cache folder and whether this load hit it */
  readonly weightCache: CacheStats;
  readonly loadOpts: LoadOptions;
  /** sessions built on first use (lazySession) */
  readonly lazy: Map<string, Promise<Session>>;
}

/**
 * Load: resolve the dtype against the memory available (E_MEMORY before allocating), then on a cache
 * miss convert every graph straight into the cache (no sessions held meanwhile), then create the
 * sessions from the cache files. A damaged entry is rebuilt once; a cache that cannot be written
 * degrades to building in memory.
 */
export async function loadRuntime(dir: string, opts: LoadOptions = {}): Promise<ModelRuntime> {
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
      const ok = (await convertInChild(abs, cache, copen)) ?? (await convert(spec, abs, cache));
      cache = ok ? WeightCache.open(abs, dtype, copen) : WeightCache.none(dtype, abs, log);
      cache.built = true;
    }
    try {
      return await fromCache(spec, abs, tokenizer, cache, opts);
    } catch (e) {
      if (!(e instanceof CacheCorrupt) || attempt > 0)
        throw e instanceof CacheCorrupt ? new MoteError('E_IO', `${e.message}; delete that folder`) : e;
      log(`warning: ${e.message}; rebuilding the entry`);
      cache.remove();
    }
  }
}

/** The graphs of a model in load order: name, builder, session label. */
function graphs(spec: ModelSpec, w: Weights, dtype: WeightDtype): { name: string; build: () => GraphBuilder; label: string }[] {
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
function tensors(
  spec: ModelSpec,
  w: Weights,
  cache: WeightCache,
): { correction: (l: number) => Float32Array | null; embed: () => RowTable } {
  return {
    correction: (l) => {
      const cb = spec.weights.layer(l).correctionBias;
      return spec.moeLayers.includes(l) && cb ? cache.tensor(`layer${l}_correction_bias`, () => w.get(cb, [spec.expertCount])).data : null;
    },
    embed: () => cache.rows('embed', () => w.get(spec.weights.embed, [spec.vocab, spec.hidden])),
  };
}

/** Cold load: every graph and tensor converted one at a time straight into the cache entry (non-finite
 *  weights refused here, once). false: the disk refused, nothing cached. */
export async function convert(spec: ModelSpec, abs: string, cache: WeightCache): Promise<boolean> {
  const ckpt = SafetensorsCheckpoint.open(abs);
  try {
    const w = new CheckedWeights(ckpt, abs);
    for (const g of graphs(spec, w, cache.dtype)) if (!cache.write(g.name, g.build)) return false;
    const t = tensors(spec, w, cache);
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
async function fromCache(spec: ModelSpec, abs: string, tokenizer: Tokenizer, cache: WeightCache, opts: LoadOptions): Promise<ModelRuntime> {
  const ckpt = cache.stats.hit ? null : SafetensorsCheckpoint.open(abs);
  const sessions = new Map<string, Session>();
  try {
    const w = new CheckedWeights(ckpt as SafetensorsCheckpoint, abs); // never read on a hit
    // more threads than cores only oversubscribe them (--threads 1000 ran for minutes)
    const threads = opts.threads === undefined ? undefined : Math.max(1, Math.min(opts.threads, availableParallelism()));
    const sopts = (label: string) => ({ threads, spinning: opts.spinning, label: `${label} of ${spec.modelType} (${abs})` });
    for (const g of graphs(spec, w, cache.dtype)) sessions.set(g.name, await cache.session(g.name, g.build, sopts(g.label)));
    const t = tensors(spec, w, cache);
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
    const info = modelInfo(spec, abs, paramCount);
    info.dtype = cache.dtype;
    return {
      spec,
      info,
      tokenizer,
      layers,
      head: sessions.get('head')!,
      embed: t.embed(),
      rope: ropeTables(spec.rope),
      thinkOpenId: tokenizer.tokenId('<think>'),
      thinkCloseId: tokenizer.tokenId('</think>'),
      weightCache: cache.stats,
      loadOpts: opts,
      lazy: new Map(),
    };
  } catch (e) {
    await Promise.all([...sessions.values()].map((s) => s.release()));
    throw e;
  } finally {
    ckpt?.close();
  }
}

/** A session built on first use from the checkpoint (graphs only hooks need: never in an unhooked run). */
export function lazySession(rt: ModelRuntime, name: string, build: (w: Weights) => GraphBuilder): Promise<Session> {
  let p = rt.lazy.get(name);
  if (!p) {
    p = (async () => {
      const ckpt = SafetensorsCheckpoint.open(rt.info.dir);
      try {
        const g = build(new Weights(ckpt, rt.info.dir));
        quantizeGraph(g, rt.info.dtype ?? 'f32');
        const label = `${name} of ${rt.spec.modelType} (${rt.info.dir})`;
        return await Session.create(g.toBytes(), { threads: rt.loadOpts.threads, spinning: rt.loadOpts.spinning, label });
      } finally {
        ckpt.close();
      }
    })();
    rt.lazy.set(name, p);
  }
  return p;
}

/** Release every session of a loaded model and close its embedding table. */
export async function releaseRuntime(rt: ModelRuntime): Promise<void> {
  for (const L of rt.layers) {
    await L.attn.release();
    await L.attnDecode?.release();
    await L.ffn.release();
  }
  await rt.head.release();
  for (const p of rt.lazy.values()) await (await p).release();
  rt.embed.close();
}
