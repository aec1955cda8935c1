// A ModelInfo shaped like the organism (4 MoE layers x 16 experts, top-2), for unit tests only; not exported.
import type { ModelInfo } from '@mote/moe-runtime';

export const INFO = {
  modelType: 'qwen3_moe',
  dir: '/models/organism',
  layerCount: 4,
  moeLayers: [0, 1, 2, 3],
  expertCount: 16,
  topK: 2,
  sharedExpertCount: 0,
  hiddenSize: 128,
  vocabSize: 1024,
  headCount: 4,
  kvHeadCount: 2,
  headDim: 32,
  params: { total: 0, active: 0, embedding: 0, routedExperts: 0 },
  bosTokenId: 0,
  eosTokenIds: [1],
  padTokenId: 2,
} satisfies ModelInfo;
