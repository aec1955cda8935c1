// Parity with Hugging Face transformers for the foundation architectures (qwen3_moe, mixtral, olmoe,
// qwen2_moe): logits, router tensors, top-k, greedy decoding with the KV cache, exclusion interventions.

import { paritySuite } from './parity.js';

for (const mt of ['qwen3_moe', 'mixtral', 'olmoe', 'qwen2_moe']) paritySuite(mt);
