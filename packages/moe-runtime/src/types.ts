// The public contract of the runtime: model info, router hooks, token context, policies, generation.
// ftri, mote and eval import only what this file (re-exported from index.ts) declares.
// Shapes: B batch, T tokens, N = real (non-pad) tokens of a call, E routed experts, K top-k, V vocab.

import type { Tensor, F32Tensor, I32Tensor } from '@mote/tensor-core';

/** The five per-layer router points every architecture exposes (DESIGN.md "Router hook semantics"). */
export const ROUTER_POINTS = ['router_logits', 'router_probs', 'selection_scores', 'topk_ids', 'topk_weights'] as const;
export type RouterPoint = (typeof ROUTER_POINTS)[number];

/** Hook names are built here and nowhere else: `blocks.{layer}.moe.{point}`. */
export function hookName(layer: number, point: RouterPoint): string {
  return `blocks.${layer}.moe.${point}`;
}
export function parseHookName(name: string): { layer: number; point: RouterPoint } | null {
  const m = /^blocks\.(\d+)\.moe\.([a-z_]+)$/.exec(name);
  if (!m || !(ROUTER_POINTS as readonly string[]).includes(m[2])) return null;
  return { layer: Number(m[1]), point: m[2] as RouterPoint };
}

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
  layer: number;
  point: RouterPoint;
  name: string;
  /** one entry per row of the tensor, N rows */
  tokens: TokenInfo[];
  expertCount: number;
  topK: number;
}

/**
 * A router hook. Tensors are [N, E] float32 for logits/probs/scores, [N, K] int32 for topk_ids and
 * [N, K] float32 for topk_weights. Return void to observe, a tensor of the same shape to replace.
 * Replacing router_logits / router_probs / selection_scores changes what selection sees downstream;
 * replacing topk_ids recomputes the weights with the architecture's formula; replacing topk_weights
 * sets the applied weights directly.
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
}
export interface GenerateResult {
  promptIds: number[];
  /** generated ids, including the stop token if one was hit */
  ids: number[];
  text: string;
  stopReason: 'stop_token' | 'stop_string' | 'max_new_tokens';
}

export type { Tensor, F32Tensor, I32Tensor };

/** A loaded model. All methods are safe to call repeatedly; hooks passed per call never leak. */
export interface MoeModel {
  info: ModelInfo;
  tokenizer: Tokenizer;
  /** Prefill a batch of sequences (each its own length; padding is internal and invisible to hooks). */
  forward(batch: number[][], opts?: ForwardOptions): Promise<ForwardResult>;
  /** forward() that records the named router tensors (concatenated over the call's rows) in `cache`. */
  runWithCache(
    batch: number[][],
    opts: ForwardOptions & { names: string[] },
  ): Promise<ForwardResult & { cache: Map<string, { tensor: Tensor; tokens: TokenInfo[] }> }>;
  /** forward() with hooks (alias with TransformerLens's name). */
  runWithHooks(batch: number[][], opts: ForwardOptions & { hooks: HookMap }): Promise<ForwardResult>;
  /** Install hooks for the duration of fn, always removed afterwards. */
  withHooks<R>(hooks: HookMap, fn: () => Promise<R>): Promise<R>;
  /** Greedy or seeded sampling with a KV cache, one result per prompt. */
  generate(prompts: number[][], opts?: GenerateOptions): Promise<GenerateResult[]>;
  dispose(): Promise<void>;
}

export interface LoadOptions {
  /** onnxruntime intra-op threads (default: all cores) */
  threads?: number;
  /** a Jinja chat template that replaces the checkpoint's */
  chatTemplate?: string;
  /** weight dtype: 'f32' (default, exact), 'int8' / 'int4' (block-32 symmetric, llama.cpp q8_0 / q4_0
   *  arithmetic; routers and norms stay f32) */
  dtype?: 'f32' | 'int8' | 'int4';
  /** weight cache folder, or false for none (default: $MOTE_CACHE, else ~/.cache/mote; MOTE_CACHE=off disables) */
  cache?: string | boolean;
  /** let onnxruntime's idle pool threads spin between runs (default off) */
  spinning?: boolean;
}
