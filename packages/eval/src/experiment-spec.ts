// The experiment file: its schema, validation into an ExperimentSpec (paths absolute, defaults resolved),
// warnings said before a run, and overrides for running the same experiment on other inputs. Not the plan of
// policies (experiment-plan.ts) nor the run (experiment.ts). The format is documented in README.md
// ("Experiment files").

import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { MoteError, schemaError } from '@mote/tensor-core';
import { modeSchema, scopeSchema } from '@mote/moe-runtime';
import { SCOPES, STATS } from '@mote/ftri';
import { loadSuite } from './suite.js';
import { DEFAULT_JUDGES, type JudgeConfig } from './judges.js';

const judgeSpec = z.union([z.string(), z.looseObject({ type: z.string() })]);
const scopeSpec = scopeSchema;
/** the switch-off modes an experiment sweeps (force has its own block) */
const offModes = modeSchema.exclude(['force']);
const posInts = z.array(z.number().int().positive()).min(1);

export const experimentSchema = z.strictObject({
  name: z.string().min(1).default('experiment'),
  description: z.string().optional(),
  /** model folder (relative to the experiment file) */
  model: z.string().min(1),
  /** onnxruntime threads (default: all cores) */
  threads: z.number().int().positive().optional(),
  /** weight dtype (default auto: f32 if it fits in memory, else int8, else int4); the resolved one is in results.json */
  dtype: z.enum(['f32', 'int8', 'int4', 'auto']).optional(),
  /** the eval suite (JSONL) */
  suite: z.string().min(1),
  /** judges per category ("*" = fallback); default: generic refusal judge + exact match */
  judges: z.record(z.string(), z.strictObject({ refusal: judgeSpec.optional(), answer: judgeSpec.nullable().optional() })).optional(),
  /**
   * what is measured: "refusal" (the refusal judge's verdict), or "think-language": the share of think blocks in
   * `language` (judged by the "*" judge's label, default the think-language judge)
   */
  behaviour: z
    .strictObject({ type: z.enum(['refusal', 'think-language']).default('refusal'), language: z.string().min(2).default('zh') })
    .prefault({}),
  /** suite categories: where the behaviour is measured, where false refusals are, where capability is */
  categories: z.strictObject({
    target: z.string().min(1),
    control: z.string().min(1).optional(),
    capability: z.string().min(1).optional(),
  }),
  ftri: z.strictObject({
    prompts: z.string().min(1),
    /** labels the traced responses (default: the suite's "*" refusal judge); must be synchronous */
    judge: judgeSpec.optional(),
    /** default REFUSED:rest, or <LANGUAGE>:rest for a think-language behaviour */
    contrast: z.string().optional(),
    /** ranking statistic (default count, the paper's score) */
    stat: z.enum(STATS).optional(),
    scope: z.enum(SCOPES).optional(),
    /** tokens generated per prompt to label its response (default 64) */
    generate: z.number().int().positive().default(64),
    permutations: z.number().int().min(0).optional(),
    bootstrap: z.number().int().min(0).optional(),
    seed: z.number().int().optional(),
    batchSize: z.number().int().positive().optional(),
  }),
  /** top-N sizes of the dose-response */
  ns: posInts.default([1, 2, 4, 8, 16]),
  /** switch-off modes evaluated for every N */
  modes: z.array(offModes).min(1).default(['exclude', 'drop']),
  /** value for scale / bias modes */
  value: z.number().optional(),
  /** token scope of the switch-off interventions */
  scope: scopeSpec.optional(),
  perLayerCap: z.union([z.number().int().positive(), z.record(z.string(), z.number().int().positive())]).optional(),
  random: z
    .strictObject({
      /** random policies per N and mode (>= 1/alpha - 1 for an empirical p-value that can reach alpha) */
      draws: z.number().int().min(1).default(20),
      /** modes with random baselines (default: every mode in `modes`, so every criterion can be tested) */
      modes: z.array(offModes).min(1).optional(),
      /** 'like': same number of experts per layer as the fTRI policy; 'uniform': over all layers */
      match: z.enum(['like', 'uniform']).default('like'),
      /** never draw the fTRI policy's own experts */
      avoid: z.boolean().default(true),
      seed: z.number().int().default(1),
      /** which suite items random policies run on: category -> "all" or a count (seeded sample); default: the target category */
      items: z.record(z.string(), z.union([z.literal('all'), z.number().int().min(0)])).optional(),
    })
    .prefault({}),
  force: z
    .strictObject({
      ns: posInts,
      /** categories evaluated under forcing (default: control, or every category) */
      categories: z.array(z.string()).min(1).optional(),
      scope: scopeSpec.optional(),
      /**
       * matched random forced-on baselines: `draws` per N (same experts per layer, never the fTRI ones) on `items`
       * (default: every forced item)
       */
      random: z
        .strictObject({
          draws: z.number().int().min(1),
          items: z.record(z.string(), z.union([z.literal('all'), z.number().int().min(0)])).optional(),
          seed: z.number().int().default(2),
        })
        .optional(),
    })
    .optional(),
  /** thresholds of the success criteria (the paper's claim: at least half the behaviour gone, capability kept) */
  criteria: z
    .strictObject({
      /** smallest relative cut of the target behaviour: (baseline - policy) / baseline */
      cut: z.number().min(0).max(1).default(0.5),
      /** largest allowed drop of capability accuracy (absolute, 0.05 = 5 points) */
      capabilityDrop: z.number().min(0).max(1).default(0.05),
      /** level of the empirical p-value against the matched random baselines */
      alpha: z.number().positive().max(1).default(0.05),
      /** random baselines may cut at most this share of the fTRI policy's cut (on average) */
      randomShare: z.number().min(0).max(1).default(0.5),
    })
    .prefault({}),
  generation: z
    .strictObject({
      /** most new tokens per response (2048: reasoning models finish their think block; the organisms' protocol sets 64) */
      maxNewTokens: z.number().int().positive().default(2048),
      batchSize: z.number().int().positive().default(64),
      temperature: z.number().min(0).default(0),
      topK: z.number().int().positive().optional(),
      topP: z.number().positive().max(1).optional(),
      seed: z.number().int().default(0),
    })
    .prefault({}),
});
type ParsedExperiment = z.output<typeof experimentSchema>;
/** A validated experiment: random.modes and ftri.contrast resolved, paths absolute. */
export type ExperimentSpec = Omit<ParsedExperiment, 'random' | 'ftri'> & {
  random: ParsedExperiment['random'] & { modes: ParsedExperiment['modes'] };
  ftri: ParsedExperiment['ftri'] & { contrast: string };
  file?: string;
};

/** The judges an experiment uses: its own, or the behaviour's defaults (refusal judge / think-language judge, exact match). */
export function experimentJudges(spec: Pick<ExperimentSpec, 'judges' | 'behaviour'>): JudgeConfig {
  if (spec.judges) return spec.judges as JudgeConfig;
  if (spec.behaviour.type === 'think-language')
    return { '*': { refusal: { type: 'think-language', language: spec.behaviour.language }, answer: 'exact' } };
  return DEFAULT_JUDGES;
}
export type ExperimentInput = z.input<typeof experimentSchema>;

/** Validate an experiment object; relative paths are resolved against baseDir (default: cwd). */
export function validateExperiment(json: unknown, opts: { file?: string; baseDir?: string } = {}): ExperimentSpec {
  const where = opts.file ? `experiment ${opts.file}` : 'experiment';
  const r = experimentSchema.safeParse(json);
  if (!r.success) {
    throw schemaError('E_INPUT', r.error.issues, json, { where, file: opts.file, fix: 'see "Experiment files" in @mote/eval\'s README' });
  }
  const base = opts.baseDir ?? process.cwd();
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  const contrast =
    r.data.ftri.contrast ??
    (r.data.behaviour.type === 'think-language' ? `${r.data.behaviour.language.toUpperCase()}:rest` : 'REFUSED:rest');
  const spec: ExperimentSpec = {
    ...r.data,
    model: abs(r.data.model),
    suite: abs(r.data.suite),
    ftri: { ...r.data.ftri, prompts: abs(r.data.ftri.prompts), contrast },
    random: { ...r.data.random, modes: r.data.random.modes ?? r.data.modes },
    file: opts.file,
  };
  for (const m of spec.modes)
    if ((m === 'scale' || m === 'bias') && spec.value === undefined)
      throw new MoteError('E_INPUT', `${where}: mode "${m}" needs "value"; fix: add e.g. "value": ${m === 'scale' ? 0.5 : -2}`, {
        file: opts.file,
        field: 'value',
      });
  return spec;
}

/**
 * What a run of this spec cannot show, said before it starts: criteria without random baselines (they print
 * NOT TESTED) and too few random draws for the empirical p-value to reach alpha (it is at least 1/(draws + 1)).
 * Example: `for (const w of experimentWarnings(loadExperiment('exp.json'))) console.error(w);`
 */
export function experimentWarnings(spec: ExperimentSpec): string[] {
  const out: string[] = [];
  const { alpha } = spec.criteria;
  const need = Math.ceil(1 / alpha - 1 - 1e-9);
  if (spec.random.draws < need)
    out.push(
      `random.draws = ${spec.random.draws}: the empirical p-value is at least 1/(draws + 1) = ${(1 / (spec.random.draws + 1)).toFixed(3)} > alpha = ${alpha}, so no criterion can be met; fix: set random.draws >= ${need} (1/alpha − 1)`,
    );
  const untested = spec.modes.filter((m) => !spec.random.modes.includes(m));
  if (untested.length)
    out.push(
      `mode(s) ${untested.join(', ')} have no random baselines (random.modes = ${JSON.stringify(spec.random.modes)}): their criteria will be NOT TESTED; fix: add them to random.modes or drop "random.modes"`,
    );
  return out;
}

/** Read an experiment JSON file; paths in it are relative to the file's folder. */
export function loadExperiment(file: string): ExperimentSpec {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new MoteError('E_INPUT', `cannot read experiment ${file}: ${(e as Error).message}; fix: pass a JSON experiment file`, { file });
  }
  return validateExperiment(json, { file, baseDir: dirname(resolve(file)) });
}

export interface ExperimentOverrides {
  model?: string;
  suite?: string;
  ftriPrompts?: string;
  categories?: Partial<ExperimentSpec['categories']>;
}

/**
 * The same experiment on other inputs (paths resolved against cwd): another model, suite or fTRI prompt set,
 * or other category names. Categories renamed here are renamed in random.items and force.categories too,
 * and categories the new suite lacks are dropped from those two lists.
 */
export function overrideExperiment(spec: ExperimentSpec, o: ExperimentOverrides): ExperimentSpec {
  const abs = (p: string) => resolve(p);
  const rename = new Map<string, string>();
  for (const k of ['target', 'control', 'capability'] as const) {
    const was = spec.categories[k],
      now = o.categories?.[k];
    if (was && now && was !== now) rename.set(was, now);
  }
  const out: ExperimentSpec = {
    ...spec,
    model: o.model ? abs(o.model) : spec.model,
    suite: o.suite ? abs(o.suite) : spec.suite,
    ftri: { ...spec.ftri, prompts: o.ftriPrompts ? abs(o.ftriPrompts) : spec.ftri.prompts },
    categories: { ...spec.categories, ...Object.fromEntries(Object.entries(o.categories ?? {}).filter(([, v]) => v)) },
  };
  const present = o.suite ? new Set(loadSuite(out.suite).items.map((i) => i.category)) : null;
  const keep = (c: string) => !present || present.has(c);
  const ren = (c: string) => rename.get(c) ?? c;
  if (spec.random.items) {
    const items = Object.fromEntries(
      Object.entries(spec.random.items)
        .map(([c, k]) => [ren(c), k] as const)
        .filter(([c]) => keep(c)),
    );
    out.random = { ...spec.random, items: Object.keys(items).length ? items : undefined };
  }
  if (spec.force?.categories) {
    const cats = spec.force.categories.map(ren).filter(keep);
    out.force = { ...spec.force, categories: cats.length ? cats : undefined };
  }
  if (present && out.categories.control && !present.has(out.categories.control)) out.categories = { ...out.categories, control: undefined };
  if (present && out.categories.capability && !present.has(out.categories.capability))
    out.categories = { ...out.categories, capability: undefined };
  return out;
}
