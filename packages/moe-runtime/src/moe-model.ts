// The MoeModel interface: what every model offers its callers (the local Model of model.ts and the served
// RemoteModel of remote.ts). Beside the ActivationCache it returns; not an implementation.
// Shapes: B batch, T tokens, M rows, D hidden, V vocab.

import type { F32Tensor } from '@mote/tensor-core';
import type { ActivationCache } from './activations.js';
import type { ForwardOptions, ForwardResult, GenerateOptions, GenerateResult, HookMap, ModelInfo, Tokenizer } from './types.js';

/** A loaded model. All methods are safe to call repeatedly; hooks passed per call never leak. */
export interface MoeModel {
  info: ModelInfo;
  tokenizer: Tokenizer;
  /** Prefill a batch of sequences (each its own length; padding is internal and invisible to hooks). */
  forward(batch: number[][], opts?: ForwardOptions): Promise<ForwardResult>;
  /**
   * forward() that records the selected hook points (exact names, `*` wildcards, RegExps; see selectHookNames)
   * in a typed ActivationCache. `promptLengths[b]` marks row b's later positions as generated in the masks and
   * the hooks' TokenInfo (default: every position is prompt).
   * @example
   * const { cache } = await model.runWithCache([ids], { names: ['blocks.*.resid_post', /moe\.topk_ids$/] });
   * const h = cache.stack('blocks.0.resid_post'); // F32Tensor [1, T, D]
   */
  runWithCache(
    batch: number[][],
    opts: ForwardOptions & { names: (string | RegExp)[]; promptLengths?: number[] },
  ): Promise<ForwardResult & { cache: ActivationCache }>;
  /**
   * The final norm and lm_head on residual vectors h [M, D] -> logits [M, V] (the logit lens). With `scaleFrom`
   * [M, D] the norm's 1/rms comes from those vectors instead of h: the result is linear in h (direct logit
   * attribution of a component h to the logits computed from the residual `scaleFrom`).
   * @example
   * const { cache } = await model.runWithCache([ids], { names: ['blocks.1.resid_post'], logits: 'none' });
   * const lens = await model.unembed(cache.row('blocks.1.resid_post', 0)); // F32Tensor [T, V]
   */
  unembed(h: F32Tensor, opts?: { scaleFrom?: F32Tensor }): Promise<F32Tensor>;
  /** forward() with hooks (alias with TransformerLens's name). */
  runWithHooks(batch: number[][], opts: ForwardOptions & { hooks: HookMap }): Promise<ForwardResult>;
  /** Install hooks for the duration of fn, always removed afterwards. */
  withHooks<R>(hooks: HookMap, fn: () => Promise<R>): Promise<R>;
  /** Greedy or seeded sampling with a KV cache, one result per prompt. */
  generate(prompts: number[][], opts?: GenerateOptions): Promise<GenerateResult[]>;
  dispose(): Promise<void>;
}
