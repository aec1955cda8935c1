// mote logits --model DIR --ids 1,2,3 [--policy FILE] [--greedy N] --json: logits, router data per MoE
// layer and optionally a greedy continuation (KV cache, policy applied throughout) as one JSON object.
import type { Command } from 'commander';
import { MoteError, toNested } from '@mote/tensor-core';
import { hookName, loadModel } from '@mote/moe-runtime';
import { loadPolicy } from '@mote/mote';

export function parseIds(s: string): number[] {
  const ids = s.split(',').map((x) => x.trim()).filter(Boolean).map(Number);
  if (ids.length === 0 || ids.some((x) => !Number.isInteger(x))) {
    throw new MoteError('E_INPUT', `--ids ${JSON.stringify(s)} must be a comma-separated list of integer token ids, e.g. --ids 0,42,7`, { field: '--ids' });
  }
  return ids;
}

export function register(program: Command): void {
  program
    .command('logits')
    .description('logits and per-layer router logits / top-k for a token id sequence, as JSON')
    .requiredOption('--model <dir>', 'Hugging Face checkpoint folder')
    .requiredOption('--ids <ids>', 'comma-separated token ids')
    .option('--policy <file>', 'intervention policy JSON')
    .option('--greedy <n>', 'also decode N greedy tokens with the KV cache', (v) => Number(v))
    .option('--threads <n>', 'onnxruntime threads', (v) => Number(v))
    .option('--dtype <dtype>', 'weight dtype: f32 (default, exact), int8, int4 (cached after the first load)')
    .option('--json', 'print JSON (the only output format)')
    .action(async (o: { model: string; ids: string; policy?: string; greedy?: number; threads?: number; dtype?: 'f32' | 'int8' | 'int4' }) => {
      const ids = parseIds(o.ids);
      const model = await loadModel(o.model, { threads: o.threads, dtype: o.dtype });
      const policy = o.policy ? loadPolicy(o.policy, model.info) : null;
      const names = model.info.moeLayers.flatMap((l) => ['router_logits', 'topk_ids', 'topk_weights'].map((p) => hookName(l, p as 'router_logits')));
      const r = await model.runWithCache([ids], { names, policy });
      const T = ids.length;
      const V = model.info.vocabSize;
      const get = (l: number, p: string) => toNested(r.cache.get(hookName(l, p as 'router_logits'))!.tensor);
      const out: Record<string, unknown> = {
        logits: toNested({ dtype: 'float32', shape: [T, V], data: r.logits!.data }),
        layers: model.info.moeLayers.map((l) => ({ layer: l, router_logits: get(l, 'router_logits'), topk_ids: get(l, 'topk_ids'), topk_weights: get(l, 'topk_weights') })),
      };
      if (o.greedy !== undefined) {
        if (!Number.isInteger(o.greedy) || o.greedy < 0) throw new MoteError('E_INPUT', `--greedy ${o.greedy} must be a non-negative integer`, { field: '--greedy' });
        const [g] = await model.generate([ids], { maxNewTokens: o.greedy, stopTokens: [], policy });
        out.greedy = g.ids;
      }
      process.stdout.write(JSON.stringify(out) + '\n');
      await model.dispose();
    });
}
