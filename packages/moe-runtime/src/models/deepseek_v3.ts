// deepseek_v3 (DeepSeek-V3, R1): MLA attention (q_lora, rope_interleave, YaRN with mscale² on the softmax
// scale), first_k_dense_replace dense layers, shared experts added unscaled, and a sigmoid router whose
// e_score_correction_bias steers selection only, with group-limited top-k (n_group, topk_group).
// The MLA pieces (dims, layer names, dense/MoE split) are shared with deepseek_v2.ts.

import type { ConfigReader, ModelSpec } from '../spec.js';
import { COMMON_FIELDS, type ConfigFieldTable } from '../config-fields.js';
import { MAX_LAYERS, ropeFromConfig } from '../spec.js';
import { gluNames, llamaWeights, P } from './common.js';

/** MLA dims, base fields, layer layout and weight names common to DeepSeek-V2 and V3. */
export const fields: ConfigFieldTable = {
  ...COMMON_FIELDS,
  intermediate_size: 'read',
  moe_intermediate_size: 'read',
  n_routed_experts: 'read',
  n_shared_experts: 'read',
  num_experts_per_tok: 'read',
  routed_scaling_factor: 'read',
  first_k_dense_replace: 'read',
  q_lora_rank: 'read',
  kv_lora_rank: 'read',
  qk_nope_head_dim: 'read',
  qk_rope_head_dim: 'read',
  v_head_dim: 'read',
  attention_bias: 'weights',
  num_key_value_heads: { inert: 'MLA attention has one K/V per head; HF does not use it either' },
  moe_layer_freq: { inert: 'HF builds an MoE block on every layer >= first_k_dense_replace' },
  ep_size: { inert: 'expert parallelism: a deployment setting' },
  aux_loss_alpha: 'training',
  seq_aux: 'training',
  n_group: 'read',
  topk_group: 'read',
  norm_topk_prob: 'read',
  rope_interleave: 'read',
  topk_method: { inert: 'HF V3 always routes noaux_tc (sigmoid, correction bias, group top-k)' },
  scoring_func: { inert: 'HF V3 always scores with a sigmoid' },
  num_nextn_predict_layers: { inert: 'multi-token-prediction layers are not part of the HF forward' },
};

export function deepseekBase(
  c: ConfigReader,
  ropeInterleave: boolean,
): Omit<ModelSpec, 'router' | 'attention'> & { mla: NonNullable<ModelSpec['attention']['mla']> } {
  const hidden = c.int('hidden_size');
  const heads = c.int('num_attention_heads');
  const layerCount = c.int('num_hidden_layers', undefined, 1, MAX_LAYERS);
  const qLoraRank = c.optInt('q_lora_rank');
  const mla = {
    qLoraRank,
    kvLoraRank: c.int('kv_lora_rank'),
    qkNopeDim: c.int('qk_nope_head_dim'),
    qkRopeDim: c.int('qk_rope_head_dim'),
    vDim: c.int('v_head_dim'),
    ropeInterleave,
  };
  c.check(mla.qkRopeDim % 2 === 0, 'qk_rope_head_dim', mla.qkRopeDim, 'even (RoPE rotates pairs)');
  c.check(qLoraRank === null || qLoraRank >= 1, 'q_lora_rank', qLoraRank, 'null or an integer >= 1');
  const expertCount = c.int('n_routed_experts');
  const shared = c.has('n_shared_experts') ? c.int('n_shared_experts', 0, 0) : 0;
  const moeIntermediate = c.int('moe_intermediate_size');
  // HF builds an MoE block on every layer >= first_k_dense_replace (it ignores moe_layer_freq)
  const firstDense = c.int('first_k_dense_replace', 0, 0);
  const moeLayers = Array.from({ length: layerCount }, (_, l) => l).filter((l) => l >= firstDense);
  return {
    modelType: c.modelType,
    file: c.file,
    hidden,
    vocab: c.int('vocab_size'),
    layerCount,
    heads,
    kvHeads: heads,
    headDim: mla.qkNopeDim + mla.qkRopeDim,
    rmsEps: c.pos('rms_norm_eps', 1e-6),
    rope: ropeFromConfig(c, mla.qkRopeDim),
    bosTokenId: c.optInt('bos_token_id'),
    eosTokenIds: c.idList('eos_token_id'),
    padTokenId: c.optInt('pad_token_id'),
    maxPositions: c.int('max_position_embeddings', 4096),
    mla,
    moeLayers,
    expertCount,
    topK: c.int('num_experts_per_tok'),
    moeIntermediate,
    denseIntermediate: c.int('intermediate_size'),
    sharedIntermediate: moeIntermediate * shared,
    sharedGated: false,
    sharedExpertCount: shared,
    activation: { kind: 'silu' },
    expertBias: false,
    weights: llamaWeights((l) => {
      const a = `${P(l)}.self_attn`;
      return {
        attn: {
          q: `${a}.q_proj.weight`,
          qA: `${a}.q_a_proj.weight`,
          qABias: `${a}.q_a_proj.bias`,
          qANorm: `${a}.q_a_layernorm.weight`,
          qB: `${a}.q_b_proj.weight`,
          kvA: `${a}.kv_a_proj_with_mqa.weight`,
          kvABias: `${a}.kv_a_proj_with_mqa.bias`,
          kvANorm: `${a}.kv_a_layernorm.weight`,
          kvB: `${a}.kv_b_proj.weight`,
          o: `${a}.o_proj.weight`,
          oBias: `${a}.o_proj.bias`,
        },
        shared: shared > 0 ? gluNames(`${P(l)}.mlp.shared_experts`) : undefined,
      };
    }),
  };
}

export function deepseekV3(c: ConfigReader): ModelSpec {
  const { mla, ...base } = deepseekBase(c, c.bool('rope_interleave', true));
  const E = base.expertCount;
  const groups = c.int('n_group', 1);
  const topkGroup = c.int('topk_group', 1);
  c.check(E % groups === 0, 'n_group', groups, `a divisor of n_routed_experts (${E})`);
  c.check(topkGroup <= groups, 'topk_group', topkGroup, `at most n_group (${groups})`);
  c.check(
    base.topK <= topkGroup * (E / groups),
    'num_experts_per_tok',
    base.topK,
    `at most topk_group x experts per group (${topkGroup * (E / groups)})`,
  );
  // HF: softmax scale = qk_head_dim^-0.5 * mscale² with mscale = 0.1 * mscale_all_dim * ln(factor) + 1
  // (rope_scaling.factor, not the max/original ratio); without YaRN or mscale_all_dim it stays 1.
  const r = base.rope;
  const mscale = r.kind === 'yarn' && r.mscaleAllDim && r.factor > 1 ? 0.1 * r.mscaleAllDim * Math.log(r.factor) + 1 : 1;
  return {
    ...base,
    attention: {
      kind: 'mla',
      qkNorm: 'none',
      clipQkv: null,
      slidingWindow: Array.from({ length: base.layerCount }, () => null),
      sinks: false,
      scale: mscale * mscale,
      mla,
    },
    // HF ignores scoring_func / topk_method for V3: always sigmoid + correction bias + noaux_tc groups
    router: {
      scoring: 'sigmoid',
      normTopK: c.bool('norm_topk_prob', true),
      scaling: c.pos('routed_scaling_factor', 2.5),
      groups: { count: groups, topkGroup, score: 'top2sum' },
    },
    weights: {
      ...base.weights,
      layer: (l) => ({ ...base.weights.layer(l), correctionBias: `${P(l)}.mlp.gate.e_score_correction_bias` }),
    },
  };
}
