// mote export: write a policy into a copy of a checkpoint through its routers' selection bias
// (@mote/mote exportPolicy). Argument parsing and printing only.
import type { Command } from 'commander';
import { example } from '../options.js';
import { exportPolicy, loadPolicy } from '@mote/mote';

interface Opts {
  model: string;
  policy: string;
  out: string;
  copy?: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command('export')
    .description('write a policy (exclude/force/bias, scope all) into a copy of a deepseek_v3 or gpt_oss checkpoint that any engine serves')
    .requiredOption('-m, --model <dir>', 'source checkpoint folder')
    .requiredOption('-p, --policy <file>', 'policy JSON')
    .requiredOption('-o, --out <dir>', 'new checkpoint folder')
    .option('--copy', 'copy unchanged shards instead of linking them');
  example(cmd, 'mote export -m DeepSeek-R1 -p top10-exclude.json -o DeepSeek-R1-top10-off');
  cmd.action((o: Opts) => {
    const r = exportPolicy({ model: o.model, policy: loadPolicy(o.policy), out: o.out, copy: o.copy });
    process.stdout.write(
      `wrote ${r.out}: ${r.changed.length} changed tensor(s) in mote-policy.safetensors, ${r.rewritten.length} shard(s) rewritten, ${r.linked.length} ${o.copy ? 'copied' : 'linked'}\n`,
    );
  });
}
