// qwen3_moe (Qwen3-MoE): GQA with per-head q/k RMSNorm, softmax router, top-k renormalised when
// norm_topk_prob; dense MLP on mlp_only_layers and off the decoder_sparse_step grid.

import type { ConfigReader, ModelSpec } from '../spec.js';
import { baseSpec, gqaAttention, llamaWeights } from './common.js';

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
    sharedIntermediate: 0, sharedGated: false, sharedExpertCount: 0,
    router: { scoring: 'softmax', normTopK: c.bool('norm_topk_prob', false), scaling: 1 },
    activation: { kind: 'silu' }, expertBias: false,
    weights: llamaWeights(),
  };
}
