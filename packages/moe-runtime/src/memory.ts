// Memory a load needs and memory the process may use: the estimate behind `dtype: 'auto'` and the early
// E_MEMORY refusal (a load that cannot fit fails before it allocates, never by the OOM killer). Not a
// profiler: the estimate comes from parameter counts and the runtime's storage rules (quantize.ts).

import { readFileSync } from 'node:fs';
import { freemem } from 'node:os';
import { MoteError } from '@mote/tensor-core';
import { attentionParams } from './params.js';
import type { ModelSpec } from './spec.js';
import { nbitsBlock, type WeightDtype } from './quantize.js';

/** headroom beside the weights: KV cache, activations, onnxruntime arenas, Node itself */
export const HEADROOM = 1 << 30;
/** onnxruntime's own copies and allocator slack, over the weight bytes it holds */
const SLACK = 1.1;
/** Bytes a loaded MatMulNBits weight holds per block beside its levels: the float32 scale and block sum of
 *  its prepacked layout, and the float32 scale still mapped from the cache file (README "Peak RSS"). */
const HELD_PER_BLOCK = 12;

/** Bits per parameter of a weight class under a dtype: the level bits plus `perBlock` bytes per block. */
function bits(cls: 'ffn' | 'attn' | 'f32', dtype: WeightDtype, block: number, perBlock: number): number {
  if (dtype === 'f32' || cls === 'f32') return 32;
  return (dtype === 'int4' && cls === 'ffn' ? 4 : 8) + (8 * perBlock) / block;
}

export interface MemoryEstimate {
  /** weight bytes as stored (the cache entry without the float32 embedding table) */
  weights: number;
  /** bytes of the cache entry (weights + the f32 embedding table read row by row from disk) */
  cache: number;
  /** peak bytes of a cached load: SLACK x the bytes onnxruntime holds for the weights + HEADROOM */
  cached: number;
  /** peak bytes of a cold load: the conversion holds one layer's f32 weights at a time */
  cold: number;
  /** peak bytes of a load without a cache: the sessions so far plus the layer being built */
  uncached: number;
}

/**
 * Bytes a load of `spec` at `dtype` needs, from parameter counts alone.
 * @example estimateMemory(specFromDir('models/organism/model'), 'int4').cached // bytes
 */
export function estimateMemory(spec: ModelSpec, dtype: WeightDtype): MemoryEstimate {
  const D = spec.hidden;
  const expert = 3 * D * spec.moeIntermediate;
  const shared = spec.sharedExpertCount > 0 ? 3 * D * spec.sharedIntermediate : 0;
  let ffn = 0;
  let attn = spec.vocab * D; // lm_head is stored like attention projections
  let f32 = D;
  let largestLayer = 0;
  for (let l = 0; l < spec.layerCount; l++) {
    const moe = spec.moeLayers.includes(l);
    const layerFfn = moe ? spec.expertCount * expert + shared : 3 * D * spec.denseIntermediate;
    ffn += layerFfn;
    attn += attentionParams(spec);
    f32 += 2 * D + (moe ? spec.expertCount * D : 0);
    largestLayer = Math.max(largestLayer, layerFfn, attentionParams(spec));
  }
  // gate/up rows have K = D, down rows K = I; gpt-oss's MXFP4 experts keep blocks of 32
  const mxfp4 = spec.weights.layer(spec.moeLayers[0] ?? 0).fusedExperts !== undefined;
  const ffnBlock = mxfp4 ? 32 : 3 / (2 / nbitsBlock(D) + 1 / nbitsBlock(spec.moeIntermediate || D));
  const bytes = (perBlock: number) =>
    Math.ceil((ffn * bits('ffn', dtype, ffnBlock, perBlock) + attn * bits('attn', dtype, nbitsBlock(D), perBlock) + f32 * 32) / 8);
  const weights = bytes(4); // as stored: a float32 scale per block
  const cache = weights + spec.vocab * D * 4;
  const cached = Math.ceil(SLACK * bytes(HELD_PER_BLOCK)) + HEADROOM;
  // a conversion holds one layer's f32 weights once (each is dropped when quantised) plus one expert's
  // transposed copy and its quantised bytes: 1.25 x the layer covers them
  const building = Math.ceil(largestLayer * 4 * 1.25);
  return { weights, cache, cached, cold: Math.max(cached, building + HEADROOM), uncached: cached + building };
}

/** Parse a byte count: 123, 8G, 8GiB, 512M, 1.5T (binary multiples). */
export function parseBytes(s: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(s);
  if (!m) return null;
  const mult = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Math.floor(Number(m[1]) * mult);
}

function readText(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/**
 * Bytes this process may still allocate, the tightest of: $MOTE_MEMORY_LIMIT (an override, e.g. `8G`),
 * MemAvailable (/proc/meminfo, else os.freemem()), the cgroup v2 limit (memory.max - memory.current) and
 * `ulimit -v` (RLIMIT_AS - VmSize). `source` names the one that bounds.
 * @example const { bytes, source } = memoryAvailable(); // 20e9, 'MemAvailable'
 */
export function memoryAvailable(): { bytes: number; source: string } {
  const cands: { bytes: number; source: string }[] = [];
  const env = process.env.MOTE_MEMORY_LIMIT;
  if (env) {
    const b = parseBytes(env);
    if (b === null)
      throw new MoteError('E_INPUT', `MOTE_MEMORY_LIMIT=${JSON.stringify(env)} is not a byte count; use e.g. 8G, 512M or 123456789`, {
        field: 'MOTE_MEMORY_LIMIT',
      });
    cands.push({ bytes: b, source: 'MOTE_MEMORY_LIMIT' });
  }
  const avail = /MemAvailable:\s+(\d+) kB/.exec(readText('/proc/meminfo') ?? '');
  cands.push(avail ? { bytes: Number(avail[1]) * 1024, source: 'MemAvailable' } : { bytes: freemem(), source: 'os.freemem()' });
  const max = readText('/sys/fs/cgroup/memory.max')?.trim();
  const cur = Number(readText('/sys/fs/cgroup/memory.current')?.trim());
  if (max && max !== 'max' && Number.isFinite(Number(max)) && Number.isFinite(cur)) {
    cands.push({ bytes: Math.max(0, Number(max) - cur), source: 'cgroup memory.max' });
  }
  const as = /Max address space\s+(\d+|unlimited)/.exec(readText('/proc/self/limits') ?? '');
  const vm = /VmSize:\s+(\d+) kB/.exec(readText('/proc/self/status') ?? '');
  if (as && as[1] !== 'unlimited' && vm) cands.push({ bytes: Math.max(0, Number(as[1]) - Number(vm[1]) * 1024), source: 'ulimit -v' });
  return cands.reduce((a, b) => (b.bytes < a.bytes ? b : a));
}

export const gb = (b: number): string => `${(b / 1e9).toFixed(2)} GB`;

/**
 * The dtype a load uses: `auto` picks f32 if it fits in the memory available, else int8, else int4; an
 * explicit dtype is checked the same way. Either fails early with E_MEMORY naming the model, the dtype,
 * the bytes needed and the bytes free. `path`: how dtype d would load (cache hit, cold conversion, no cache).
 * @example resolveDtype(spec, 'auto', '/models/olmoe', () => 'cached').dtype // 'int8' on a 16 GB machine
 */
export function resolveDtype(
  spec: ModelSpec,
  want: WeightDtype | 'auto',
  model: string,
  path: (d: WeightDtype) => 'cached' | 'cold' | 'uncached',
): { dtype: WeightDtype; needed: number; available: number; source: string; note: string } {
  const { bytes: available, source } = memoryAvailable();
  const need = (d: WeightDtype) => estimateMemory(spec, d)[path(d)];
  const order: WeightDtype[] = want === 'auto' ? ['f32', 'int8', 'int4'] : [want];
  for (const d of order) {
    const needed = need(d);
    if (needed <= available) {
      const tried = order.slice(0, order.indexOf(d)).map((x) => `${x} needs ${gb(need(x))}`);
      const note =
        want === 'auto'
          ? `dtype auto -> ${d} (${[...tried, `${d} needs ${gb(needed)}`].join(', ')}; ${gb(available)} available, ${source})`
          : `dtype ${d}: needs ${gb(needed)}, ${gb(available)} available (${source})`;
      return { dtype: d, needed, available, source, note };
    }
  }
  const d = order[order.length - 1];
  throw new MoteError(
    'E_MEMORY',
    `${spec.modelType} at ${model} needs ${gb(need(d))} (${need(d)} bytes) at dtype ${d} but only ${gb(available)} (${available} bytes) is free (${source}); ` +
      (d === 'int4'
        ? 'free memory, raise the limit, or use a machine with more memory'
        : 'use --dtype int4 (or auto), free memory, or raise the limit'),
    { file: model, field: 'dtype' },
  );
}
