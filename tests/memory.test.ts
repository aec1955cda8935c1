// Memory-aware loads: `dtype: 'auto'` picks f32, else int8, else int4 by the memory available; a load that
// cannot fit fails before allocating with E_MEMORY naming the model, dtype, bytes needed and bytes free —
// under $MOTE_MEMORY_LIMIT and under a real `ulimit -v` in a child process (exit 1, not a kill).

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { estimateMemory, loadModel, specFromDir } from '@mote/moe-runtime';

const ROOT = join(import.meta.dirname, '..');
const TINY = join(import.meta.dirname, 'fixtures', 'tiny-moe', 'qwen3_moe');

/** allenai/OLMoE-1B-7B-0924 config.json (the released shape; only the config is needed to be refused) */
const OLMOE = {
  model_type: 'olmoe',
  hidden_size: 2048,
  num_attention_heads: 16,
  num_key_value_heads: 16,
  num_experts: 64,
  num_experts_per_tok: 8,
  intermediate_size: 1024,
  vocab_size: 50304,
  num_hidden_layers: 16,
  norm_topk_prob: false,
  rope_theta: 10000,
  rms_norm_eps: 1e-5,
  max_position_embeddings: 4096,
  clip_qkv: null,
  tie_word_embeddings: false,
  bos_token_id: null,
  eos_token_id: 50279,
  pad_token_id: 1,
};

describe('memory-aware loads', () => {
  afterEach(() => {
    delete process.env.MOTE_MEMORY_LIMIT;
  });

  it('an explicit dtype that cannot fit is E_MEMORY before any weight is read', async () => {
    process.env.MOTE_MEMORY_LIMIT = '64M';
    await expect(loadModel(TINY, { threads: 1, cache: false, dtype: 'f32' })).rejects.toThrow(
      new RegExp(
        `E_MEMORY\\] qwen3_moe at ${TINY} needs [\\d.]+ GB \\(\\d+ bytes\\) at dtype f32 but only 0\\.07 GB \\(67108864 bytes\\) is free \\(MOTE_MEMORY_LIMIT\\)`,
      ),
    );
  });

  it('auto takes f32 when it fits, int8 when only int8 fits, int4 when only int4 fits, and says so', async () => {
    const spec = specFromDir(TINY);
    const need = (d: 'f32' | 'int8' | 'int4') => estimateMemory(spec, d).uncached;
    expect(need('f32')).toBeGreaterThan(need('int8'));
    expect(need('int8')).toBeGreaterThan(need('int4'));
    for (const [limit, want] of [
      [need('f32'), 'f32'],
      [need('f32') - 1, 'int8'],
      [need('int8') - 1, 'int4'],
    ] as const) {
      process.env.MOTE_MEMORY_LIMIT = String(limit);
      const log: string[] = [];
      const m = await loadModel(TINY, { threads: 1, cache: false, dtype: 'auto', log: (l) => log.push(l) });
      expect(m.cache!.dtype).toBe(want);
      expect(log).toHaveLength(1);
      expect(log[0]).toMatch(new RegExp(`^dtype auto -> ${want} \\(.*; [\\d.]+ GB available, MOTE_MEMORY_LIMIT\\)$`));
      await m.dispose();
    }
    process.env.MOTE_MEMORY_LIMIT = String(need('int4') - 1);
    await expect(loadModel(TINY, { threads: 1, cache: false, dtype: 'auto' })).rejects.toThrow(/E_MEMORY.*at dtype int4/);
  });

  it('under ulimit -v a full-depth OLMoE-1B-7B at int4 fails early with E_MEMORY, exit 1, not killed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mote-olmoe-'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify(OLMOE));
    // int4 OLMoE-1B-7B holds about 4.5 GB of weights: 3 GB of address space cannot take it
    const script =
      `import('@mote/moe-runtime').then((m) => m.loadModel(${JSON.stringify(dir)}, { dtype: 'int4', cache: false }))` +
      `.then(() => console.log('loaded'), (e) => { console.log(e.message); process.exit(1); })`;
    // --disable-wasm-trap-handler: V8 otherwise reserves ~10 GB of address space per wasm memory (the
    // tokenizer's undici), which no `ulimit -v` of a workstation allows
    const r = spawnSync('bash', ['-c', `ulimit -v 3000000 && exec node --disable-wasm-trap-handler -e "$0"`, script], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    });
    rmSync(dir, { recursive: true, force: true });
    expect(r.signal).toBeNull();
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(
      /^\[E_MEMORY\] olmoe at .* needs [\d.]+ GB \(\d+ bytes\) at dtype int4 but only [\d.]+ GB \(\d+ bytes\) is free \(ulimit -v\)/,
    );
  });
});
