// deepseek_v2 (DeepSeek-V2, V2-Lite): MLA attention (q_proj when q_lora_rank is null), complex-pair RoPE,
// softmax router over all experts then top-k (`greedy`, or `group_limited_greedy` with group score = the
// group's best score), weights not renormalised (HF ignores norm_topk_prob for V2) but multiplied by
// routed_scaling_factor; shared experts added unscaled. As in HF, no YaRN mscale² on the softmax scale.

import type { ConfigReader, ModelSpec } from '../spec.js';
import type { ConfigFieldTable } from '../config-fields.js';
import { deepseekBase, fields as v3Fields } from './deepseek_v3.js';

/** V3's table (the MLA dims and layer layout are shared) with the entries where V2's HF code differs. */
export const fields: ConfigFieldTable = {
  ...v3Fields,
  topk_method: 'read',
  mlp_bias: 'weights',
  n_group: { inert: 'read only with topk_method group_limited_greedy' },
  topk_group: { inert: 'read only with topk_method group_limited_greedy' },
  norm_topk_prob: { inert: 'HF V2 never renormalises the top-k weights' },
  scoring_func: { only: ['softmax', undefined], why: 'the V2 router scores with a softmax' },
  rope_interleave: { inert: 'V2 always rotates complex (interleaved) pairs; HF V2 does not read it' },
};

export function deepseekV2(c: ConfigReader): ModelSpec {
  // complex-pair RoPE (view_as_complex on consecutive pairs) is rotate-half on de-interleaved pairs
  const { mla, ...base } = deepseekBase(c, true);
  const E = base.expertCount;
  const method = c.str('topk_method', 'greedy');
  c.check(
    method === 'greedy' || method === 'group_limited_greedy',
    'topk_method',
    method,
    '"greedy" or "group_limited_greedy" for deepseek_v2',
  );
  let groups: ModelSpec['router']['groups'];
  if (method === 'group_limited_greedy') {
    const count = c.int('n_group');
    const topkGroup = c.int('topk_group');
    c.check(E % count === 0, 'n_group', count, `a divisor of n_routed_experts (${E})`);
    c.check(topkGroup <= count, 'topk_group', topkGroup, `at most n_group (${count})`);
    c.check(
      base.topK <= topkGroup * (E / count),
      'num_experts_per_tok',
      base.topK,
      `at most topk_group x experts per group (${topkGroup * (E / count)})`,
    );
    groups = { count, topkGroup, score: 'max' };
  }
  return {
    ...base,
    attention: {
      kind: 'mla',
      qkNorm: 'none',
      clipQkv: null,
      slidingWindow: Array.from({ length: base.layerCount }, () => null),
      sinks: false,
      scale: 1,
      mla,
    },
    router: { scoring: 'softmax', normTopK: false, scaling: c.pos('routed_scaling_factor', 1), groups },
  };
}
