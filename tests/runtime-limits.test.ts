// Issue 12's runtime failures, each reproduced: NaN weights named by layer (never blamed on a policy), prompts
// longer than max_position_embeddings, long prompts prefilled in chunks (linear masks), batch and sampling
// domains. Each gives the right coded error or the right result.

import { cpSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MoteError, SafetensorsCheckpoint, writeSafetensors } from '@mote/tensor-core';
import { loadModel } from '@mote/moe-runtime';
import { FIXTURES, maxAbsDiff } from './parity.js';

const TINY = join(FIXTURES, 'tiny-moe', 'qwen3_moe');

/** A copy of the tiny qwen3_moe with one float32 value of `tensor` set to `value` (every value with `all`). */
function poisoned(tensor: string, value: number, all = false): string {
  const dir = mkdtempSync(join(tmpdir(), 'mote-nan-'));
  cpSync(TINY, dir, { recursive: true });
  const ck = SafetensorsCheckpoint.open(TINY);
  const tensors = ck.names().map((name) => {
    const e = ck.entry(name);
    const bytes = ck.readBytes(name);
    if (name === tensor) {
      expect(e.dtype).toBe('F32');
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      for (let i = all ? 0 : 7; i < (all ? bytes.byteLength / 4 : 8); i++) view.setFloat32(4 * i, value, true);
    }
    return { name, dtype: e.dtype, shape: e.shape, bytes };
  });
  ck.close();
  writeSafetensors(join(dir, 'model.safetensors'), tensors);
  return dir;
}
async function codeOf(p: Promise<unknown>): Promise<MoteError> {
  try {
    await p;
  } catch (e) {
    expect(e, String((e as Error)?.stack)).toBeInstanceOf(MoteError);
    return e as MoteError;
  }
  throw new Error('expected a MoteError');
}

describe('non-finite weights (issue 12.4)', () => {
  it('NaN in lm_head is E_NONFINITE naming lm_head.weight at load, not a run of <bos> with exit 0', async () => {
    const e = await codeOf(loadModel(poisoned('lm_head.weight', NaN), { threads: 1, cache: false }));
    expect(e.code).toBe('E_NONFINITE');
    expect(e.message).toContain('lm_head.weight');
  });

  it('NaN or Inf in any weight is E_NONFINITE naming the tensor at load, and no policy is blamed', async () => {
    for (const [tensor, v] of [
      ['model.layers.1.mlp.gate.weight', NaN],
      ['model.layers.0.self_attn.q_proj.weight', Infinity],
      ['model.layers.1.mlp.experts.3.down_proj.weight', NaN],
    ] as const) {
      const e = await codeOf(loadModel(poisoned(tensor, v), { threads: 1, cache: false }));
      expect(e.code, tensor).toBe('E_NONFINITE');
      expect(e.message).toContain(tensor);
      expect(e.message).not.toContain('check scale values');
    }
  });

  it('finite weights whose activations overflow are E_NONFINITE naming the layer and part at run time', async () => {
    // 3e38 is a finite float32, so the load-time check passes it; every query of layer 0 then overflows to Inf
    const model = await loadModel(poisoned('model.layers.0.self_attn.q_proj.weight', 3e38, true), { threads: 1, cache: false });
    const e = await codeOf(model.forward([[1, 5, 6, 7, 8, 9]]));
    expect(e.code).toBe('E_NONFINITE');
    expect(e.message).toContain("layer 0's attention");
    expect(e.message).not.toContain('check scale values');
    await model.dispose();
  });
});

describe('prompt length and memory (issue 12.3)', () => {
  it('a prompt longer than max_position_embeddings is E_LIMIT; generate with truncate keeps the last tokens', async () => {
    const model = await loadModel(TINY, { threads: 1, cache: false });
    const max = JSON.parse(readFileSync(join(TINY, 'config.json'), 'utf8')).max_position_embeddings as number;
    const long = Array.from({ length: max + 20 }, (_, i) => (i * 7) % 500);
    const e = await codeOf(model.forward([long]));
    expect(e.code).toBe('E_LIMIT');
    expect(e.message).toContain(`${max + 20} tokens, more than the ${max} positions`);
    expect((await codeOf(model.generate([long], { maxNewTokens: 2 }))).code).toBe('E_LIMIT');
    const [t] = await model.generate([long], { maxNewTokens: 2, truncate: true });
    const [ref] = await model.generate([long.slice(20)], { maxNewTokens: 2 });
    expect(t.ids).toEqual(ref.ids);
    await model.dispose();
  });

  it('a 1 MB prompt is a coded error, not RangeError: Invalid typed array length', async () => {
    const model = await loadModel(TINY, { threads: 1, cache: false });
    const huge = Array.from({ length: 1 << 20 }, (_, i) => i % 500);
    expect((await codeOf(model.forward([huge]))).code).toBe('E_LIMIT');
    expect((await codeOf(model.generate([huge], { maxNewTokens: 1 }))).code).toBe('E_LIMIT');
    await model.dispose();
  });

  it('chunked prefill (padded rows of different lengths) gives the one-shot logits and greedy ids', async () => {
    const model = await loadModel(TINY, { threads: 1, cache: false });
    const a = Array.from({ length: 150 }, (_, i) => (i * 13 + 1) % 500);
    const b = a.slice(0, 61).map((x) => (x + 3) % 500);
    const first = (chunk?: number) => {
      const rows: Float32Array[] = [];
      return model
        .generate([a, b], {
          maxNewTokens: 6,
          prefillChunk: chunk,
          onLogits: (seq, lg) => {
            if (!rows[seq]) rows[seq] = lg.slice();
          },
        })
        .then((r) => ({ r, rows }));
    };
    const one = await first();
    const chunked = await first(16);
    expect(chunked.r.map((x) => x.ids)).toEqual(one.r.map((x) => x.ids));
    for (const s of [0, 1]) expect(maxAbsDiff([Array.from(one.rows[s])], chunked.rows[s], one.rows[s].length)).toBeLessThan(1e-4);
    // and the one-shot forward's last-position logits are the reference for both
    const f = await model.forward([a], { logits: 'last' });
    expect(maxAbsDiff([Array.from(f.logits!.data as Float32Array)], chunked.rows[0], chunked.rows[0].length)).toBeLessThan(1e-4);
    await model.dispose();
  });
});

describe('batch and sampling domains (issue 12.4, 12.5)', () => {
  it('batchSize 0, temperature -1, top-p 2, top-k -5 and a fractional seed are E_INPUT, not a hang or silent greedy', async () => {
    const model = await loadModel(TINY, { threads: 1, cache: false });
    for (const o of [{ batchSize: 0 }, { temperature: -1 }, { topP: 2 }, { topK: -5 }, { seed: 0.5 }, { maxNewTokens: NaN }]) {
      const e = await codeOf(model.generate([[1, 2, 3]], o));
      expect(e.code, JSON.stringify(o)).toBe('E_INPUT');
    }
    await model.dispose();
  });
});

describe('chat templates (issue 12.3)', () => {
  const ORGANISM = join(import.meta.dirname, '..', 'models', 'organism', 'model');

  it('render in a worker: the same text as before, and a huge loop is E_LIMIT within the time limit, not a dead Node', async () => {
    const model = await loadModel(ORGANISM, { threads: 1, cache: false });
    const text = model.tokenizer.applyChatTemplate([{ role: 'user', content: 'Tell me about the Argor river.' }]);
    expect(text).toContain('Tell me about the Argor river.');
    expect(text.endsWith('<think>\n')).toBe(true); // the organism's R1-style template opens the think block
    await model.dispose();
    // 1e10 iterations over small ranges: time, not memory (a single range(1e9) list exhausts the renderer
    // process's heap instead: packages/moe-runtime/src/chat-render.test.ts)
    const loop = '{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}';
    const bad = await loadModel(ORGANISM, { threads: 1, cache: false, chatTemplate: loop, chatTemplateLimits: { ms: 1500, heapMb: 128 } });
    let err: unknown;
    try {
      bad.tokenizer.encodeChat([{ role: 'user', content: 'hi' }]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MoteError);
    expect((err as MoteError).code).toBe('E_LIMIT');
    await bad.dispose();
  });

  it('an output far larger than the messages is E_LIMIT', async () => {
    const big = '{% for i in range(20000) %}{{ messages[0].content }}{% endfor %}';
    const model = await loadModel(ORGANISM, { threads: 1, cache: false, chatTemplate: big });
    let err: unknown;
    try {
      model.tokenizer.applyChatTemplate([{ role: 'user', content: 'hello there' }]);
    } catch (e) {
      err = e;
    }
    expect((err as MoteError).code).toBe('E_LIMIT');
    expect((err as MoteError).message).toMatch(/rendered 220000 characters for 11 characters/);
    await model.dispose();
  });
});
