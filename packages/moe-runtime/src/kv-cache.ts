// The batched KV cache of a forward or generate call: per-row state, K/V buffers with spare slots (grown,
// written, narrowed to the rows still decoding) and the additive attention masks over them. Not the weight
// cache on disk (cache.ts) nor the activation cache of runWithCache (activations.ts).
// Shapes: B rows, T new tokens per row, C cache slots (capacity >= cached positions), Hkv kv heads.

import { mlaCacheDims } from './mla.js';
import type { ModelSpec } from './spec.js';

/** the additive mask value of a position a query may not see */
export const MASKED = -1e30;

/** Per-row state of a batch in the KV cache. */
export interface KvRow {
  seq: number; // index of the sequence in the caller's batch
  ids: number[]; // all real tokens so far (prompt + generated)
  promptLen: number;
  pad: number; // left padding in cache coordinates
  thinkOpen: boolean; // state after the last token
}

/** K/V of every layer in buffers with spare slots: a step's graphs read them in place and return only the
 *  new tokens' K/V, written here at [len, len + T); buffers grow (reserve) when full. */
export interface KvCache {
  rows: KvRow[];
  len: number; // cached positions (including padding)
  cap: number; // C: slots per row and head (>= 1; slots >= len are masked)
  k: Float32Array[]; // per layer [B, Hkv, C, kd]; MLA: the latents [B, 1, C, kvr + rd]
  v: Float32Array[]; // per layer [B, Hkv, C, vd]; MLA: empty (vd = 0)
  kvDims: { heads: number; kd: number; vd: number }[];
}

/** An empty KV cache for these sequences (row b left-padded to the longest prompt). */
export function newKvCache(spec: ModelSpec, layerCount: number, seqs: { seq: number; ids: number[] }[]): KvCache {
  const T = Math.max(...seqs.map((s) => s.ids.length));
  const kvDims = Array.from({ length: layerCount }, () => layerKvDims(spec));
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

/** The cached dims of one layer: kv heads and the K / V widths (MLA: the latent only). */
export function layerKvDims(spec: ModelSpec): { heads: number; kd: number; vd: number } {
  const m = spec.attention.mla;
  if (spec.attention.kind === 'mla' && m) return mlaCacheDims(m); // the latent only (vd = 0: no values)
  return { heads: spec.kvHeads, kd: spec.headDim, vd: spec.headDim };
}

/** Grow the cache buffers (copying the cached slots) to hold S positions and an eighth (at least 32) spare:
 *  masked spare slots are still read by every step, so the slack stays small. */
export function reserve(kv: KvCache, S: number): void {
  if (S <= kv.cap) return;
  const cap = S + Math.max(32, S >> 3);
  const grow = (a: Float32Array, rows: number, d: number) => {
    const out = new Float32Array(rows * cap * d);
    for (let r = 0; r < rows; r++) out.set(a.subarray(r * kv.cap * d, r * kv.cap * d + kv.len * d), r * cap * d);
    return out;
  };
  const B = kv.rows.length;
  kv.k = kv.k.map((k, l) => grow(k, B * kv.kvDims[l].heads, kv.kvDims[l].kd));
  kv.v = kv.v.map((v, l) => grow(v, B * kv.kvDims[l].heads, kv.kvDims[l].vd));
  kv.cap = cap;
}

/** Write the new tokens' K/V src [R, T, d] into slots [at, at + T) of the cache buffer dst [R, C, d]. */
export function writeSlots(dst: Float32Array, src: Float32Array, R: number, T: number, d: number, C: number, at: number): void {
  for (let r = 0; r < R; r++) dst.set(src.subarray(r * T * d, (r + 1) * T * d), (r * C + at) * d);
}

/** Drop finished rows from the cache (copies the kept rows of each layer's K/V). */
export function keepRows(kv: KvCache, keep: number[]): void {
  const C = kv.cap;
  kv.k = kv.k.map((k, l) => gatherRows(k, keep, kv.kvDims[l].heads * C * kv.kvDims[l].kd));
  kv.v = kv.v.map((v, l) => gatherRows(v, keep, kv.kvDims[l].heads * C * kv.kvDims[l].vd));
  kv.rows = keep.map((b) => kv.rows[b]);
}

function gatherRows(a: Float32Array, rows: number[], width: number): Float32Array {
  const out = new Float32Array(rows.length * width);
  rows.forEach((r, i) => out.set(a.subarray(r * width, (r + 1) * width), i * width));
  return out;
}

/** Causal + padding mask [B, 1, 1, T, C + T] (additive): columns [0, C) are the cache slots, then the T
 *  new tokens. A pad query row sees itself to stay finite. */
export function buildMask(kv: KvCache, fresh: number[][], T: number): Float32Array {
  const B = kv.rows.length;
  const W = kv.cap + T;
  const m = new Float32Array(B * T * W).fill(MASKED);
  for (let b = 0; b < B; b++) {
    const r = kv.rows[b];
    const padNow = T - fresh[b].length;
    for (let t = 0; t < T; t++) {
      const row = (b * T + t) * W;
      if (t < padNow) {
        m[row + kv.cap + t] = 0;
        continue;
      }
      m.fill(0, row + r.pad, row + kv.len);
      m.fill(0, row + kv.cap + padNow, row + kv.cap + t + 1);
    }
  }
  return m;
}

/** The mask of layer l: the causal mask, narrowed to the sliding window `win` where the layer has one. */
export function windowMask(mask: Float32Array, win: number | null | undefined, kv: KvCache, T: number): Float32Array {
  if (!win) return mask;
  const m = mask.slice();
  const B = kv.rows.length;
  const W = kv.cap + T;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const q = kv.len + t; // query position; a key at position p is out of the window when p <= q - win
      const row = (b * T + t) * W;
      m.fill(MASKED, row, row + Math.max(0, Math.min(kv.len, q - win + 1)));
      m.fill(MASKED, row + kv.cap, row + kv.cap + Math.max(0, q - win + 1 - kv.len));
    }
  }
  return m;
}
