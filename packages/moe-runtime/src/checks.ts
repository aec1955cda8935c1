// Checks around a forward pass: token ids and sizes a call may ask for, and NaN / Inf in a layer's output,
// each a coded MoteError naming the model, the sequence or weights and the fix. Not config or checkpoint
// validation at load (load.ts), not policy validation (policy.ts).

import { MoteError } from '@mote/tensor-core';
import type { ModelSpec } from './spec.js';
import type { ModelInfo } from './types.js';

/** What the checks name in their messages: the spec and the folder (a Model or its runtime). */
type Named = { readonly spec: ModelSpec; readonly info: ModelInfo };

/** Most bytes of masks and attention scores a one-shot forward may need. */
const ONE_SHOT_ATTENTION_BYTES = 8 * 2 ** 30;

/** E_INPUT / E_LIMIT / E_TOKEN_RANGE unless every sequence is non-empty, fits the positions and holds vocabulary ids. */
export function checkIds(m: Named, batch: number[][]): void {
  if (batch.length === 0) throw new MoteError('E_INPUT', 'forward/generate needs at least one sequence');
  for (const [b, ids] of batch.entries()) {
    if (ids.length === 0) throw new MoteError('E_INPUT', `sequence ${b} is empty; give at least one token id`);
    if (ids.length > m.spec.maxPositions) {
      throw new MoteError(
        'E_LIMIT',
        `sequence ${b} has ${ids.length} tokens, more than the ${m.spec.maxPositions} positions (max_position_embeddings) of ${m.spec.modelType} (${m.info.dir}); fix: shorten the prompt, or truncate it (generate: truncate / --truncate keeps the last tokens)`,
        { field: `ids[${b}]` },
      );
    }
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= m.spec.vocab) {
        throw new MoteError(
          'E_TOKEN_RANGE',
          `token id ${id} in sequence ${b} is outside the vocabulary [0, ${m.spec.vocab}) of ${m.spec.modelType} (${m.info.dir}); use ids from this model's tokenizer`,
          { field: `ids[${b}]` },
        );
      }
    }
  }
}

/** A one-shot forward holds a [B, T, T] mask and [B, H, T, T] attention scores: refuse what cannot fit
 *  (generate prefills long prompts in chunks instead, linear in T). */
export function checkAttentionMemory(m: Named, batch: number[][]): void {
  const T = Math.max(...batch.map((x) => x.length));
  const bytes = 4 * batch.length * (m.spec.heads + 1) * T * (T + 1);
  if (bytes > ONE_SHOT_ATTENTION_BYTES) {
    throw new MoteError(
      'E_LIMIT',
      `a forward pass over ${batch.length} x ${T} tokens needs ${(bytes / 2 ** 30).toFixed(1)} GiB of attention masks and scores (limit ${ONE_SHOT_ATTENTION_BYTES / 2 ** 30} GiB); fix: fewer or shorter sequences per call, or generate(), which prefills in chunks`,
      { field: 'ids' },
    );
  }
}

/** Throw E_NONFINITE naming the layer's tensors when an output of its part holds NaN or Inf (one pass over
 *  [rows, width] floats: small beside the layer's own arithmetic). */
export function checkFinite(m: Named, x: Float32Array, l: number, part: 'attention' | 'router' | 'MLP' | 'MoE' | 'lm_head'): void {
  for (let i = 0; i < x.length; i++) {
    if (Number.isFinite(x[i])) continue;
    const w = part === 'lm_head' ? null : m.spec.weights.layer(l);
    const names =
      part === 'lm_head'
        ? [m.spec.weights.norm, m.spec.weights.lmHead]
        : part === 'attention'
          ? [w!.inputNorm, ...Object.values(w!.attn).filter((n): n is string => !!n)]
          : part === 'router'
            ? [w!.router ?? '', w!.routerBias ?? ''].filter(Boolean)
            : part === 'MLP'
              ? [w!.postNorm, ...Object.values(w!.mlp ?? {})]
              : [
                  w!.postNorm,
                  w!.fusedExperts?.gateUp ?? `${w!.expert?.(0).gate.replace(/\.0\./, '.*.') ?? 'experts'}`,
                  ...(w!.shared ? Object.values(w!.shared) : []),
                ];
    const shown = names.length > 4 ? `${names.slice(0, 4).join(', ')}, ...` : names.join(', ');
    throw new MoteError(
      'E_NONFINITE',
      `${part === 'lm_head' ? 'the lm_head' : `layer ${l}'s ${part}`} of ${m.spec.modelType} (${m.info.dir}) produced ${x[i]}: one of its weights (${shown}) holds NaN or Inf; fix: re-download or re-convert the checkpoint, and clear the weight cache`,
      { field: part === 'lm_head' ? m.spec.weights.lmHead : `layer ${l}` },
    );
  }
}
