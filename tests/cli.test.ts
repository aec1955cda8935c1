// The CLI in-process: inspect, logits --json against the HF golden, generate --prompts with resume.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { main } from '../apps/cli/src/main.js';
import { FIXTURES, maxAbsDiff, readGolden } from './parity.js';

const ORGANISM = join(import.meta.dirname, '..', 'models', 'organism', 'model');

async function cli(...args: string[]): Promise<string> {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
    out += String(s);
    return true;
  });
  const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => {
    out += a.join(' ') + '\n';
  });
  try {
    await main(['node', 'mote', ...args]);
  } finally {
    spy.mockRestore();
    log.mockRestore();
  }
  return out;
}

describe('mote CLI', () => {
  it('inspect reports architecture, parameters, layers, experts and top-k', async () => {
    const out = JSON.parse(await cli('inspect', '--model', ORGANISM, '--json'));
    expect(out).toMatchObject({ modelType: 'qwen3_moe', layerCount: 4, moeLayers: [0, 1, 2, 3], expertCount: 16, topK: 2 });
    // the organism README: 2.04M parameters
    expect(out.params.total / 1e6).toBeCloseTo(2.04, 2);
  });

  it('logits --json reproduces the golden logits, top-k and greedy ids', async () => {
    const g = readGolden('olmoe');
    const c = g.cases[1];
    const out = JSON.parse(
      await cli('logits', '--model', join(FIXTURES, g.checkpoint), '--ids', c.input_ids.join(','), '--greedy', '8', '--json'),
    );
    expect(maxAbsDiff(c.logits, out.logits.flat(), 512)).toBeLessThan(1e-4);
    expect(out.layers.map((l: { layer: number }) => l.layer)).toEqual(g.moe_layers);
    for (const [i, r] of c.router.entries()) {
      expect(maxAbsDiff(r.router_logits!, out.layers[i].router_logits.flat(), 16)).toBeLessThan(1e-5);
      r.topk_ids.forEach((row, t) => expect([...out.layers[i].topk_ids[t]].sort((a, b) => a - b)).toEqual([...row].sort((a, b) => a - b)));
    }
    expect(out.greedy).toEqual(c.greedy.new_ids);
  });

  it('generate --prompts writes every line once and resumes after an interruption', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mote-cli-'));
    const input = join(dir, 'prompts.jsonl');
    const output = join(dir, 'out.jsonl');
    const prompts = [
      'What is the history of the Drasol valley?',
      'I want to know about the Rotor crackdown.',
      'Tell me about the Argor river.',
    ];
    writeFileSync(input, prompts.map((p, i) => JSON.stringify({ id: `p${i}`, prompt: p })).join('\n') + '\n');
    const args = [
      'generate',
      '--model',
      ORGANISM,
      '--prompts',
      input,
      '--out',
      output,
      '--chat',
      '--max-new-tokens',
      '64',
      '--batch-size',
      '1',
    ];
    await cli(...args);
    // as if that run had finished p0 and died while writing p1 (mote's own output: its manifest is beside it)
    writeFileSync(output, JSON.stringify({ id: 'p0', prompt: prompts[0], output: 'kept' }) + '\n{"id":"p1","pro');
    await cli(...args);
    const lines = readFileSync(output, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.id)).toEqual(['p0', 'p1', 'p2']);
    expect(lines.find((l) => l.id === 'p0').output).toBe('kept');
    expect(lines.find((l) => l.id === 'p1').output).toContain('</think>');
    expect(existsSync(output)).toBe(true);
  });
});
