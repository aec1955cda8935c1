// qwen2_moe (Qwen1.5/2-MoE): MHA/GQA with q/k/v bias, softmax router (renormalised only with
// norm_topk_prob), plus one shared expert scaled by sigmoid(shared_expert_gate(x)) for every token.

import type { ConfigReader, ModelSpec } from '../spec.js';
import { baseSpec, gluNames, gqaAttention, llamaAttentionNames, P } from './common.js';
import { qwenMoeLayers } from './qwen3_moe.js';

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
    sharedIntermediate: shared, sharedGated: true, sharedExpertCount: shared > 0 ? 1 : 0,
    router: { scoring: 'softmax', normTopK: c.bool('norm_topk_prob', false), scaling: 1 },
    activation: { kind: 'silu' }, expertBias: false,
    weights: {
      embed: 'model.embed_tokens.weight', norm: 'model.norm.weight', lmHead: 'lm_head.weight',
      layer: (l) => ({
        inputNorm: `${P(l)}.input_layernorm.weight`, postNorm: `${P(l)}.post_attention_layernorm.weight`,
        attn: llamaAttentionNames(l),
        router: `${P(l)}.mlp.gate.weight`,
        expert: (e) => gluNames(`${P(l)}.mlp.experts.${e}`),
        mlp: gluNames(`${P(l)}.mlp`),
        shared: shared > 0 ? { ...gluNames(`${P(l)}.mlp.shared_expert`), gateScalar: `${P(l)}.mlp.shared_expert_gate.weight` } : undefined,
      }),
    },
  };
}
