// Attention graph builders by AttentionSpec.kind; every builder has the same inputs and outputs
// (see buildGqaAttention) so the runtime treats all architectures alike.

import type { GraphBuilder } from '@mote/tensor-core';
import { buildGqaAttention, type AttentionGraphOptions } from './graphs.js';
import { buildMlaAttention, buildMlaDecodeAttention } from './mla.js';

export const ATTENTION_BUILDERS: Record<string, (o: AttentionGraphOptions) => GraphBuilder> = {
  gqa: buildGqaAttention,
  mla: buildMlaAttention,
};

/** Graphs for decode steps (one new token a row) where a kind has a cheaper form for them: MLA's absorbed
 *  attention to the latent cache. Same inputs and outputs; the runtime picks it when T = 1. */
export const DECODE_ATTENTION_BUILDERS: Record<string, (o: AttentionGraphOptions) => GraphBuilder> = {
  mla: buildMlaDecodeAttention,
};
