// Parity with Hugging Face transformers for the DeepSeek families (deepseek_v3: MLA + YaRN + sigmoid
// group-limited router; deepseek_v2: MLA without q_lora + complex-pair RoPE + greedy softmax router),
// and the drop/force/scale/bias semantics of docs/design.md against each family's own weight formula.

import { interventionSuite } from './intervention-semantics.js';
import { paritySuite } from './parity.js';

for (const mt of ['deepseek_v3', 'deepseek_v2']) paritySuite(mt);

// V3: unbiased sigmoid of the chosen, / (sum + 1e-20), x routed_scaling_factor 2.5 (norm_topk_prob)
interventionSuite('deepseek_v3', (chosen, probs) => {
  const z = chosen.reduce((s, e) => s + probs[e], 0) + 1e-20;
  return chosen.map((e) => (probs[e] / z) * 2.5);
});
// V2: softmax over all experts, no renormalisation, x routed_scaling_factor (1.0 in the fixture)
interventionSuite('deepseek_v2', (chosen, probs) => chosen.map((e) => probs[e] * 1.0));
