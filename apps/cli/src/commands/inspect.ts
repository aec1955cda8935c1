// mote inspect --model DIR: architecture, parameter counts, layers, experts, top-k (config.json only).
import type { Command } from 'commander';
import { inspectModel } from '@mote/moe-runtime';
import { example, modelOption } from '../options.js';

const fmt = (n: number) =>
  n >= 1e9 ? `${(n / 1e9).toFixed(1)}B` : n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}K` : `${n}`;

export function register(program: Command): void {
  const cmd = program
    .command('inspect')
    .description('architecture, parameter counts, layers, experts and top-k of a checkpoint (reads config.json only)')
    .option('--json', 'print JSON');
  modelOption(cmd);
  example(cmd, 'mote inspect -m models/organism/model');
  cmd.action((o: { model: string; json?: boolean }) => {
    const { spec, ...info } = inspectModel(o.model);
    if (o.json) {
      console.log(JSON.stringify(info, null, 2));
      return;
    }
    console.log(
      [
        `model        ${info.dir}`,
        `architecture ${info.modelType} (attention ${spec.attention.kind}, router ${spec.router.scoring}${spec.router.groups ? `, ${spec.router.groups.count} groups` : ''})`,
        `parameters   ${fmt(info.params.total)} total, ${fmt(info.params.active)} active per token, ${fmt(info.params.routedExperts)} in routed experts`,
        `layers       ${info.layerCount} (${info.moeLayers.length} MoE: ${info.moeLayers.length > 12 ? `${info.moeLayers[0]}..${info.moeLayers.at(-1)}` : info.moeLayers.join(', ')})`,
        `experts      ${info.expertCount} routed per MoE layer, top-${info.topK}, ${info.sharedExpertCount} shared; ${info.expertCount * info.moeLayers.length} routed in all`,
        `hidden       ${info.hiddenSize}, heads ${info.headCount}/${info.kvHeadCount} kv, head_dim ${info.headDim}, vocab ${info.vocabSize}`,
      ].join('\n'),
    );
  });
}
