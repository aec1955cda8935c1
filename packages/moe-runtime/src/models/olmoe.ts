// olmoe (OLMoE-1B-7B): MHA with q/k RMSNorm over the whole projection (and optional clip_qkv),
// softmax router, top-k renormalised only with norm_topk_prob. Every layer is sparse.

import type { ConfigReader, ModelSpec } from '../spec.js';
import { baseSpec, gqaAttention, llamaWeights } from './common.js';

export function olmoe(c: ConfigReader): ModelSpec {
  const base = baseSpec(c);
  return {
    ...base,
    attention: gqaAttention(c, 'full', base.layerCount),
    moeLayers: Array.from({ length: base.layerCount }, (_, l) => l),
    expertCount: c.int('num_experts'),
    topK: c.int('num_experts_per_tok'),
    moeIntermediate: c.int('intermediate_size'),
    denseIntermediate: 0, sharedIntermediate: 0, sharedGated: false, sharedExpertCount: 0,
    router: { scoring: 'softmax', normTopK: c.bool('norm_topk_prob', false), scaling: 1 },
    activation: { kind: 'silu' }, expertBias: false,
    weights: llamaWeights(),
  };
}
