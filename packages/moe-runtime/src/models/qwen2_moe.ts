// qwen2_moe (Qwen1.5/2-MoE): MHA/GQA with q/k/v bias, softmax router (renormalised only with
// norm_topk_prob), plus one shared expert scaled by sigmoid(shared_expert_gate(x)) for every token.

import type { ConfigReader, ModelSpec } from '../spec.js';
import { COMMON_FIELDS, type ConfigFieldTable } from '../config-fields.js';
import { baseSpec, gluNames, gqaAttention, llamaWeights, P } from './common.js';
import { qwenMoeLayers } from './qwen3_moe.js';

export const fields: ConfigFieldTable = {
  ...COMMON_FIELDS,
  head_dim: 'read',
  intermediate_size: 'read',
  moe_intermediate_size: 'read',
  shared_expert_intermediate_size: 'read',
  num_experts: 'read',
  num_experts_per_tok: 'read',
  norm_topk_prob: 'read',
  decoder_sparse_step: 'read',
  mlp_only_layers: 'read',
  qkv_bias: 'weights',
  use_sliding_window: { only: [false, undefined], why: 'sliding-window layers of Qwen MoE are not implemented' },
  sliding_window: { inert: 'read by HF only when use_sliding_window is true, which is refused' },
  max_window_layers: { inert: 'read by HF only when use_sliding_window is true, which is refused' },
};

export function qwen2Moe(c: ConfigReader): ModelSpec {
  const base = baseSpec(c);
  const shared = c.int('shared_expert_intermediate_size', 0, 0);
  return {
    ...base,
    attention: gqaAttention(c, 'none', base.layerCount),
    moeLayers: qwenMoeLayers(c, base.layerCount),
    expertCount: c.int('num_experts'),
    topK: c.int('num_experts_per_tok'),
    moeIntermediate: c.int('moe_intermediate_size'),
    denseIntermediate: c.int('intermediate_size'),
    sharedIntermediate: shared,
    sharedGated: true,
    sharedExpertCount: shared > 0 ? 1 : 0,
    router: { scoring: 'softmax', normTopK: c.bool('norm_topk_prob', false), scaling: 1 },
    activation: { kind: 'silu' },
    expertBias: false,
    weights: llamaWeights((l) => ({
      shared: shared > 0 ? { ...gluNames(`${P(l)}.mlp.shared_expert`), gateScalar: `${P(l)}.mlp.shared_expert_gate.weight` } : undefined,
    })),
  };
}
