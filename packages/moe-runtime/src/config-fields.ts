// What mote does with every config.json field that Hugging Face's modelling code reads for an architecture:
// each architecture file keeps a table of them (`fields`); checkConfigFields refuses the values mote does
// not implement, so no field is ever ignored without a word. Not the typed reads themselves (spec.ts).

import { MoteError } from '@mote/tensor-core';
import type { RawConfig } from './spec.js';

/**
 * - `read`: the spec builder reads it and the runtime implements it at parity (tests/config-fields.test.ts
 *   checks that the builder reads every `read` field of the fixture config).
 * - `weights`: it takes effect through which tensors the checkpoint holds (biases), which the runtime uses.
 * - `training`: it changes training only (dropout, init, auxiliary losses, router jitter), never inference.
 * - `inert`: HF reads it but it cannot change the outputs of the configs mote accepts (the reason says why).
 * - `{ only }`: implemented for these values only; any other value is refused with E_CONFIG_INVALID.
 */
export type ConfigFieldRule = 'read' | 'weights' | 'training' | { inert: string } | { only: unknown[]; why: string };
export type ConfigFieldTable = Record<string, ConfigFieldRule>;

/** Fields every Llama-style decoder in HF reads the same way. */
export const COMMON_FIELDS: ConfigFieldTable = {
  vocab_size: 'read',
  hidden_size: 'read',
  num_hidden_layers: 'read',
  num_attention_heads: 'read',
  num_key_value_heads: 'read',
  max_position_embeddings: 'read',
  rms_norm_eps: 'read',
  rope_theta: 'read',
  rope_scaling: 'read',
  bos_token_id: 'read',
  eos_token_id: 'read',
  pad_token_id: 'read',
  hidden_act: { only: ['silu', undefined], why: 'the experts and MLPs are SiLU-gated' },
  tie_word_embeddings: { only: [false, undefined], why: 'lm_head.weight is read from the checkpoint; tied embeddings are not implemented' },
  attention_dropout: 'training',
  initializer_range: 'training',
  output_router_logits: 'training',
  router_aux_loss_coef: 'training',
  router_jitter_noise: 'training',
  use_cache: { inert: 'mote always decodes with its own KV cache' },
};

/**
 * Refuse every field whose value the table does not allow, naming the field, the value and why.
 * @example
 *   checkConfigFields({ hidden_act: 'gelu' }, COMMON_FIELDS, 'config.json', 'mixtral'); // throws E_CONFIG_INVALID
 */
export function checkConfigFields(raw: RawConfig, table: ConfigFieldTable, file: string, modelType: string): void {
  for (const [field, rule] of Object.entries(table)) {
    if (typeof rule !== 'object' || !('only' in rule)) continue;
    const v = raw[field] ?? undefined;
    if (!rule.only.some((ok) => ok === v)) {
      const allowed = rule.only
        .filter((x) => x !== undefined)
        .map((x) => JSON.stringify(x))
        .join(' or ');
      throw new MoteError(
        'E_CONFIG_INVALID',
        `${field} ${JSON.stringify(v)} in ${file} of ${modelType} is not implemented by mote (only ${allowed}: ${rule.why}); fix: use a checkpoint with ${field} ${allowed}`,
        { file, field },
      );
    }
  }
}
