// The CLI's one vocabulary: every option shared by several commands (same name, short flag, default and
// help on each) and every number parser (range, integer-ness, finiteness; the bad value named). Not the commands.

import { availableParallelism } from 'node:os';
import type { Command } from 'commander';
import { MoteError } from '@mote/tensor-core';
import { policyFiles } from '@mote/mote';

export const DEFAULTS = { maxNewTokens: 2048, batchSize: 16, seed: 0, dtype: 'auto' } as const;
export const DTYPES = ['f32', 'int8', 'int4', 'auto'] as const;
export type DtypeArg = (typeof DTYPES)[number];

interface Range {
  min?: number;
  max?: number;
  /** min is excluded (e.g. top-p > 0) */
  above?: number;
}

const bad = (flag: string, v: string, want: string, eg: string): never => {
  throw new MoteError('E_INPUT', `${flag} must be ${want}, got ${JSON.stringify(v)}; fix: e.g. ${flag} ${eg}`, { field: flag });
};

/** Parser of a whole number in [min, max] (a safe integer): `.option('-n, --n <n>', '...', intArg('--n', { min: 1 }))`. */
export const intArg =
  (flag: string, r: Range = {}) =>
  (v: string): number => {
    const { min = 0, max = Number.MAX_SAFE_INTEGER } = r;
    const n = v.trim() === '' ? NaN : Number(v);
    if (!Number.isSafeInteger(n) || n < min || n > max)
      bad(flag, v, `a whole number ${max < Number.MAX_SAFE_INTEGER ? `in ${min}..${max}` : `>= ${min}`}`, String(Math.max(min, 1)));
    return n;
  };

/** Parser of a finite number in its range: `numArg('--top-p', { above: 0, max: 1 })`. */
export const numArg =
  (flag: string, r: Range = {}) =>
  (v: string): number => {
    const n = v.trim() === '' ? NaN : Number(v);
    const parts = [
      r.above !== undefined ? `> ${r.above}` : '',
      r.min !== undefined ? `>= ${r.min}` : '',
      r.max !== undefined ? `<= ${r.max}` : '',
    ].filter(Boolean);
    const want = `a finite number${parts.length ? ` ${parts.join(' and ')}` : ''}`;
    const ok =
      Number.isFinite(n) &&
      (r.above === undefined || n > r.above) &&
      (r.min === undefined || n >= r.min) &&
      (r.max === undefined || n <= r.max);
    if (!ok)
      bad(
        flag,
        v,
        want,
        String(r.max !== undefined ? Math.min(r.max, 1) : Math.max(r.min ?? 0, r.above !== undefined ? r.above + 1 : 0, 0.5)),
      );
    return n;
  };

/** --threads: a whole number >= 1, capped at the machine's cores (more only oversubscribes them). */
export const threadsArg = (v: string): number => {
  const n = intArg('--threads', { min: 1 })(v);
  const cores = availableParallelism();
  if (n <= cores) return n;
  process.stderr.write(`mote: --threads ${n} is more than the ${cores} cores of this machine; using ${cores}\n`);
  return cores;
};

/** --dtype: f32 | int8 | int4 | auto. */
export const dtypeArg = (v: string): DtypeArg => {
  if (!(DTYPES as readonly string[]).includes(v)) bad('--dtype', v, `one of ${DTYPES.join(', ')}`, 'int8');
  return v as DtypeArg;
};

/** The LoadOptions dtype of a --dtype value ('auto' lets loadModel choose). */
export const loadDtype = (d: DtypeArg | undefined): 'f32' | 'int8' | 'int4' | undefined =>
  d === 'auto' || d === undefined ? undefined : d;

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

// ---- the shared options: each adds one option to a command, the same everywhere -------------------------

export const modelOption = (c: Command, help = 'Hugging Face checkpoint folder'): Command => c.requiredOption('-m, --model <dir>', help);
export const optionalModelOption = (c: Command, help: string): Command => c.option('-m, --model <dir>', help);
export const outOption = (c: Command, help: string, fallback?: string): Command =>
  fallback === undefined ? c.requiredOption('-o, --out <path>', help) : c.option('-o, --out <path>', help, fallback);
export const optionalOutOption = (c: Command, help: string): Command => c.option('-o, --out <path>', help);
export const policyOption = (
  c: Command,
  help = 'intervention policy: a JSON file, a folder of them, or a comma list (repeatable)',
): Command => c.option('-p, --policy <files>', help, collect);
export const maxNewTokensOption = (c: Command, help = 'most new tokens per answer (eos counts)'): Command =>
  c.option('-n, --max-new-tokens <n>', help, intArg('--max-new-tokens', { min: 0 }), DEFAULTS.maxNewTokens);
export const batchSizeOption = (c: Command, help = 'sequences run together per model call'): Command =>
  c.option('-b, --batch-size <n>', help, intArg('--batch-size', { min: 1 }), DEFAULTS.batchSize);
export const dtypeOption = (c: Command): Command =>
  c.option(
    '--dtype <dtype>',
    `weight dtype: ${DTYPES.join(' | ')} (auto: the loader chooses; int8/int4 are cached after the first load)`,
    dtypeArg,
    DEFAULTS.dtype,
  );
export const threadsOption = (c: Command): Command =>
  c.option('-t, --threads <n>', 'onnxruntime threads (default and cap: the cores)', threadsArg);
export const seedOption = (c: Command, help = 'random seed'): Command =>
  c.option('-s, --seed <n>', help, intArg('--seed', { max: 2 ** 32 - 1 }), DEFAULTS.seed);
export const samplingOptions = (c: Command): Command =>
  c
    .option('--temperature <t>', 'sampling temperature (0 = greedy)', numArg('--temperature', { min: 0 }))
    .option('--top-k <k>', 'sample from the k most likely tokens', intArg('--top-k', { min: 1 }))
    .option('--top-p <p>', 'nucleus sampling mass, in (0, 1]', numArg('--top-p', { above: 0, max: 1 }));

/** --force-new: discard what an earlier run with other settings left in --out and start over (commands that write a run). */
export const forceNewOption = (c: Command): Command =>
  c.option('--force-new', 'discard what an earlier run with other settings left in --out and start over');

/** An "Example:" block at the end of the command's help. */
export const example = (c: Command, ...lines: string[]): Command =>
  c.addHelpText('after', `\nExample:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`);

/** The policy files named by repeated --policy values (files, folders, comma lists), in order. */
export const policyArgs = (v: string[] | undefined): string[] => (v?.length ? policyFiles(v) : []);

/** The one policy file of a command that applies a single policy (generate, logits), or undefined. */
export function onePolicyArg(v: string[] | undefined, command: string): string | undefined {
  const files = policyArgs(v);
  if (files.length > 1)
    throw new MoteError(
      'E_INPUT',
      `${command} applies one policy, but --policy names ${files.length} (${files.join(', ')}); fix: give one file`,
      { field: '--policy' },
    );
  return files[0];
}
