// mote logits --model DIR --ids 1,2,3 [--policy FILE] [--greedy N] --json: logits, router data per MoE
// layer and optionally a greedy continuation (KV cache, policy applied throughout) as one JSON object.
import type { Command } from 'commander';
import { MoteError, toNested } from '@mote/tensor-core';
import { hookName, loadModel } from '@mote/moe-runtime';
import { loadPolicy } from '@mote/mote';
import {
  dtypeOption,
  example,
  intArg,
  loadDtype,
  modelOption,
  onePolicyArg,
  policyOption,
  threadsOption,
  type DtypeArg,
} from '../options.js';

export function parseIds(s: string): number[] {
  const ids = s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)
    .map(Number);
  if (ids.length === 0 || ids.some((x) => !Number.isInteger(x))) {
    throw new MoteError('E_INPUT', `--ids ${JSON.stringify(s)} must be a comma-separated list of integer token ids, e.g. --ids 0,42,7`, {
      field: '--ids',
    });
  }
  return ids;
}

export function register(program: Command): void {
  const cmd = program
    .command('logits')
    .description('logits and per-layer router logits / top-k for a token id sequence, as JSON')
    .requiredOption('--ids <ids>', 'comma-separated token ids')
    .option('--greedy <n>', 'also decode N greedy tokens with the KV cache', intArg('--greedy'))
    .option('--json', 'print JSON (the only output format)');
  for (const add of [modelOption, policyOption, threadsOption, dtypeOption]) add(cmd);
  example(cmd, 'mote logits -m models/organism/model --ids 1,42,7 --greedy 8 --json');
  cmd.action(async (o: { model: string; ids: string; policy?: string[]; greedy?: number; threads?: number; dtype: DtypeArg }) => {
    const ids = parseIds(o.ids);
    const file = onePolicyArg(o.policy, 'logits');
    const model = await loadModel(o.model, { threads: o.threads, dtype: loadDtype(o.dtype) });
    const policy = file ? loadPolicy(file, model.info) : null;
    const names = model.info.moeLayers.flatMap((l) =>
      ['router_logits', 'topk_ids', 'topk_weights'].map((p) => hookName(l, p as 'router_logits')),
    );
    const r = await model.runWithCache([ids], { names, policy });
    const T = ids.length;
    const V = model.info.vocabSize;
    const get = (l: number, p: string) => toNested(r.cache.get(hookName(l, p as 'router_logits'))!.tensor);
    const out: Record<string, unknown> = {
      logits: toNested({ dtype: 'float32', shape: [T, V], data: r.logits!.data }),
      layers: model.info.moeLayers.map((l) => ({
        layer: l,
        router_logits: get(l, 'router_logits'),
        topk_ids: get(l, 'topk_ids'),
        topk_weights: get(l, 'topk_weights'),
      })),
    };
    if (o.greedy !== undefined) {
      const [g] = await model.generate([ids], { maxNewTokens: o.greedy, stopTokens: [], policy });
      out.greedy = g.ids;
    }
    process.stdout.write(JSON.stringify(out) + '\n');
    await model.dispose();
  });
}
