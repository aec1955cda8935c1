// Parameter counts from a ModelSpec alone (no weights): total, active per token, embeddings, routed experts.

import type { ModelSpec } from './spec.js';
import type { ModelInfo } from './types.js';

export function attentionParams(s: ModelSpec): number {
  const D = s.hidden;
  if (s.attention.kind === 'mla' && s.attention.mla) {
    const m = s.attention.mla;
    const qk = m.qkNopeDim + m.qkRopeDim;
    const q = m.qLoraRank ? D * m.qLoraRank + m.qLoraRank + m.qLoraRank * s.heads * qk : D * s.heads * qk;
    const kv = D * (m.kvLoraRank + m.qkRopeDim) + m.kvLoraRank + m.kvLoraRank * s.heads * (m.qkNopeDim + m.vDim);
    return q + kv + s.heads * m.vDim * D;
  }
  const hd = s.headDim;
  const norms = s.attention.qkNorm === 'head' ? 2 * hd : s.attention.qkNorm === 'full' ? (s.heads + s.kvHeads) * hd : 0;
  const sinks = s.attention.sinks ? s.heads : 0;
  return D * s.heads * hd * 2 + D * s.kvHeads * hd * 2 + norms + sinks;
}

export function paramCount(s: ModelSpec): ModelInfo['params'] {
  const D = s.hidden;
  const embedding = s.vocab * D;
  const expert = 3 * D * s.moeIntermediate + (s.expertBias ? 2 * s.moeIntermediate + D : 0);
  const shared = s.sharedExpertCount > 0 ? 3 * D * s.sharedIntermediate + (s.sharedGated ? D : 0) : 0;
  let total = 2 * embedding + D;
  let routedExperts = 0;
  let inactive = 0;
  for (let l = 0; l < s.layerCount; l++) {
    total += attentionParams(s) + 2 * D;
    if (s.moeLayers.includes(l)) {
      total += s.expertCount * D + s.expertCount * expert + shared;
      routedExperts += s.expertCount * expert;
      inactive += (s.expertCount - s.topK) * expert;
    } else {
      total += 3 * D * s.denseIntermediate;
    }
  }
  return { total, active: total - inactive, embedding, routedExperts };
}
