// Synthetic checkpoints with real layer shapes and random weights (bf16 like released checkpoints, gpt-oss
// experts in MXFP4 blocks + e8m0 scales as released), for benchmarks: OLMoE-1B-7B, Qwen3-30B-A3B,
// DeepSeek-V2-Lite (plain RoPE, or YaRN as released), gpt-oss-20b, at any depth. Nothing here is used by
// tests' goldens.

import { mkdirSync, writeFileSync, existsSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRng } from '@mote/stats';
import { writeSafetensors, f32ToBf16Bytes } from '@mote/tensor-core';

export const SHAPES = {
  'olmoe-1b-7b': {
    model_type: 'olmoe',
    hidden_size: 2048,
    num_attention_heads: 16,
    num_key_value_heads: 16,
    num_experts: 64,
    num_experts_per_tok: 8,
    intermediate_size: 1024,
    vocab_size: 50304,
    norm_topk_prob: false,
    rope_theta: 10000,
    rms_norm_eps: 1e-5,
    clip_qkv: null,
  },
  'qwen3-30b-a3b': {
    model_type: 'qwen3_moe',
    hidden_size: 2048,
    num_attention_heads: 32,
    num_key_value_heads: 4,
    head_dim: 128,
    num_experts: 128,
    num_experts_per_tok: 8,
    moe_intermediate_size: 768,
    intermediate_size: 6144,
    vocab_size: 151936,
    norm_topk_prob: true,
    rope_theta: 1000000,
    rms_norm_eps: 1e-6,
    decoder_sparse_step: 1,
    mlp_only_layers: [],
  },
  // DeepSeek-V2-Lite without YaRN (plain RoPE keeps llama.cpp and mote on the same positions)
  'deepseek-v2-lite': {
    model_type: 'deepseek_v2',
    hidden_size: 2048,
    num_attention_heads: 16,
    num_key_value_heads: 16,
    kv_lora_rank: 512,
    q_lora_rank: null,
    qk_nope_head_dim: 128,
    qk_rope_head_dim: 64,
    v_head_dim: 128,
    n_routed_experts: 64,
    num_experts_per_tok: 6,
    n_shared_experts: 2,
    moe_intermediate_size: 1408,
    intermediate_size: 10944,
    first_k_dense_replace: 1,
    vocab_size: 102400,
    norm_topk_prob: false,
    routed_scaling_factor: 1.0,
    topk_method: 'greedy',
    scoring_func: 'softmax',
    n_group: 1,
    topk_group: 1,
    moe_layer_freq: 1,
    rope_theta: 10000,
    rms_norm_eps: 1e-6,
  },
};
// DeepSeek-V2-Lite's released rope_scaling (YaRN, factor 40 over 4096 positions)
SHAPES['deepseek-v2-lite-yarn'] = {
  ...SHAPES['deepseek-v2-lite'],
  max_position_embeddings: 163840,
  rope_scaling: {
    type: 'yarn',
    factor: 40,
    original_max_position_embeddings: 4096,
    beta_fast: 32,
    beta_slow: 1,
    // biome-ignore lint/suspicious/noApproximativeNumericConstant: the released config's literal value
    mscale: 0.707,
    // biome-ignore lint/suspicious/noApproximativeNumericConstant: the released config's literal value
    mscale_all_dim: 0.707,
  },
};
// openai/gpt-oss-20b: 24 layers alternating 128-token sliding and full attention, sinks, 32 experts top-4 in MXFP4
SHAPES['gpt-oss-20b'] = {
  model_type: 'gpt_oss',
  hidden_size: 2880,
  num_attention_heads: 64,
  num_key_value_heads: 8,
  head_dim: 64,
  num_local_experts: 32,
  num_experts_per_tok: 4,
  experts_per_token: 4,
  intermediate_size: 2880,
  vocab_size: 201088,
  sliding_window: 128,
  attention_bias: true,
  rope_theta: 150000,
  rms_norm_eps: 1e-5,
  swiglu_limit: 7.0,
  hidden_act: 'silu',
  rope_scaling: { rope_type: 'yarn', factor: 32, beta_fast: 32, beta_slow: 1, truncate: false, original_max_position_embeddings: 4096 },
};

/** seeded normal(0, std) fill */
function randn(n, std, seed) {
  const rng = createRng(seed);
  return Float32Array.from({ length: n }, () => rng.normal() * std);
}

/** seeded bytes in [lo, lo + span) */
function randBytes(n, lo, span, seed) {
  const rng = createRng(seed);
  return Uint8Array.from({ length: n }, () => lo + rng.int(span));
}

// Tensors are windows of a random pool at a seeded offset: generating every value anew (Box-Muller in JS)
// wrote 13 MB/s here, a full-depth checkpoint in hours; copying from the pool is bounded by the disk.
// A prime pool length keeps any two tensors' windows at unrelated offsets.
const POOL = 16777259;
const pools = new Map();
function pooled(key, make) {
  if (!pools.has(key)) pools.set(key, make());
  return pools.get(key);
}
/** n elements of `pool` from a seeded offset, wrapping around: a fresh array of pool's type */
function window(pool, n, seed) {
  const out = new pool.constructor(n);
  let at = Math.imul(seed, 2654435761) >>> 0;
  at %= pool.length;
  for (let done = 0; done < n; ) {
    const k = Math.min(n - done, pool.length - at);
    out.set(pool.subarray(at, at + k), done);
    done += k;
    at = 0;
  }
  return out;
}
/** bf16 bytes of n normal(0, std) values */
const bf16Normal = (n, std, seed) =>
  new Uint8Array(
    window(
      pooled(`n${std}`, () => new Uint16Array(f32ToBf16Bytes(randn(POOL, std, 7)).buffer)),
      n,
      seed,
    ).buffer,
  );
/** n bytes uniform in [lo, lo + span) */
const uniformBytes = (n, lo, span, seed) =>
  window(
    pooled(`u${lo},${span}`, () => randBytes(POOL, lo, span, 11)),
    n,
    seed,
  );

/** Write config.json + model.safetensors (bf16) + the organism's tokenizer files into dir. */
export function writeSynthetic(dir, shapeName, layers, tokenizerDir) {
  const base = SHAPES[shapeName];
  const cfg = {
    max_position_embeddings: 4096,
    ...base,
    num_hidden_layers: layers,
    bos_token_id: 0,
    eos_token_id: 1,
    pad_token_id: 2,
    tie_word_embeddings: false,
    torch_dtype: 'bfloat16',
  };
  // config.json is written last: without it a model.safetensors is an interrupted write
  if (existsSync(join(dir, 'model.safetensors')) && existsSync(join(dir, 'config.json'))) return cfg;
  mkdirSync(dir, { recursive: true });
  const D = cfg.hidden_size,
    H = cfg.num_attention_heads,
    Hkv = cfg.num_key_value_heads,
    hd = cfg.head_dim ?? D / H;
  if (cfg.model_type === 'gpt_oss')
    cfg.layer_types = Array.from({ length: layers }, (_, l) => (l % 2 === 0 ? 'sliding_attention' : 'full_attention'));
  const E = cfg.num_experts ?? cfg.n_routed_experts ?? cfg.num_local_experts,
    I = cfg.moe_intermediate_size ?? cfg.intermediate_size,
    V = cfg.vocab_size;
  const t = [];
  let seed = 1;
  const w = (name, shape, std) =>
    t.push({
      name,
      dtype: 'BF16',
      shape,
      bytes: () =>
        bf16Normal(
          shape.reduce((a, b) => a * b, 1),
          std,
          seed++,
        ),
    });
  const ones = (name, n) => t.push({ name, dtype: 'BF16', shape: [n], bytes: () => f32ToBf16Bytes(new Float32Array(n).fill(1)) });
  w('model.embed_tokens.weight', [V, D], 0.02);
  for (let l = 0; l < layers && cfg.model_type === 'deepseek_v2'; l++) {
    const p = `model.layers.${l}`,
      a = `${p}.self_attn`;
    const qd = cfg.qk_nope_head_dim + cfg.qk_rope_head_dim,
      kvr = cfg.kv_lora_rank;
    ones(`${p}.input_layernorm.weight`, D);
    ones(`${p}.post_attention_layernorm.weight`, D);
    w(`${a}.q_proj.weight`, [H * qd, D], 0.02);
    w(`${a}.kv_a_proj_with_mqa.weight`, [kvr + cfg.qk_rope_head_dim, D], 0.02);
    ones(`${a}.kv_a_layernorm.weight`, kvr);
    w(`${a}.kv_b_proj.weight`, [H * (cfg.qk_nope_head_dim + cfg.v_head_dim), kvr], 0.02);
    w(`${a}.o_proj.weight`, [D, H * cfg.v_head_dim], 0.02);
    const glu = (q, inner) => {
      w(`${q}.gate_proj.weight`, [inner, D], 0.02);
      w(`${q}.up_proj.weight`, [inner, D], 0.02);
      w(`${q}.down_proj.weight`, [D, inner], 0.02);
    };
    if (l < cfg.first_k_dense_replace) {
      glu(`${p}.mlp`, cfg.intermediate_size);
      continue;
    }
    w(`${p}.mlp.gate.weight`, [E, D], 0.02);
    for (let e = 0; e < E; e++) glu(`${p}.mlp.experts.${e}`, I);
    glu(`${p}.mlp.shared_experts`, I * cfg.n_shared_experts);
  }
  const u8 = (name, shape, lo = 0, span = 256) =>
    t.push({
      name,
      dtype: 'U8',
      shape,
      bytes: () =>
        uniformBytes(
          shape.reduce((a, b) => a * b, 1),
          lo,
          span,
          seed++,
        ),
    });
  for (let l = 0; l < layers && cfg.model_type === 'gpt_oss'; l++) {
    const p = `model.layers.${l}`,
      a = `${p}.self_attn`,
      x = `${p}.mlp.experts`;
    ones(`${p}.input_layernorm.weight`, D);
    ones(`${p}.post_attention_layernorm.weight`, D);
    for (const [n, rows] of [
      ['q_proj', H * hd],
      ['k_proj', Hkv * hd],
      ['v_proj', Hkv * hd],
    ]) {
      w(`${a}.${n}.weight`, [rows, D], 0.02);
      w(`${a}.${n}.bias`, [rows], 0.02);
    }
    w(`${a}.o_proj.weight`, [D, H * hd], 0.02);
    w(`${a}.o_proj.bias`, [D], 0.02);
    w(`${a}.sinks`, [H], 0.5);
    w(`${p}.mlp.router.weight`, [E, D], 0.02);
    w(`${p}.mlp.router.bias`, [E], 0.02);
    // MXFP4 as released: [E, out, in/32, 16] fp4 pairs, [E, out, in/32] e8m0 scales (2^-8..2^-6: |w| <= 0.09)
    u8(`${x}.gate_up_proj_blocks`, [E, 2 * I, D / 32, 16]);
    u8(`${x}.gate_up_proj_scales`, [E, 2 * I, D / 32], 119, 3);
    w(`${x}.gate_up_proj_bias`, [E, 2 * I], 0.02);
    u8(`${x}.down_proj_blocks`, [E, D, I / 32, 16]);
    u8(`${x}.down_proj_scales`, [E, D, I / 32], 119, 3);
    w(`${x}.down_proj_bias`, [E, D], 0.02);
  }
  for (let l = 0; l < layers && cfg.model_type !== 'deepseek_v2' && cfg.model_type !== 'gpt_oss'; l++) {
    const p = `model.layers.${l}`;
    ones(`${p}.input_layernorm.weight`, D);
    ones(`${p}.post_attention_layernorm.weight`, D);
    w(`${p}.self_attn.q_proj.weight`, [H * hd, D], 0.02);
    w(`${p}.self_attn.k_proj.weight`, [Hkv * hd, D], 0.02);
    w(`${p}.self_attn.v_proj.weight`, [Hkv * hd, D], 0.02);
    w(`${p}.self_attn.o_proj.weight`, [D, H * hd], 0.02);
    if (cfg.model_type === 'olmoe') {
      ones(`${p}.self_attn.q_norm.weight`, H * hd);
      ones(`${p}.self_attn.k_norm.weight`, Hkv * hd);
    } else {
      ones(`${p}.self_attn.q_norm.weight`, hd);
      ones(`${p}.self_attn.k_norm.weight`, hd);
    }
    w(`${p}.mlp.gate.weight`, [E, D], 0.02);
    for (let e = 0; e < E; e++) {
      w(`${p}.mlp.experts.${e}.gate_proj.weight`, [I, D], 0.02);
      w(`${p}.mlp.experts.${e}.up_proj.weight`, [I, D], 0.02);
      w(`${p}.mlp.experts.${e}.down_proj.weight`, [D, I], 0.02);
    }
  }
  ones('model.norm.weight', D);
  w('lm_head.weight', [V, D], 0.02);
  writeSafetensors(join(dir, 'model.safetensors'), t);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg, null, 2));
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) copyFileSync(join(tokenizerDir, f), join(dir, f));
  return cfg;
}
