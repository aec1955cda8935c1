// ModelSpec: the normalised description of a checkpoint that the shared graph builders and the router
// consume. Architecture files (models/<model_type>.ts) turn an HF config.json into one of these.

import { MoteError } from '@mote/tensor-core';

export type RawConfig = Record<string, unknown>;

export type RopeSpec =
  | { kind: 'default'; theta: number; dim: number; attentionFactor?: number }
  | {
      kind: 'yarn';
      theta: number;
      dim: number;
      factor: number;
      originalMax: number;
      betaFast: number;
      betaSlow: number;
      mscale: number;
      mscaleAllDim: number;
      attentionFactor?: number;
      truncate: boolean;
    };

/** How a router turns logits into (ids, weights); see routing.ts for the exact formulas. */
export interface RouterSpec {
  /** 'softmax': softmax over all experts, then top-k. 'sigmoid': DeepSeek-V3 (bias for selection only).
   *  'topk_softmax': top-k on raw logits, softmax over the k (gpt-oss). */
  scoring: 'softmax' | 'sigmoid' | 'topk_softmax';
  normTopK: boolean;
  /** multiply the final weights (DeepSeek routed_scaling_factor), 1 otherwise */
  scaling: number;
  /** DeepSeek group-limited selection; group score 'top2sum' (V3, default) or 'max' (V2 group_limited_greedy) */
  groups?: { count: number; topkGroup: number; score?: 'top2sum' | 'max' };
}

export interface AttentionSpec {
  kind: 'gqa' | 'mla';
  /** q/k RMSNorm: per head (qwen3), over the whole projection (olmoe) */
  qkNorm: 'none' | 'head' | 'full';
  clipQkv: number | null;
  /** per layer: sliding window length or null */
  slidingWindow: (number | null)[];
  sinks: boolean;
  /** softmax scale multiplier on top of 1/sqrt(dk) */
  scale: number;
  /** MLA dims (deepseek) */
  mla?: { qLoraRank: number | null; kvLoraRank: number; qkNopeDim: number; qkRopeDim: number; vDim: number; ropeInterleave: boolean };
}

export interface LayerWeights {
  inputNorm: string;
  postNorm: string;
  attn: Record<string, string | undefined>;
  /** router weight [E, D] (MoE layers) */
  router?: string;
  routerBias?: string;
  /** DeepSeek-V3 e_score_correction_bias [E] (selection only) */
  correctionBias?: string;
  /** per-expert tensor names (MoE layers) */
  expert?: (e: number) => { gate: string; up: string; down: string };
  /** dense MLP (dense layers) */
  mlp?: { gate: string; up: string; down: string };
  shared?: { gate: string; up: string; down: string; gateScalar?: string };
  /** all experts in fused tensors (gpt-oss): `gateUp` [E, D, 2I] gate/up interleaved in columns, `down`
   *  [E, I, D] (x @ W layouts), or MXFP4 `<name>_blocks`/`<name>_scales` holding [E, 2I, D] / [E, D, I] */
  fusedExperts?: { gateUp: string; down: string; gateUpBias?: string; downBias?: string };
}

export interface ModelSpec {
  modelType: string;
  file: string;
  hidden: number;
  vocab: number;
  layerCount: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  rmsEps: number;
  rope: RopeSpec;
  attention: AttentionSpec;
  moeLayers: number[];
  expertCount: number;
  topK: number;
  moeIntermediate: number;
  denseIntermediate: number;
  sharedIntermediate: number;
  sharedGated: boolean;
  sharedExpertCount: number;
  router: RouterSpec;
  /** 'silu': silu(gate)*up; 'gptoss': clamped swiglu with alpha 1.702, (up+1), limit */
  activation: { kind: 'silu' } | { kind: 'gptoss'; alpha: number; limit: number };
  expertBias: boolean;
  bosTokenId: number | null;
  eosTokenIds: number[];
  padTokenId: number | null;
  maxPositions: number;
  weights: { embed: string; norm: string; lmHead: string; layer: (l: number) => LayerWeights };
}

/** Most decoder layers a config may declare: per-layer tables are built before any weight is read. */
export const MAX_LAYERS = 1 << 16;

/** Typed reads of config.json fields with errors that name the file, the field, the value and the fix. */
export class ConfigReader {
  /** every field a builder asked for (tests check them against the architecture's field table) */
  readonly read = new Set<string>();
  constructor(
    readonly raw: RawConfig,
    readonly file: string,
    readonly modelType: string,
  ) {}
  private bad(field: string, v: unknown, want: string): never {
    throw new MoteError(
      'E_CONFIG_INVALID',
      `${field} must be ${want} in ${this.file} of ${this.modelType}, got ${JSON.stringify(v)}; fix config.json`,
      { file: this.file, field },
    );
  }
  has(field: string): boolean {
    this.read.add(field);
    return this.raw[field] !== undefined && this.raw[field] !== null;
  }
  int(field: string, fallback?: number, min = 1, max = Number.MAX_SAFE_INTEGER): number {
    this.read.add(field);
    const v = this.raw[field] ?? fallback;
    const want = max < Number.MAX_SAFE_INTEGER ? `an integer in ${min}..${max}` : `an integer >= ${min}`;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) this.bad(field, v, want);
    return v;
  }
  num(field: string, fallback?: number): number {
    this.read.add(field);
    const v = this.raw[field] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) this.bad(field, v, 'a finite number');
    return v;
  }
  /** a finite number > 0 (eps, theta, scales) */
  pos(field: string, fallback?: number): number {
    const v = this.num(field, fallback);
    if (!(v > 0)) this.bad(field, v, 'a finite number > 0');
    return v;
  }
  bool(field: string, fallback?: boolean): boolean {
    this.read.add(field);
    const v = this.raw[field] ?? fallback;
    if (typeof v !== 'boolean') this.bad(field, v, 'true or false');
    return v;
  }
  str(field: string, fallback?: string): string {
    this.read.add(field);
    const v = this.raw[field] ?? fallback;
    if (typeof v !== 'string') this.bad(field, v, 'a string');
    return v;
  }
  ints(field: string, fallback: number[] = []): number[] {
    this.read.add(field);
    const v = this.raw[field] ?? fallback;
    if (!Array.isArray(v) || v.some((x) => !Number.isInteger(x))) this.bad(field, v, 'an array of integers');
    return v as number[];
  }
  /** eos may be an int or a list */
  idList(field: string): number[] {
    this.read.add(field);
    const v = this.raw[field];
    if (v === undefined || v === null) return [];
    return Array.isArray(v) ? (v as number[]) : [v as number];
  }
  optInt(field: string): number | null {
    this.read.add(field);
    const v = this.raw[field];
    return typeof v === 'number' ? v : null;
  }
  check(cond: boolean, field: string, v: unknown, want: string): void {
    if (!cond) this.bad(field, v, want);
  }
}

/** Default RoPE / YaRN from the HF config (4.x style rope_theta + rope_scaling). */
export function ropeFromConfig(c: ConfigReader, dim: number): RopeSpec {
  const theta = c.pos('rope_theta', 10000);
  c.read.add('rope_scaling');
  const rs = c.raw.rope_scaling as Record<string, unknown> | null | undefined;
  const type = rs ? (rs.rope_type ?? rs.type) : undefined;
  if (!rs || type === 'default' || type === undefined) return { kind: 'default', theta, dim };
  if (type === 'yarn') {
    const n = (k: string, d: number) => (typeof rs[k] === 'number' ? (rs[k] as number) : d);
    return {
      kind: 'yarn',
      theta,
      dim,
      factor: n('factor', 1),
      originalMax: n('original_max_position_embeddings', c.num('max_position_embeddings', 4096)),
      betaFast: n('beta_fast', 32),
      betaSlow: n('beta_slow', 1),
      mscale: n('mscale', 0),
      mscaleAllDim: n('mscale_all_dim', 0), // 0 = absent, as HF tests them
      attentionFactor: typeof rs.attention_factor === 'number' ? (rs.attention_factor as number) : undefined,
      truncate: rs.truncate === undefined ? true : Boolean(rs.truncate),
    };
  }
  throw new MoteError(
    'E_CONFIG_INVALID',
    `rope_scaling.rope_type ${JSON.stringify(type)} in ${c.file} of ${c.modelType} is not supported; supported: default, yarn`,
    { file: c.file, field: 'rope_scaling' },
  );
}
