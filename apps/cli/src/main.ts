// The mote CLI: argument parsing and printing only; every command calls a public package function. The
// top-level handler turns every failure into one coded line on stderr (the stack only with --debug).
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { asMoteError, type MoteError } from '@mote/tensor-core';
import { register as inspect } from './commands/inspect.js';
import { register as logits } from './commands/logits.js';
import { register as generate } from './commands/generate.js';
import { register as ftri } from './commands/ftri.js';
import { register as policy } from './commands/policy.js';
import { register as evalCmd } from './commands/eval.js';
import { register as run } from './commands/run.js';
import { register as cache } from './commands/cache.js';
import { register as mtbench } from './commands/mtbench.js';
import { register as serve } from './commands/serve.js';
import { register as exportCmd } from './commands/export.js';
import { register as plan } from './commands/plan.js';

/** The CLI's version, from its package.json (one folder above src/ and dist/). */
export function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** Whether stack traces were asked for: --debug anywhere on the command line, or MOTE_DEBUG=1. */
export const debugWanted = (argv: string[]): boolean => argv.includes('--debug') || process.env.MOTE_DEBUG === '1';

/** The one line (plus the stack under --debug) printed for a failure, and its exit code: 2 user errors, 1 bugs. */
export function describeFailure(e: unknown, debug: boolean): { text: string; exitCode: number; error: MoteError } {
  const error = asMoteError(e);
  const stack = debug && e instanceof Error && e.stack ? `\n${e.stack}\n` : '';
  return { text: `mote: ${error.message}\n${stack}`, exitCode: error.code === 'E_INTERNAL' ? 1 : 2, error };
}

/** A closed pipe (`mote ... | head`) ends the command quietly, with success. */
const guarded = new WeakSet<NodeJS.WriteStream>();
export function quietOnEpipe(stream: NodeJS.WriteStream): void {
  if (guarded.has(stream)) return;
  guarded.add(stream);
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
}

export async function main(argv: string[]): Promise<void> {
  const debug = debugWanted(argv);
  quietOnEpipe(process.stdout);
  const program = new Command('mote')
    .description('Look inside Mixture-of-Experts models and tune their experts')
    .version(version(), '-V, --version')
    .option('--debug', 'print stack traces of errors')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ outputError: (s, write) => write(`mote: [E_INPUT] ${s.replace(/^error: /, '')}`) });
  for (const reg of [inspect, logits, generate, ftri, policy, evalCmd, run, cache, mtbench, serve, exportCmd, plan]) reg(program);
  const override = (c: Command): void => {
    c.exitOverride();
    c.commands.forEach(override);
  };
  override(program);
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // commander printed its message (help, version, usage errors) already
      if (e.exitCode !== 0) process.exit(2);
      return;
    }
    const f = describeFailure(e, debug);
    process.stderr.write(f.text);
    process.exit(f.exitCode);
  }
}
