// Pieces shared by the architecture files: the standard decoder-layer weight names of HF Llama-style
// checkpoints and the base fields every spec reads the same way.

import type { ConfigReader, LayerWeights, ModelSpec } from '../spec.js';
import { MAX_LAYERS, ropeFromConfig } from '../spec.js';

export const P = (l: number) => `model.layers.${l}`;

export function llamaAttentionNames(l: number): LayerWeights['attn'] {
  const a = `${P(l)}.self_attn`;
  return {
    q: `${a}.q_proj.weight`,
    k: `${a}.k_proj.weight`,
    v: `${a}.v_proj.weight`,
    o: `${a}.o_proj.weight`,
    qBias: `${a}.q_proj.bias`,
    kBias: `${a}.k_proj.bias`,
    vBias: `${a}.v_proj.bias`,
    oBias: `${a}.o_proj.bias`,
    qNorm: `${a}.q_norm.weight`,
    kNorm: `${a}.k_norm.weight`,
  };
}

export function gluNames(prefix: string) {
  return { gate: `${prefix}.gate_proj.weight`, up: `${prefix}.up_proj.weight`, down: `${prefix}.down_proj.weight` };
}

/** Fields read identically by every Llama-style MoE config. */
export function baseSpec(
  c: ConfigReader,
): Pick<
  ModelSpec,
  | 'modelType'
  | 'file'
  | 'hidden'
  | 'vocab'
  | 'layerCount'
  | 'heads'
  | 'kvHeads'
  | 'headDim'
  | 'rmsEps'
  | 'rope'
  | 'bosTokenId'
  | 'eosTokenIds'
  | 'padTokenId'
  | 'maxPositions'
> {
  const hidden = c.int('hidden_size');
  const heads = c.int('num_attention_heads');
  const kvHeads = c.int('num_key_value_heads', heads);
  c.check(heads % kvHeads === 0, 'num_key_value_heads', kvHeads, `a divisor of num_attention_heads (${heads})`);
  const headDim = c.has('head_dim') ? c.int('head_dim') : hidden / heads;
  c.check(Number.isInteger(headDim), 'head_dim', headDim, 'an integer (hidden_size / num_attention_heads)');
  return {
    modelType: c.modelType,
    file: c.file,
    hidden,
    vocab: c.int('vocab_size'),
    layerCount: c.int('num_hidden_layers', undefined, 1, MAX_LAYERS),
    heads,
    kvHeads,
    headDim,
    rmsEps: c.pos('rms_norm_eps', 1e-6),
    rope: ropeFromConfig(c, headDim),
    bosTokenId: c.optInt('bos_token_id'),
    eosTokenIds: c.idList('eos_token_id'),
    padTokenId: c.optInt('pad_token_id'),
    maxPositions: c.int('max_position_embeddings', 4096),
  };
}

/** GQA attention without windows or sinks; `clipQkv` only where HF's modelling code reads clip_qkv (olmoe). */
export const gqaAttention = (c: ConfigReader, qkNorm: 'none' | 'head' | 'full', layerCount: number, clipQkv = false) => ({
  kind: 'gqa' as const,
  qkNorm,
  clipQkv: clipQkv && c.has('clip_qkv') ? c.pos('clip_qkv') : null,
  slidingWindow: Array.from({ length: layerCount }, () => null),
  sinks: false,
  scale: 1,
});

/** HF decoder weight names (embeddings, final norm, lm_head, norms, attention, `mlp.gate` router,
 *  `mlp.experts.N.*` experts, dense `mlp.*`); an architecture overrides what it names differently. */
export function llamaWeights(override: (l: number) => Partial<LayerWeights> = () => ({})): ModelSpec['weights'] {
  return {
    embed: 'model.embed_tokens.weight',
    norm: 'model.norm.weight',
    lmHead: 'lm_head.weight',
    layer: (l) => ({
      inputNorm: `${P(l)}.input_layernorm.weight`,
      postNorm: `${P(l)}.post_attention_layernorm.weight`,
      attn: llamaAttentionNames(l),
      router: `${P(l)}.mlp.gate.weight`,
      expert: (e) => gluNames(`${P(l)}.mlp.experts.${e}`),
      mlp: gluNames(`${P(l)}.mlp`),
      ...override(l),
    }),
  };
}
