// mixtral (Mixtral-8x7B style): GQA, softmax router whose top-k weights are always renormalised,
// experts named block_sparse_moe.experts.N.{w1 (gate), w3 (up), w2 (down)}. Every layer is sparse.
// `sliding_window` (when set) narrows every layer's attention to the last W keys, as HF's mask does.

import type { ConfigReader, ModelSpec } from '../spec.js';
import { COMMON_FIELDS, type ConfigFieldTable } from '../config-fields.js';
import { baseSpec, gqaAttention, llamaWeights, P } from './common.js';

export const fields: ConfigFieldTable = {
  ...COMMON_FIELDS,
  head_dim: 'read',
  intermediate_size: 'read',
  num_local_experts: 'read',
  num_experts_per_tok: 'read',
  sliding_window: 'read',
};

export function mixtral(c: ConfigReader): ModelSpec {
  const base = baseSpec(c);
  const moe = (l: number) => `${P(l)}.block_sparse_moe`;
  const window = c.has('sliding_window') ? c.int('sliding_window') : null;
  return {
    ...base,
    attention: { ...gqaAttention(c, 'none', base.layerCount), slidingWindow: Array.from({ length: base.layerCount }, () => window) },
    moeLayers: Array.from({ length: base.layerCount }, (_, l) => l),
    expertCount: c.int('num_local_experts'),
    topK: c.int('num_experts_per_tok'),
    moeIntermediate: c.int('intermediate_size'),
    denseIntermediate: 0,
    sharedIntermediate: 0,
    sharedGated: false,
    sharedExpertCount: 0,
    router: { scoring: 'softmax', normTopK: true, scaling: 1 },
    activation: { kind: 'silu' },
    expertBias: false,
    weights: llamaWeights((l) => ({
      router: `${moe(l)}.gate.weight`,
      expert: (e) => ({
        gate: `${moe(l)}.experts.${e}.w1.weight`,
        up: `${moe(l)}.experts.${e}.w3.weight`,
        down: `${moe(l)}.experts.${e}.w2.weight`,
      }),
      mlp: undefined,
    })),
  };
}
