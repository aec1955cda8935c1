// GGUF v3 writer for the bench: the same synthetic safetensors weights as llama.cpp model files
// (`olmoe`, `qwen3moe`, `deepseek2` tensor names), f32 or q8_0 / q4_0 blocks written by mote's own
// quantiser (bit-identical to llama.cpp's reference quantiser; node-llama-cpp does not expose
// llama_model_quantize). Not a general converter: the synthetic checkpoints of synth.mjs only.

import { closeSync, openSync, writeSync, existsSync, renameSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SafetensorsCheckpoint, readScaledF32, quantizeGgufBlocks } from '@mote/tensor-core';

const T = { UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7, STRING: 8, ARRAY: 9 };
const GGML = { f32: 0, q4_0: 2, q8_0: 8 };
const ALIGN = 32;

class Buf {
  constructor() {
    this.parts = [];
  }
  u32(v) {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    this.parts.push(b);
  }
  i32(v) {
    const b = Buffer.alloc(4);
    b.writeInt32LE(v);
    this.parts.push(b);
  }
  u64(v) {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.parts.push(b);
  }
  f32(v) {
    const b = Buffer.alloc(4);
    b.writeFloatLE(v);
    this.parts.push(b);
  }
  str(s) {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.parts.push(b);
  }
  bytes() {
    return Buffer.concat(this.parts);
  }
}

function writeValue(b, v) {
  if (v.type === T.STRING) b.str(v.value);
  else if (v.type === T.UINT32) b.u32(v.value);
  else if (v.type === T.INT32) b.i32(v.value);
  else if (v.type === T.FLOAT32) b.f32(v.value);
  else if (v.type === T.BOOL) b.parts.push(Buffer.from([v.value ? 1 : 0]));
  else if (v.type === T.ARRAY) {
    b.u32(v.elem);
    b.u64(v.value.length);
    for (const x of v.value) writeValue(b, { type: v.elem, value: x });
  } else throw new Error(`gguf: value type ${v.type}`);
}

const u32 = (value) => ({ type: T.UINT32, value });
const f32v = (value) => ({ type: T.FLOAT32, value });
const str = (value) => ({ type: T.STRING, value });

function tensorBytes(type, numel) {
  return type === 'f32' ? numel * 4 : type === 'q8_0' ? (numel / 32) * 34 : (numel / 32) * 18;
}

/** f32 rows [n, k] -> bytes of the GGUF type. */
function encode(type, x, n, k) {
  if (type === 'f32') return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  return quantizeGgufBlocks(x, n, k, type === 'q8_0' ? 8 : 4);
}

/**
 * Write a GGUF file. tensors: { name, shape (row-major, outermost first), type, chunks: () => iterable
 * of Uint8Array } written in order; kv: { key: {type, value} }.
 */
export function writeGguf(file, kv, tensors) {
  const h = new Buf();
  h.parts.push(Buffer.from('GGUF'));
  h.u32(3);
  h.u64(tensors.length);
  h.u64(Object.keys(kv).length);
  for (const [k, v] of Object.entries(kv)) {
    h.str(k);
    h.u32(v.type);
    writeValue(h, v);
  }
  let offset = 0;
  for (const t of tensors) {
    const numel = t.shape.reduce((a, b) => a * b, 1);
    t.bytes = tensorBytes(t.type, numel);
    h.str(t.name);
    h.u32(t.shape.length);
    for (const d of [...t.shape].reverse()) h.u64(d); // ggml ne[0] is the innermost axis
    h.u32(GGML[t.type]);
    h.u64(offset);
    t.offset = offset;
    offset += Math.ceil(t.bytes / ALIGN) * ALIGN;
  }
  const head = h.bytes();
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, head);
    let pos = head.length;
    const pad = (n) => {
      if (n > 0) {
        writeSync(fd, Buffer.alloc(n));
        pos += n;
      }
    };
    pad(Math.ceil(pos / ALIGN) * ALIGN - pos);
    const base = pos;
    for (const t of tensors) {
      pad(base + t.offset - pos);
      let written = 0;
      for (const c of t.chunks()) {
        writeSync(fd, c);
        pos += c.byteLength;
        written += c.byteLength;
      }
      if (written !== t.bytes) throw new Error(`gguf: ${t.name} wrote ${written} bytes, expected ${t.bytes}`);
    }
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

/** A vocabulary llama.cpp accepts (SPM, unique placeholder pieces): ids are fed directly by the bench. */
function vocabKv(V, cfg) {
  // 0..2 control (unk/bos/eos-like), 3..258 the 256 byte pieces SPM expects, then placeholders
  const hex = (b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
  const tokens = Array.from({ length: V }, (_, i) => (i < 3 ? `<c${i}>` : i < 259 ? hex(i - 3) : `<t${i}>`));
  const types = Array.from({ length: V }, (_, i) => (i < 3 ? 3 : i < 259 ? 6 : 1));
  return {
    'tokenizer.ggml.model': str('llama'),
    'tokenizer.ggml.tokens': { type: T.ARRAY, elem: T.STRING, value: tokens },
    'tokenizer.ggml.scores': { type: T.ARRAY, elem: T.FLOAT32, value: new Array(V).fill(0) },
    'tokenizer.ggml.token_type': { type: T.ARRAY, elem: T.INT32, value: types },
    'tokenizer.ggml.unknown_token_id': u32(0),
    'tokenizer.ggml.bos_token_id': u32(cfg.bos_token_id ?? 0),
    'tokenizer.ggml.eos_token_id': u32(cfg.eos_token_id ?? 1),
    'tokenizer.ggml.padding_token_id': u32(cfg.pad_token_id ?? 2),
    'tokenizer.ggml.add_bos_token': { type: T.BOOL, value: false },
  };
}

/**
 * The synthetic checkpoint in `dir` as GGUF of `qtype` ('f32' | 'q8_0' | 'q4_0'), tensor for tensor the
 * bits mote's dtype f32 / int8 / int4 uses (quantize.ts): 1-D norms and the router stay f32 (as
 * llama.cpp's quantiser keeps them); q8_0 quantises every other matrix; q4_0 puts expert and MLP
 * matrices in q4_0 and keeps attention, embeddings and output in q8_0 (mote's int4 mix).
 */
export function ggufFromSynthetic(dir, file, qtype) {
  if (existsSync(file)) return file;
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  const ck = SafetensorsCheckpoint.open(dir);
  const mt = cfg.model_type;
  const arch = { olmoe: 'olmoe', qwen3_moe: 'qwen3moe', deepseek_v2: 'deepseek2' }[mt];
  if (!arch) throw new Error(`gguf: no llama.cpp arch for ${mt}`);
  const D = cfg.hidden_size,
    V = cfg.vocab_size,
    L = cfg.num_hidden_layers,
    E = cfg.num_experts ?? cfg.n_routed_experts;
  const I = cfg.moe_intermediate_size ?? cfg.intermediate_size;
  const get = (name) => readScaledF32(ck, name).data;
  // the matrices int4 keeps in 8 bits: everything but experts and MLPs
  const wide = (gname) => (qtype === 'q4_0' && !/ffn_(gate|up|down)(_exps|_shexp)?\.weight$/.test(gname) ? 'q8_0' : qtype);
  const mat = (gname, hfName, forceType) => {
    const e = ck.entry(hfName);
    const type = forceType ?? (e.shape.length === 1 ? 'f32' : wide(gname));
    return {
      name: gname,
      shape: e.shape,
      type,
      chunks: function* () {
        const [n, k] = e.shape.length === 1 ? [1, e.shape[0]] : e.shape;
        yield encode(type, get(hfName), n, k);
      },
    };
  };
  const experts = (gname, names, [n, k]) => ({
    name: gname,
    shape: [E, n, k],
    type: qtype,
    chunks: function* () {
      for (let x = 0; x < E; x++) yield encode(qtype, get(names(x)), n, k);
    },
  });
  const kv = { 'general.architecture': str(arch), 'general.name': str(`mote-synthetic-${mt}-${L}l`), 'general.alignment': u32(ALIGN) };
  const a = (k, v) => {
    kv[`${arch}.${k}`] = v;
  };
  a('context_length', u32(cfg.max_position_embeddings ?? 4096));
  a('embedding_length', u32(D));
  a('block_count', u32(L));
  a('attention.head_count', u32(cfg.num_attention_heads));
  a('attention.layer_norm_rms_epsilon', f32v(cfg.rms_norm_eps));
  a('rope.freq_base', f32v(cfg.rope_theta ?? 10000));
  a('expert_count', u32(E));
  a('expert_used_count', u32(cfg.num_experts_per_tok));
  const tensors = [mat('token_embd.weight', 'model.embed_tokens.weight')];
  if (mt === 'olmoe' || mt === 'qwen3_moe') {
    const hd = cfg.head_dim ?? D / cfg.num_attention_heads;
    a('attention.head_count_kv', u32(cfg.num_key_value_heads));
    a('feed_forward_length', u32(mt === 'olmoe' ? I : cfg.intermediate_size));
    if (mt === 'qwen3_moe') {
      a('expert_feed_forward_length', u32(I));
      a('attention.key_length', u32(hd));
      a('attention.value_length', u32(hd));
    }
    for (let l = 0; l < L; l++) {
      const p = `model.layers.${l}`,
        b = `blk.${l}`;
      tensors.push(
        mat(`${b}.attn_norm.weight`, `${p}.input_layernorm.weight`),
        mat(`${b}.attn_q.weight`, `${p}.self_attn.q_proj.weight`),
        mat(`${b}.attn_k.weight`, `${p}.self_attn.k_proj.weight`),
        mat(`${b}.attn_v.weight`, `${p}.self_attn.v_proj.weight`),
        mat(`${b}.attn_output.weight`, `${p}.self_attn.o_proj.weight`),
        mat(`${b}.attn_q_norm.weight`, `${p}.self_attn.q_norm.weight`),
        mat(`${b}.attn_k_norm.weight`, `${p}.self_attn.k_norm.weight`),
        mat(`${b}.ffn_norm.weight`, `${p}.post_attention_layernorm.weight`),
        mat(`${b}.ffn_gate_inp.weight`, `${p}.mlp.gate.weight`, 'f32'),
        experts(`${b}.ffn_gate_exps.weight`, (x) => `${p}.mlp.experts.${x}.gate_proj.weight`, [I, D]),
        experts(`${b}.ffn_up_exps.weight`, (x) => `${p}.mlp.experts.${x}.up_proj.weight`, [I, D]),
        experts(`${b}.ffn_down_exps.weight`, (x) => `${p}.mlp.experts.${x}.down_proj.weight`, [D, I]),
      );
    }
  } else {
    deepseek2(cfg, ck, a, tensors, mat, experts, qtype);
  }
  tensors.push(mat('output_norm.weight', 'model.norm.weight'), mat('output.weight', 'lm_head.weight'));
  Object.assign(kv, vocabKv(V, cfg));
  try {
    writeGguf(file, kv, tensors);
  } finally {
    ck.close();
  }
  return file;
}

/** DeepSeek-V2(-Lite) layers: MLA attention (no q LoRA), first_k_dense_replace dense layers, shared experts. */
function deepseek2(cfg, _ck, a, tensors, mat, experts) {
  const D = cfg.hidden_size,
    L = cfg.num_hidden_layers,
    I = cfg.moe_intermediate_size;
  a('attention.head_count_kv', u32(cfg.num_attention_heads));
  a('feed_forward_length', u32(cfg.intermediate_size));
  a('expert_feed_forward_length', u32(I));
  a('leading_dense_block_count', u32(cfg.first_k_dense_replace ?? 0));
  a('expert_shared_count', u32(cfg.n_shared_experts ?? 0));
  a('expert_weights_scale', f32v(cfg.routed_scaling_factor ?? 1));
  a('expert_weights_norm', { type: T.BOOL, value: Boolean(cfg.norm_topk_prob) });
  a('expert_gating_func', u32(1)); // softmax
  a('attention.kv_lora_rank', u32(cfg.kv_lora_rank));
  a('attention.q_lora_rank', u32(cfg.q_lora_rank ?? 0));
  a('attention.key_length', u32(cfg.qk_nope_head_dim + cfg.qk_rope_head_dim));
  a('attention.value_length', u32(cfg.v_head_dim));
  a('rope.dimension_count', u32(cfg.qk_rope_head_dim));
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}`,
      b = `blk.${l}`;
    tensors.push(
      mat(`${b}.attn_norm.weight`, `${p}.input_layernorm.weight`),
      mat(`${b}.attn_q.weight`, `${p}.self_attn.q_proj.weight`),
      mat(`${b}.attn_kv_a_mqa.weight`, `${p}.self_attn.kv_a_proj_with_mqa.weight`),
      mat(`${b}.attn_kv_a_norm.weight`, `${p}.self_attn.kv_a_layernorm.weight`),
      mat(`${b}.attn_kv_b.weight`, `${p}.self_attn.kv_b_proj.weight`),
      mat(`${b}.attn_output.weight`, `${p}.self_attn.o_proj.weight`),
      mat(`${b}.ffn_norm.weight`, `${p}.post_attention_layernorm.weight`),
    );
    if (l < (cfg.first_k_dense_replace ?? 0)) {
      tensors.push(
        mat(`${b}.ffn_gate.weight`, `${p}.mlp.gate_proj.weight`),
        mat(`${b}.ffn_up.weight`, `${p}.mlp.up_proj.weight`),
        mat(`${b}.ffn_down.weight`, `${p}.mlp.down_proj.weight`),
      );
      continue;
    }
    tensors.push(
      mat(`${b}.ffn_gate_inp.weight`, `${p}.mlp.gate.weight`, 'f32'),
      experts(`${b}.ffn_gate_exps.weight`, (x) => `${p}.mlp.experts.${x}.gate_proj.weight`, [I, D]),
      experts(`${b}.ffn_up_exps.weight`, (x) => `${p}.mlp.experts.${x}.up_proj.weight`, [I, D]),
      experts(`${b}.ffn_down_exps.weight`, (x) => `${p}.mlp.experts.${x}.down_proj.weight`, [D, I]),
      mat(`${b}.ffn_gate_shexp.weight`, `${p}.mlp.shared_experts.gate_proj.weight`),
      mat(`${b}.ffn_up_shexp.weight`, `${p}.mlp.shared_experts.up_proj.weight`),
      mat(`${b}.ffn_down_shexp.weight`, `${p}.mlp.shared_experts.down_proj.weight`),
    );
  }
}
