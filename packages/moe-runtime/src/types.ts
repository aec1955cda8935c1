// The public contract of the runtime: model info, router hooks, token context, policies, generation.
// ftri, mote and eval import only what this file and moe-model.ts (the MoeModel interface) declare, through index.ts.
// Shapes: B batch, T tokens, N = real (non-pad) tokens of a call, E routed experts, K top-k, V vocab.

import type { Tensor, F32Tensor, I32Tensor } from '@mote/tensor-core';

/** The five per-layer router points every architecture exposes (docs/design.md, "Router hook semantics"). */
export const ROUTER_POINTS = ['router_logits', 'router_probs', 'selection_scores', 'topk_ids', 'topk_weights'] as const;
export type RouterPoint = (typeof ROUTER_POINTS)[number];
/** Residual-stream points of every decoder layer, [N, D]: resid_pre -> (+ attn_out) -> resid_mid -> (+ moe_out) -> resid_post. */
export const RESID_POINTS = ['resid_pre', 'attn_out', 'resid_mid', 'resid_post'] as const;
export type ResidPoint = (typeof RESID_POINTS)[number];
/** MoE-layer outputs: moe_out [N, D] = moe_routed [N, D] + moe_shared [N, D] (zeros without a shared expert);
 *  expert_out [N, K, D]: each chosen expert's output before mixing (opt-in: K extra expert passes). */
export const MOE_POINTS = ['moe_out', 'moe_routed', 'moe_shared', 'expert_out'] as const;
export type MoePoint = (typeof MOE_POINTS)[number];
/** Points after the last layer: final_norm [N, D] (the lm_head's input), logits [N, V]. */
export const MODEL_POINTS = ['final_norm', 'logits'] as const;
export type ModelPoint = (typeof MODEL_POINTS)[number];
export type BlockPoint = RouterPoint | ResidPoint | MoePoint;
export type HookPoint = BlockPoint | ModelPoint;

/** The one naming table: where each point sits under `blocks.{layer}.` (model points stand alone). */
const POINT_PATHS = {
  router_logits: 'moe.router_logits',
  router_probs: 'moe.router_probs',
  selection_scores: 'moe.selection_scores',
  topk_ids: 'moe.topk_ids',
  topk_weights: 'moe.topk_weights',
  resid_pre: 'resid_pre',
  attn_out: 'attn_out',
  resid_mid: 'resid_mid',
  resid_post: 'resid_post',
  moe_out: 'moe_out',
  moe_routed: 'moe.routed_out',
  moe_shared: 'moe.shared_out',
  expert_out: 'moe.expert_out',
  final_norm: 'final_norm',
  logits: 'logits',
} as const satisfies Record<HookPoint, string>;
type PointPaths = typeof POINT_PATHS;
/** The type of a hook name: `blocks.${number}.moe.topk_ids`, `blocks.${number}.resid_post`, `logits`, ... */
export type HookName<P extends HookPoint = HookPoint> = P extends ModelPoint ? P : `blocks.${number}.${PointPaths[P]}`;

/**
 * Hook names are built here and nowhere else: `blocks.{layer}.moe.{router point}`, `blocks.{layer}.resid_post`,
 * `blocks.{layer}.moe.expert_out`, ..., and `final_norm` / `logits` (no layer).
 * @example
 * hookName(2, 'topk_ids');   // 'blocks.2.moe.topk_ids'
 * hookName(0, 'resid_post'); // 'blocks.0.resid_post'
 * hookName('logits');        // 'logits'
 */
export function hookName<P extends BlockPoint>(layer: number, point: P): HookName<P>;
export function hookName<P extends ModelPoint>(point: P): P;
export function hookName(a: number | ModelPoint, b?: BlockPoint): string {
  return typeof a === 'number' ? `blocks.${a}.${POINT_PATHS[b!]}` : POINT_PATHS[a];
}
const PATH_POINTS = new Map(Object.entries(POINT_PATHS).map(([p, path]) => [path, p as HookPoint]));
/** The inverse of hookName: `{ layer, point }` (layer null for final_norm / logits), or null for an unknown name. */
export function parseHookName(name: string): { layer: number | null; point: HookPoint } | null {
  const m = /^blocks\.(\d+)\.([a-z_.]+)$/.exec(name);
  const point = (PATH_POINTS as Map<string, HookPoint>).get(m ? m[2] : name);
  if (!point || (m === null) !== (MODEL_POINTS as readonly string[]).includes(point)) return null;
  return { layer: m ? Number(m[1]) : null, point };
}
/** The tensor type a hook or the cache sees at a name: int32 for topk_ids, float32 everywhere else. */
export type TensorAt<N extends string> = N extends `${string}topk_ids` ? I32Tensor : F32Tensor;

/** One row of a router tensor: which sequence, position and token it belongs to. */
export interface TokenInfo {
  /** index of the sequence in the call's batch (the prompt index in generate/forwardBatch) */
  seq: number;
  /** absolute position in that sequence (0 = first prompt token) */
  pos: number;
  /** the token id at this position */
  tokenId: number;
  /** true for tokens produced by generation, false for prompt tokens */
  generated: boolean;
  /** true strictly between a `<think>` token and its `</think>` (tags excluded) */
  inThink: boolean;
}

export interface HookContext {
  /** the decoder layer (layer count for final_norm / logits) */
  layer: number;
  point: HookPoint;
  name: string;
  /** one entry per row of the tensor, N rows */
  tokens: TokenInfo[];
  expertCount: number;
  topK: number;
}

/**
 * A hook. Router tensors are [N, E] float32 for logits/probs/scores, [N, K] int32 for topk_ids and
 * [N, K] float32 for topk_weights. Return void to observe, a tensor of the same shape to replace.
 * Replacing router_logits / router_probs / selection_scores changes what selection sees downstream;
 * replacing topk_ids recomputes the weights with the architecture's formula; replacing topk_weights
 * sets the applied weights directly. Residual, MoE and model points get [N, D] float32 (expert_out [N, K, D],
 * logits [N, V]); a returned tensor replaces the activation for everything downstream.
 */
export type Hook = (t: Tensor, ctx: HookContext) => Tensor | void;
export type HookMap = Record<string, Hook | Hook[]>;

export type TokenScope = 'all' | 'prompt' | 'generated' | 'think' | { from: number; to: number };
export type InterventionMode = 'exclude' | 'drop' | 'force' | 'scale' | 'bias';
export interface Intervention {
  mode: InterventionMode;
  layer: number;
  expert: number;
  /** factor for scale, additive selection-score offset for bias */
  value?: number;
  scope?: TokenScope;
}
export interface Policy {
  name?: string;
  interventions: Intervention[];
  [extra: string]: unknown;
}

export interface ModelInfo {
  modelType: string;
  dir: string;
  layerCount: number;
  /** decoder-layer indices that have a router */
  moeLayers: number[];
  expertCount: number;
  topK: number;
  sharedExpertCount: number;
  hiddenSize: number;
  vocabSize: number;
  headCount: number;
  kvHeadCount: number;
  headDim: number;
  params: { total: number; active: number; embedding: number; routedExperts: number };
  /** the weight dtype this load resolved to (LoadOptions.dtype, 'auto' resolved); absent for models not loaded by loadModel */
  dtype?: 'f32' | 'int8' | 'int4';
  bosTokenId: number | null;
  eosTokenIds: number[];
  padTokenId: number | null;
  /** the router points this model's hooks can observe (absent: all five; a served model: ['topk_ids']) */
  routerPoints?: RouterPoint[];
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | string;
  content: string;
}

export interface Tokenizer {
  encode(text: string, opts?: { addSpecialTokens?: boolean }): number[];
  decode(ids: number[], opts?: { skipSpecialTokens?: boolean }): string;
  /** Render messages with the model's chat template (or the override given to loadModel). */
  applyChatTemplate(messages: ChatMessage[], opts?: { addGenerationPrompt?: boolean }): string;
  /** ids of the rendered chat prompt, special tokens taken from the template itself. */
  encodeChat(messages: ChatMessage[], opts?: { addGenerationPrompt?: boolean }): number[];
  tokenId(token: string): number | null;
}

export interface ForwardOptions {
  hooks?: HookMap;
  policy?: Policy | null;
  /** which positions to return logits for: 'all' (default) or 'last' */
  logits?: 'all' | 'last' | 'none';
}
export interface ForwardResult {
  /** [B, T, V] for logits 'all' (padded rows of shorter sequences are 0), [B, 1, V] for 'last' */
  logits: F32Tensor | null;
}

export interface SamplingOptions {
  /** 0 or undefined = greedy */
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
}
export interface GenerateOptions extends SamplingOptions {
  maxNewTokens?: number;
  /** token ids that end a sequence (default: the model's eos ids); the stop token is kept in `ids` */
  stopTokens?: number[];
  /** strings that end a sequence once the decoded continuation contains them */
  stopStrings?: string[];
  hooks?: HookMap;
  policy?: Policy | null;
  /** called with the logits [V] each new token of each sequence was chosen from */
  onLogits?: (seq: number, logits: Float32Array) => void;
  /** called for every new token of every sequence */
  onToken?: (seq: number, tokenId: number, textDelta: string) => void;
  /** rows decoded together (default 16) */
  batchSize?: number;
  /** keep only the last max_position_embeddings tokens of a longer prompt (default: such a prompt is E_LIMIT) */
  truncate?: boolean;
  /** prompt positions per prefill step (default 512): longer prompts are prefilled in chunks, so masks and
   *  attention scores grow linearly with the prompt */
  prefillChunk?: number;
}
export interface GenerateResult {
  promptIds: number[];
  /** generated ids, including the stop token if one was hit */
  ids: number[];
  text: string;
  stopReason: 'stop_token' | 'stop_string' | 'max_new_tokens';
}

export type { Tensor, F32Tensor, I32Tensor };

export interface LoadOptions {
  /** onnxruntime intra-op threads (default: all cores) */
  threads?: number;
  /** a Jinja chat template that replaces the checkpoint's */
  chatTemplate?: string;
  /** time and output-size limits of chat-template rendering (defaults: 10 s, 64 KiB + 8x the messages) */
  chatTemplateLimits?: { ms?: number; fixed?: number; perInput?: number; heapMb?: number };
  /** weight dtype: 'f32' (default, exact; $MOTE_DTYPE overrides the default), 'int8' / 'int4' (block-32 symmetric, llama.cpp q8_0 / q4_0
   *  arithmetic; routers and norms stay f32), or 'auto': f32 if it fits in the memory available, else int8,
   *  else int4 (the choice goes to `log`). Any load that cannot fit fails first with E_MEMORY
   *  ($MOTE_MEMORY_LIMIT overrides the memory available, e.g. `8G`). */
  dtype?: 'f32' | 'int8' | 'int4' | 'auto';
  /** weight cache folder, or false for none (default: $MOTE_CACHE, else ~/.cache/mote; MOTE_CACHE=off disables) */
  cache?: string | boolean;
  /** re-hash every weight byte against the cache entry before using it (the key itself samples) */
  verify?: boolean;
  /** where the dtype choice and warnings go (default: stderr, prefixed `mote: `) */
  log?: (line: string) => void;
  /** let onnxruntime's idle pool threads spin between runs (default off) */
  spinning?: boolean;
}
