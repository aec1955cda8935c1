// gpt_oss (gpt-oss-20b/120b): GQA with q/k/v/o biases and a learned per-head attention sink, sliding-window
// and full layers alternating (layer_types), YaRN RoPE; router with bias, top-k on raw logits then softmax
// over the k; fused experts with biases and clamped SwiGLU ((up + 1) * gate * sigmoid(alpha * gate)),
// stored x @ W in float checkpoints or as MXFP4 blocks in the released ones.

import type { ConfigReader, ModelSpec } from '../spec.js';
import { COMMON_FIELDS, type ConfigFieldTable } from '../config-fields.js';
import { baseSpec, llamaAttentionNames, llamaWeights, P } from './common.js';

export const fields: ConfigFieldTable = {
  ...COMMON_FIELDS,
  hidden_act: { inert: "the experts use gpt-oss's clamped SwiGLU whatever hidden_act says, as in HF" },
  head_dim: 'read',
  intermediate_size: 'read',
  num_local_experts: 'read',
  num_experts_per_tok: 'read',
  experts_per_token: 'read',
  sliding_window: 'read',
  layer_types: 'read',
  swiglu_limit: 'read',
  attention_bias: 'weights',
};

export function gptOss(c: ConfigReader): ModelSpec {
  const base = baseSpec(c);
  const L = base.layerCount;
  // HF default when layer_types is absent: sliding on even layers, full on odd ones
  const types = c.has('layer_types')
    ? (c.raw.layer_types as unknown[])
    : Array.from({ length: L }, (_, l) => (l % 2 === 0 ? 'sliding_attention' : 'full_attention'));
  c.check(
    Array.isArray(types) && types.length === L && types.every((t) => t === 'sliding_attention' || t === 'full_attention'),
    'layer_types',
    types,
    `a list of ${L} "sliding_attention" / "full_attention" entries`,
  );
  const window = c.int('sliding_window', 128);
  return {
    ...base,
    attention: {
      kind: 'gqa',
      qkNorm: 'none',
      clipQkv: null,
      slidingWindow: types.map((t) => (t === 'sliding_attention' ? window : null)),
      sinks: true,
      scale: 1,
    },
    moeLayers: Array.from({ length: L }, (_, l) => l),
    expertCount: c.int('num_local_experts'),
    topK: c.int('num_experts_per_tok', c.int('experts_per_token', 4)),
    moeIntermediate: c.int('intermediate_size'),
    denseIntermediate: 0,
    sharedIntermediate: 0,
    sharedGated: false,
    sharedExpertCount: 0,
    router: { scoring: 'topk_softmax', normTopK: false, scaling: 1 },
    // HF's eager experts hard-code alpha 1.702 and limit 7.0; configs carry the same limit as swiglu_limit
    activation: { kind: 'gptoss', alpha: 1.702, limit: c.pos('swiglu_limit', 7) },
    expertBias: true,
    weights: llamaWeights((l) => ({
      attn: { ...llamaAttentionNames(l), qNorm: undefined, kNorm: undefined, sinks: `${P(l)}.self_attn.sinks` },
      router: `${P(l)}.mlp.router.weight`,
      routerBias: `${P(l)}.mlp.router.bias`,
      expert: undefined,
      mlp: undefined,
      fusedExperts: {
        gateUp: `${P(l)}.mlp.experts.gate_up_proj`,
        down: `${P(l)}.mlp.experts.down_proj`,
        gateUpBias: `${P(l)}.mlp.experts.gate_up_proj_bias`,
        downBias: `${P(l)}.mlp.experts.down_proj_bias`,
      },
    })),
  };
}
