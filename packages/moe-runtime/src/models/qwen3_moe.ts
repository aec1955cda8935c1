// qwen3_moe (Qwen3-MoE): GQA with per-head q/k RMSNorm, softmax router, top-k renormalised when
// norm_topk_prob; dense MLP on mlp_only_layers and off the decoder_sparse_step grid.

import type { ConfigReader, ModelSpec } from '../spec.js';
import { COMMON_FIELDS, type ConfigFieldTable } from '../config-fields.js';
import { baseSpec, gqaAttention, llamaWeights } from './common.js';

export const fields: ConfigFieldTable = {
  ...COMMON_FIELDS,
  head_dim: 'read',
  intermediate_size: 'read',
  moe_intermediate_size: 'read',
  num_experts: 'read',
  num_experts_per_tok: 'read',
  norm_topk_prob: 'read',
  decoder_sparse_step: 'read',
  mlp_only_layers: 'read',
  attention_bias: 'weights',
  use_sliding_window: { only: [false, undefined], why: 'sliding-window layers of Qwen MoE are not implemented' },
  sliding_window: { inert: 'read by HF only when use_sliding_window is true, which is refused' },
  max_window_layers: { inert: 'read by HF only when use_sliding_window is true, which is refused' },
};

export function qwenMoeLayers(c: ConfigReader, layerCount: number): number[] {
  const step = c.int('decoder_sparse_step', 1);
  const dense = new Set(c.ints('mlp_only_layers'));
  return Array.from({ length: layerCount }, (_, l) => l).filter((l) => !dense.has(l) && (l + 1) % step === 0);
}

export function qwen3Moe(c: ConfigReader): ModelSpec {
  const base = baseSpec(c);
  const moeLayers = qwenMoeLayers(c, base.layerCount);
  return {
    ...base,
    attention: gqaAttention(c, 'head', base.layerCount),
    moeLayers,
    expertCount: c.int('num_experts'),
    topK: c.int('num_experts_per_tok'),
    moeIntermediate: c.int('moe_intermediate_size'),
    denseIntermediate: c.int('intermediate_size'),
    sharedIntermediate: 0,
    sharedGated: false,
    sharedExpertCount: 0,
    router: { scoring: 'softmax', normTopK: c.bool('norm_topk_prob', false), scaling: 1 },
    activation: { kind: 'silu' },
    expertBias: false,
    weights: llamaWeights(),
  };
}
