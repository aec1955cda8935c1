// The wire formats of routed-expert capture in vLLM and SGLang: building a token-id completions request and
// parsing its response into prompt ids, generated ids and per-token expert ids. Pure functions, no I/O.
// Shapes: P prompt tokens, G generated tokens, R = rows of routes, L MoE layers, K top-k.
//
// What the engines return (read in their sources):
// - vLLM (vllm-project/vllm, docs/training/routed_experts_replay.md of v0.21.0 and
//   vllm/model_executor/layers/fused_moe/routed_experts_capturer.py @ 42fa4c096d406754b7e5c6d93835fe390487c8af):
//   server flag `--enable-return-routed-experts`, no per-request switch; the completions response carries
//   `prompt_routed_experts` [P, L, K] at the response level and, per choice, `routed_experts` for the generated
//   tokens. split_routed_experts() cuts one [P + G - 1, L, K] capture at P: the final generated token is never fed
//   back, so it has no route (G - 1 rows; up to G are accepted, the extra row is ignored). Prompt ids may be sent
//   as `prompt: [ids]`; `return_token_ids` returns the generated ids per choice.
// - SGLang (sgl-project/sglang, python/sglang/srt/entrypoints/openai/protocol.py @
//   004c82e07d876f6e4a0ad6e15325706b0f478f1a): server flag `--enable-return-routed-experts` and request field
//   `return_routed_experts: true`; the response's `sglext.routed_experts` is base64 of int32 [P + G - 1, L, K]
//   (row i = the forward at position i; test/.../test_expert_id_partitions.py: "input is prompt_tokens - 1 rows,
//   output one row per output token", together prompt_tokens + completion_tokens - 1). A per-choice `sgl_ext` /
//   `sglext` is accepted too, and an L that counts every decoder layer (dense layers hold -1, as sglang-jax
//   documents) is reduced to the MoE layers.

import { MoteError } from '@mote/tensor-core';
import type { Policy } from './types.js';

export const ENGINES = ['vllm', 'sglang'] as const;
export type Engine = (typeof ENGINES)[number];

/** The server flag each engine needs, named in errors. */
export const ROUTES_FLAG = '--enable-return-routed-experts';

export interface ServedRequest {
  /** the served model's id (from /v1/models) */
  model: string;
  promptIds: number[];
  /** >= 1 (both engines reject 0); a prefill-only trace asks for 1 and ignores it */
  maxNewTokens: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  seed?: number;
  stopTokenIds?: number[];
  /** stop only at stopTokenIds, not at the model's eos (both engines' `ignore_eos`) */
  ignoreEos?: boolean;
  /** sent as `mote_policy`: only `mote serve` applies it */
  policy?: Policy | null;
}

/** The routing shape a response must fit. */
export interface RouteShape {
  /** decoder-layer indices with experts (the order of the L axis) */
  moeLayers: number[];
  layerCount: number;
  expertCount: number;
  topK: number;
}

export interface ServedResult {
  promptIds: number[];
  /** generated ids, the stop token included when one ended the sequence */
  ids: number[];
  text: string;
  finishReason: 'stop' | 'length';
  /** [R, L, K] routes of positions 0..R-1: R = P + min(G - 1, routed generated rows) */
  routes: Int32Array;
  rows: number;
  /** the policy the server says it applied (`mote serve` only) */
  policyApplied: string | null;
}

/** The JSON body of POST /v1/completions for one token-id prompt. */
export function buildCompletionRequest(engine: Engine, r: ServedRequest): Record<string, unknown> {
  const body: Record<string, unknown> = {
    model: r.model,
    prompt: r.promptIds,
    max_tokens: r.maxNewTokens,
    temperature: r.temperature ?? 0,
    return_token_ids: true,
    skip_special_tokens: false,
  };
  if (r.topP !== undefined) body.top_p = r.topP;
  if (r.topK !== undefined) body.top_k = r.topK;
  if (r.seed !== undefined) body.seed = r.seed;
  if (r.stopTokenIds?.length) body.stop_token_ids = r.stopTokenIds;
  if (r.ignoreEos) body.ignore_eos = true;
  if (engine === 'sglang') {
    body.return_routed_experts = true;
    body.no_stop_trim = true;
  }
  if (r.policy) body.mote_policy = r.policy;
  return body;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parse a completions response body into ids, text and routes; `where` names the server in errors. */
export function parseCompletionResponse(
  engine: Engine,
  body: unknown,
  promptIds: number[],
  shape: RouteShape,
  where: string,
): ServedResult {
  const bad = (msg: string): never => {
    throw new MoteError('E_REMOTE_JSON', `${where}: ${msg}; is this a ${engine} completions endpoint?`, { field: 'choices' });
  };
  if (!isObj(body) || !Array.isArray(body.choices) || !isObj(body.choices[0])) bad('the response has no choices[0]');
  const b = body as Record<string, unknown>;
  const choice = (b.choices as Record<string, unknown>[])[0];
  const text = typeof choice.text === 'string' ? choice.text : '';
  const finishReason = choice.finish_reason === 'length' ? 'length' : 'stop';
  const ids = choice.token_ids;
  if (!Array.isArray(ids) || ids.some((x) => !Number.isInteger(x)))
    bad('choices[0].token_ids is missing: the request asks for it with return_token_ids (vLLM >= 0.10.2, SGLang with return_token_ids)');
  const gen = ids as number[];
  const P = promptIds.length,
    G = gen.length;
  const usage = isObj(b.usage) ? b.usage : null;
  if (usage && typeof usage.prompt_tokens === 'number' && usage.prompt_tokens !== P)
    throw new MoteError(
      'E_REMOTE_SHAPE',
      `${where}: usage.prompt_tokens is ${usage.prompt_tokens} for a prompt of ${P} ids; the server re-tokenised or truncated the prompt`,
      { field: 'usage.prompt_tokens' },
    );

  const noRoutes = (field: string): never => {
    throw new MoteError(
      'E_REMOTE_NO_ROUTES',
      `${where}: the response has no ${field}; start the server with ${ROUTES_FLAG} (${engine === 'vllm' ? 'vllm serve MODEL --enable-return-routed-experts' : 'python -m sglang.launch_server --model-path MODEL --enable-return-routed-experts'})`,
      { field },
    );
  };
  const L = shape.moeLayers.length,
    K = shape.topK;
  let promptRows: Int32Array, genRows: Int32Array, layersOnWire: number;
  if (engine === 'vllm') {
    if (b.prompt_routed_experts == null) noRoutes('prompt_routed_experts');
    const pr = nested(b.prompt_routed_experts, 'prompt_routed_experts', where);
    const gr =
      choice.routed_experts == null
        ? { data: new Int32Array(0), rows: 0, layers: pr.layers, k: pr.k }
        : nested(choice.routed_experts, 'choices[0].routed_experts', where);
    if (gr.rows && (gr.layers !== pr.layers || gr.k !== pr.k))
      shapeErr(
        where,
        'choices[0].routed_experts',
        `[${gr.rows}, ${gr.layers}, ${gr.k}] vs prompt [${pr.rows}, ${pr.layers}, ${pr.k}]`,
        'the same layers and top-k',
      );
    if (pr.rows !== P) shapeErr(where, 'prompt_routed_experts', `${pr.rows} rows`, `${P} rows, one per prompt token`);
    if (gr.rows > G) shapeErr(where, 'choices[0].routed_experts', `${gr.rows} rows`, `at most ${G} rows for ${G} generated tokens`);
    checkWidth(where, 'prompt_routed_experts', pr.layers, pr.k, shape);
    layersOnWire = pr.layers;
    promptRows = pr.data;
    genRows = gr.data;
  } else {
    const ext = isObj(b.sglext)
      ? b.sglext
      : isObj(choice.sgl_ext)
        ? choice.sgl_ext
        : isObj(choice.sglext)
          ? choice.sglext
          : isObj(b.meta_info)
            ? b.meta_info
            : null;
    if (!ext || typeof ext.routed_experts !== 'string') noRoutes('sglext.routed_experts');
    const flat = base64Int32((ext as Record<string, unknown>).routed_experts as string, where);
    const total = P + G - 1;
    const perRow = flat.length / Math.max(total, 1);
    const layers = perRow / K;
    if (!Number.isInteger(perRow) || !Number.isInteger(layers))
      shapeErr(
        where,
        'sglext.routed_experts',
        `${flat.length} ids`,
        `${total} rows (prompt ${P} + generated ${G} - 1) x layers x top-${K}`,
      );
    checkWidth(where, 'sglext.routed_experts', layers, K, shape);
    layersOnWire = layers;
    promptRows = flat.subarray(0, P * layers * K);
    genRows = flat.subarray(P * layers * K);
  }
  // rows of positions 0..P+G-2 at most; the MoE layers picked out when the wire counts every decoder layer
  const genUsed = Math.min(genRows.length / (layersOnWire * K), Math.max(G - 1, 0));
  const R = P + genUsed;
  const routes = new Int32Array(R * L * K); // [R, L, K]
  const pick = layersOnWire === L ? null : shape.moeLayers;
  const src = (r: number): Int32Array =>
    r < P
      ? promptRows.subarray(r * layersOnWire * K, (r + 1) * layersOnWire * K)
      : genRows.subarray((r - P) * layersOnWire * K, (r - P + 1) * layersOnWire * K);
  for (let r = 0; r < R; r++) {
    const row = src(r);
    for (let l = 0; l < L; l++) {
      const wl = pick ? pick[l] : l;
      for (let k = 0; k < K; k++) {
        const e = row[wl * K + k];
        if (!(e >= 0 && e < shape.expertCount))
          shapeErr(
            where,
            'routed experts',
            `expert id ${e} at position ${r}, MoE layer ${shape.moeLayers[l]}, slot ${k}`,
            `ids in 0..${shape.expertCount - 1}: the server serves another model than the local config describes`,
          );
        routes[(r * L + l) * K + k] = e;
      }
    }
  }
  return {
    promptIds,
    ids: gen,
    text,
    finishReason,
    routes,
    rows: R,
    policyApplied: typeof b.mote_policy_applied === 'string' ? b.mote_policy_applied : null,
  };
}

function shapeErr(where: string, field: string, got: string, want: string): never {
  throw new MoteError('E_REMOTE_SHAPE', `${where}: ${field} has ${got}; expected ${want}`, { field });
}

function checkWidth(where: string, field: string, layers: number, k: number, s: RouteShape): void {
  if (k !== s.topK)
    throw new MoteError(
      'E_REMOTE_MODEL',
      `${where}: ${field} has top-${k} per token, the local config top-${s.topK}; the server serves another model than the local config describes`,
      { field },
    );
  if (layers !== s.moeLayers.length && layers !== s.layerCount)
    throw new MoteError(
      'E_REMOTE_MODEL',
      `${where}: ${field} has ${layers} layers, the local config ${s.moeLayers.length} MoE layers (${s.layerCount} decoder layers); the server serves another model than the local config describes`,
      { field },
    );
}

/** A JSON [R][L][K] array of ints into a flat Int32Array. */
function nested(v: unknown, field: string, where: string): { data: Int32Array; rows: number; layers: number; k: number } {
  if (!Array.isArray(v) || !v.length) return { data: new Int32Array(0), rows: 0, layers: 0, k: 0 };
  const rows = v.length;
  const layers = Array.isArray(v[0]) ? v[0].length : -1;
  const k = layers > 0 && Array.isArray(v[0][0]) ? v[0][0].length : -1;
  if (layers <= 0 || k <= 0) shapeErr(where, field, 'not a [tokens][layers][top_k] array', '[tokens][layers][top_k] integers');
  const data = new Int32Array(rows * layers * k);
  let n = 0;
  for (const row of v as unknown[][]) {
    if (!Array.isArray(row) || row.length !== layers)
      shapeErr(where, field, `a ragged row (${Array.isArray(row) ? row.length : typeof row} layers)`, `${layers} layers in every row`);
    for (const slot of row as unknown[][]) {
      if (!Array.isArray(slot) || slot.length !== k) shapeErr(where, field, 'a ragged top-k slot', `${k} ids per layer`);
      for (const e of slot) {
        if (!Number.isInteger(e)) shapeErr(where, field, `a non-integer id ${JSON.stringify(e)}`, 'integer expert ids');
        data[n++] = e as number;
      }
    }
  }
  return { data, rows, layers, k };
}

function base64Int32(s: string, where: string): Int32Array {
  const buf = Buffer.from(s, 'base64');
  if (buf.length % 4) shapeErr(where, 'sglext.routed_experts', `${buf.length} bytes`, 'a multiple of 4 bytes (int32 ids)');
  const out = new Int32Array(buf.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = buf.readInt32LE(i * 4);
  return out;
}

/** int32 ids as base64 (little-endian), SGLang's encoding. */
export function int32Base64(ids: Int32Array): string {
  return Buffer.from(ids.buffer, ids.byteOffset, ids.byteLength).toString('base64');
}
