// Rotary position tables, computed in float32 the way HF does (inv_freq in float32, angle = pos * inv_freq
// rounded to float32, cos/sin of it, times the attention factor). Default RoPE and YaRN.

import type { RopeSpec } from './spec.js';

const fr = Math.fround;

export interface RopeTables {
  /** [rotDim/2] float32 inverse frequencies */
  invFreq: Float32Array;
  /** multiplier applied to cos and sin (YaRN attention factor) */
  attentionFactor: number;
  /** extra softmax-scale multiplier some architectures apply (DeepSeek-V3 mscale²), 1 otherwise */
  softmaxScale: number;
}

function yarnMscale(scale: number, m = 1): number {
  return scale <= 1 ? 1 : 0.1 * m * Math.log(scale) + 1;
}

export function ropeTables(r: RopeSpec): RopeTables {
  const half = r.dim / 2;
  const posFreq = new Float32Array(half);
  for (let i = 0; i < half; i++) posFreq[i] = fr(r.theta ** fr((2 * i) / r.dim));
  if (r.kind === 'default') {
    return { invFreq: posFreq.map((p) => fr(1 / p)), attentionFactor: r.attentionFactor ?? 1, softmaxScale: 1 };
  }
  const { factor, theta, dim } = r;
  const corrDim = (rot: number) => (dim * Math.log(r.originalMax / (rot * 2 * Math.PI))) / (2 * Math.log(theta));
  let low = corrDim(r.betaFast);
  let high = corrDim(r.betaSlow);
  if (r.truncate) {
    low = Math.floor(low);
    high = Math.ceil(high);
  }
  low = Math.max(low, 0);
  high = Math.min(high, dim - 1);
  if (low === high) high += 0.001;
  const invFreq = new Float32Array(half);
  for (let i = 0; i < half; i++) {
    const ramp = Math.min(1, Math.max(0, fr(fr(i - low) / fr(high - low))));
    const extrapolationFactor = fr(1 - ramp);
    const extra = fr(1 / posFreq[i]);
    const inter = fr(1 / fr(factor * posFreq[i]));
    invFreq[i] = fr(fr(inter * fr(1 - extrapolationFactor)) + fr(extra * extrapolationFactor));
  }
  const attentionFactor =
    r.attentionFactor ??
    (r.mscale && r.mscaleAllDim ? yarnMscale(factor, r.mscale) / yarnMscale(factor, r.mscaleAllDim) : yarnMscale(factor));
  return { invFreq, attentionFactor, softmaxScale: 1 };
}

/** cos/sin rows for the given positions: [n, rotDim] each, halves duplicated (rotate-half layout). */
export function ropeCosSin(t: RopeTables, positions: ArrayLike<number>): { cos: Float32Array; sin: Float32Array } {
  const half = t.invFreq.length;
  const dim = 2 * half;
  const cos = new Float32Array(positions.length * dim);
  const sin = new Float32Array(positions.length * dim);
  const af = t.attentionFactor;
  for (let n = 0; n < positions.length; n++) {
    const p = positions[n];
    for (let i = 0; i < half; i++) {
      const a = fr(p * t.invFreq[i]);
      const c = fr(Math.cos(a) * af);
      const s = fr(Math.sin(a) * af);
      cos[n * dim + i] = c;
      cos[n * dim + half + i] = c;
      sin[n * dim + i] = s;
      sin[n * dim + half + i] = s;
    }
  }
  return { cos, sin };
}
