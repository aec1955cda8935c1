// vLLM's and SGLang's routed-expert completions bodies (tests/fixtures/served, sources cited in its README:
// vllm-project/vllm routed_experts_capturer.py @ 42fa4c0, completion/protocol.py @ d5dba2d; sgl-project/sglang
// entrypoints/openai/protocol.py @ 004c82e) parse into the right routes and token ranges, and bad bodies get
// their coded errors.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildCompletionRequest, parseCompletionResponse, type RouteShape } from '@mote/moe-runtime';

const fx = (f: string) => JSON.parse(readFileSync(new URL(`./fixtures/served/${f}`, import.meta.url), 'utf8'));
const shape: RouteShape = { moeLayers: [0, 1], layerCount: 2, expertCount: 8, topK: 2 };
const prompt = [151646, 9707, 11];
// by hand: positions 0..4 = 3 prompt tokens + the first 2 of 3 generated (the last is never fed back)
const ROUTES = [
  [
    [0, 1],
    [2, 3],
  ],
  [
    [4, 5],
    [6, 7],
  ],
  [
    [1, 0],
    [3, 2],
  ],
  [
    [5, 4],
    [7, 6],
  ],
  [
    [2, 4],
    [1, 3],
  ],
].flat(2);

describe('served protocols', () => {
  it('vLLM: prompt_routed_experts + choices[0].routed_experts -> positions 0..P+G-2', () => {
    const r = parseCompletionResponse('vllm', fx('vllm-completions-response.json'), prompt, shape, 'test');
    expect(r.ids).toEqual([825, 1378, 2326]);
    expect(r.rows).toBe(5);
    expect(Array.from(r.routes)).toEqual(ROUTES);
    expect(r.finishReason).toBe('length');
  });
  it('SGLang: sglext.routed_experts base64 int32 [P+G-1, L, K]', () => {
    const r = parseCompletionResponse('sglang', fx('sglang-completions-response.json'), prompt, shape, 'test');
    expect(r.rows).toBe(5);
    expect(Array.from(r.routes)).toEqual(ROUTES);
  });
  it('SGLang with every decoder layer on the wire: the MoE layers are picked out', () => {
    const s3: RouteShape = { moeLayers: [1, 2], layerCount: 3, expertCount: 8, topK: 2 };
    const r = parseCompletionResponse('sglang', fx('sglang-completions-response-all-layers.json'), prompt, s3, 'test');
    expect(Array.from(r.routes)).toEqual(ROUTES);
  });
  it('requests carry the documented fields', () => {
    const v = buildCompletionRequest('vllm', { model: '<MODEL>', promptIds: prompt, maxNewTokens: 3 });
    for (const [k, val] of Object.entries(fx('vllm-completions-request.json'))) expect(v[k]).toEqual(val);
    const s = buildCompletionRequest('sglang', { model: '<MODEL>', promptIds: prompt, maxNewTokens: 3 });
    for (const [k, val] of Object.entries(fx('sglang-completions-request.json'))) expect(s[k]).toEqual(val);
  });
  it('coded errors: missing routes name the flag, shapes and ranges are checked', () => {
    const v = fx('vllm-completions-response.json');
    expect(() => parseCompletionResponse('vllm', { ...v, prompt_routed_experts: null }, prompt, shape, 't')).toThrow(
      /E_REMOTE_NO_ROUTES.*--enable-return-routed-experts/,
    );
    const s = fx('sglang-completions-response.json');
    expect(() => parseCompletionResponse('sglang', { ...s, sglext: undefined }, prompt, shape, 't')).toThrow(
      /E_REMOTE_NO_ROUTES.*--enable-return-routed-experts/,
    );
    expect(() => parseCompletionResponse('vllm', v, [1, 2], shape, 't')).toThrow(/E_REMOTE_SHAPE/);
    expect(() => parseCompletionResponse('vllm', v, prompt, { ...shape, topK: 3 }, 't')).toThrow(/E_REMOTE_MODEL.*top-2/);
    expect(() => parseCompletionResponse('vllm', v, prompt, { ...shape, moeLayers: [0, 1, 2], layerCount: 3 }, 't')).toThrow(
      /E_REMOTE_MODEL/,
    );
    expect(() => parseCompletionResponse('vllm', v, prompt, { ...shape, expertCount: 6 }, 't')).toThrow(/E_REMOTE_SHAPE.*expert id 6/);
    expect(() => parseCompletionResponse('sglang', s, prompt, { ...shape, topK: 3 }, 't')).toThrow(/E_REMOTE_SHAPE|E_REMOTE_MODEL/);
    expect(() => parseCompletionResponse('vllm', { nope: 1 }, prompt, shape, 't')).toThrow(/E_REMOTE_JSON/);
  });
});
