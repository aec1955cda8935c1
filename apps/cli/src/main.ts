// The mote CLI: argument parsing and printing only; every command calls a public package function.
import { Command } from 'commander';
import { isMoteError } from '@mote/tensor-core';
import { register as inspect } from './commands/inspect.js';
import { register as logits } from './commands/logits.js';
import { register as generate } from './commands/generate.js';
import { register as ftri } from './commands/ftri.js';
import { register as policy } from './commands/policy.js';
import { register as evalCmd } from './commands/eval.js';
import { register as run } from './commands/run.js';
import { register as serve } from './commands/serve.js';
import { register as exportCmd } from './commands/export.js';
import { register as plan } from './commands/plan.js';

export async function main(argv: string[]): Promise<void> {
  const program = new Command('mote').description('Look inside Mixture-of-Experts models and tune their experts').showHelpAfterError();
  for (const reg of [inspect, logits, generate, ftri, policy, evalCmd, run, serve, exportCmd, plan]) reg(program);
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (isMoteError(e)) {
      process.stderr.write(`mote: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
}
