// Attention graph builders by AttentionSpec.kind; every builder has the same inputs and outputs
// (see buildGqaAttention) so the runtime treats all architectures alike.

import type { GraphBuilder } from '@mote/tensor-core';
import { buildGqaAttention, type AttentionGraphOptions } from './graphs.js';
import { buildMlaAttention } from './mla.js';

export const ATTENTION_BUILDERS: Record<string, (o: AttentionGraphOptions) => GraphBuilder> = {
  gqa: buildGqaAttention,
  mla: buildMlaAttention,
};
