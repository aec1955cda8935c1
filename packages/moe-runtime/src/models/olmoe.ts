// olmoe (OLMoE-1B-7B): MHA with q/k RMSNorm over the whole projection (and optional clip_qkv),
// softmax router, top-k renormalised only with norm_topk_prob. Every layer is sparse.

import type { ConfigReader, ModelSpec } from '../spec.js';
import { COMMON_FIELDS, type ConfigFieldTable } from '../config-fields.js';
import { baseSpec, gqaAttention, llamaWeights } from './common.js';

export const fields: ConfigFieldTable = {
  ...COMMON_FIELDS,
  head_dim: 'read',
  intermediate_size: 'read',
  num_experts: 'read',
  num_experts_per_tok: 'read',
  norm_topk_prob: 'read',
  clip_qkv: 'read',
  attention_bias: 'weights',
};

export function olmoe(c: ConfigReader): ModelSpec {
  const base = baseSpec(c);
  return {
    ...base,
    attention: gqaAttention(c, 'full', base.layerCount, true),
    moeLayers: Array.from({ length: base.layerCount }, (_, l) => l),
    expertCount: c.int('num_experts'),
    topK: c.int('num_experts_per_tok'),
    moeIntermediate: c.int('intermediate_size'),
    denseIntermediate: 0,
    sharedIntermediate: 0,
    sharedGated: false,
    sharedExpertCount: 0,
    router: { scoring: 'softmax', normTopK: c.bool('norm_topk_prob', false), scaling: 1 },
    activation: { kind: 'silu' },
    expertBias: false,
    weights: llamaWeights(),
  };
}
