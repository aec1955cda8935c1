// mote plan from config.json alone: DeepSeek-R1's published config (tests/fixtures/deepseek-r1/config.json, the
// values of deepseek-ai/DeepSeek-R1's config.json also used by inspect-r1.test.ts) is out of reach for a CPU box
// and gets vLLM / SGLang commands with routed experts; the organism runs here. Numbers checked by hand.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatPlan, planModel } from '@mote/moe-runtime';

const R1 = join(__dirname, 'fixtures', 'deepseek-r1', 'config.json');
const box = { memBytes: 128 * 2 ** 30, cores: 16, bandwidthGBs: 20, gflopsPerCore: 50 };

describe('mote plan', () => {
  it('DeepSeek-R1: the CPU path is out of reach; serve commands for an 8-GPU node', () => {
    const p = planModel({ model: R1, machine: box });
    // published: 671B total, 37B active (the 14B MTP module is not in num_hidden_layers)
    expect(p.params.total / 1e9).toBeGreaterThan(660);
    expect(p.params.total / 1e9).toBeLessThan(690);
    expect(p.params.active / 1e9).toBeGreaterThan(36);
    expect(p.params.active / 1e9).toBeLessThan(39);
    expect(p.moe).toEqual({ layers: 58, experts: 256, topK: 8 });
    expect(p.weightBytes).toBe(p.params.total * 4);
    expect(p.checkpointDtype).toBe('fp8');
    // MLA latent per token: 61 layers x (kv_lora_rank 512 + qk_rope_head_dim 64) x 2 bytes = 70,272
    expect(p.kvBytesPerToken).toBe(70272);
    // 2 FLOPs per active parameter + 4 * layers * heads * head_dim * context for attention
    expect(p.flopsPerToken).toBe(2 * p.params.active + 4 * 61 * 128 * 192 * 4096);
    expect(p.cpu.fits).toBe(false);
    expect(p.cpu.verdict).toMatch(/CPU path is out of reach/);
    expect(p.gpu.fitsOneNode).toBe(true);
    expect(p.commands!.vllm).toMatch(/vllm serve .* --tensor-parallel-size 8 --enable-expert-parallel --enable-return-routed-experts/);
    expect(p.commands!.sglang).toMatch(/sglang\.launch_server .* --tp 8 --ep-size 8 --enable-return-routed-experts/);
    expect(p.commands!.mote.join('\n')).toMatch(/mote ftri .*--server .*--engine vllm/);
    const text = formatPlan(p);
    expect(text).toContain('out of reach');
    console.log(text);
  });
  it('the organism runs on this machine; no serve commands', () => {
    const p = planModel({ model: join(__dirname, '..', 'models', 'organism', 'model'), machine: box });
    expect(p.cpu.fits).toBe(true);
    expect(p.commands).toBeNull();
    expect(p.kvBytesPerToken).toBe(2 * 4 * 2 * 32 * 2); // K+V x 4 layers x 2 kv heads x 32 dims x bf16
  });
});

describe('mote plan on the CLI (in-process)', () => {
  it('prints the plan with the serve commands; an inexact export is refused', async () => {
    const { main } = await import('../apps/cli/src/main.js');
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    let out = '';
    const w = process.stdout.write.bind(process.stdout);
    (process.stdout as unknown as { write: (s: string) => boolean }).write = (s: string) => ((out += s), true);
    try {
      await main(['node', 'mote', 'plan', '--model', R1]);
    } finally {
      (process.stdout as unknown as { write: typeof w }).write = w;
    }
    expect(out).toMatch(/--enable-return-routed-experts/);
    const dir = mkdtempSync(join(tmpdir(), 'plan-cli-'));
    writeFileSync(join(dir, 'p.json'), JSON.stringify({ name: 'd', interventions: [{ mode: 'drop', layer: 1, expert: 0 }] }));
    const { exportPolicy, loadPolicy } = await import('@mote/mote');
    expect(() =>
      exportPolicy({
        model: join(__dirname, 'fixtures', 'tiny-moe', 'deepseek_v3'),
        policy: loadPolicy(join(dir, 'p.json')),
        out: join(dir, 'o'),
      }),
    ).toThrow(/E_EXPORT/);
  });
});
