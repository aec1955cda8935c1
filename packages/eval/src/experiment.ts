// The MoTE experiment end to end: fTRI ranking -> policies (top-N off for several N and modes, matched
// random baselines, top-N forced on) -> evals -> analysis -> one report. Each stage writes its outputs
// under outDir and is skipped when they are present and complete, so a killed run resumes.
// The experiment file format is documented in README.md ("Experiment files").

import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { hashFile, hashJson, modelHash, openRunFolder, readRunManifest, writeAtomic } from '@mote/io';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { MoteError, schemaError } from '@mote/tensor-core';
import { loadModel, modeSchema, scopeSchema, type MoeModel, type Policy } from '@mote/moe-runtime';
import { loadPromptSet, readRanking, runFtri, SCOPES, STATS, type RankedExpert } from '@mote/ftri';
import { topNPolicy, randomPolicies, writePolicy } from '@mote/mote';
import { createRng, shuffle } from '@mote/stats';
import { loadSuite, type Suite } from './suite.js';
import { labelJudge, resolveJudges, DEFAULT_JUDGES, type JudgeConfig, type JudgeSpec } from './judges.js';
import { runEval, type PolicyRun, type ResponseRecord } from './runner.js';
import { analyzeExperiment, type ExperimentAnalysis } from './analysis.js';
import { writeExperimentReport } from './experiment-report.js';
import type { WrittenReport } from './report.js';

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
      /** matched random forced-on baselines: `draws` per N (same experts per layer, never the fTRI ones) on `items` (default: every forced item) */
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

export interface ExperimentProgress {
  stage: 'load' | 'ftri' | 'policies' | 'eval' | 'report';
  done: number;
  total: number;
  detail?: string;
}
export interface RunExperimentOptions {
  outDir: string;
  /** each of experimentWarnings(spec), before anything runs (default: written to stderr) */
  onWarning?: (message: string) => void;
  onProgress?: (p: ExperimentProgress) => void;
  /** an already loaded model (otherwise spec.model is loaded) */
  model?: MoeModel;
  threads?: number;
  /** discard what an earlier run with other settings left in outDir and start over */
  forceNew?: boolean;
  /** a ranking to use instead of running fTRI (one computed elsewhere; written to ftri/ranking.json) */
  ranking?: RankedExpert[];
  /** overrides the experiment's dtype */
  dtype?: 'f32' | 'int8' | 'int4' | 'auto';
}
export interface ExperimentResult {
  outDir: string;
  analysis: ExperimentAnalysis;
  report: WrittenReport;
  timings: Record<string, number>;
}

/** The runs of the experiment: which policy runs on which items. */
export interface ExperimentPlan {
  ranked: { name: string; n: number; mode: string; policy: Policy }[];
  random: { name: string; n: number; mode: string; draw: number; like: string; policy: Policy }[];
  force: { name: string; n: number; policy: Policy }[];
  /** matched random forced-on policies (force.random) and the items they run on */
  forceRandom: { name: string; n: number; draw: number; like: string; policy: Policy }[];
  forceRandomIds: string[];
  randomIds: string[];
  forceCategories: string[];
  runs: PolicyRun[];
}

/** Items a random policy runs on: per category all or a seeded sample of k (kept in suite order). */
export function sampleIds(suite: Suite, items: Record<string, 'all' | number>, seed: number): string[] {
  const keep = new Set<string>();
  for (const [cat, k] of Object.entries(items)) {
    const ids = suite.items.filter((i) => i.category === cat).map((i) => i.id);
    if (!ids.length)
      throw new MoteError(
        'E_INPUT',
        `experiment: random.items names category "${cat}" which the suite ${suite.name} does not have; fix: use one of ${[...new Set(suite.items.map((i) => i.category))].join(', ')}`,
        { field: 'random.items' },
      );
    const pick = k === 'all' || k >= ids.length ? ids : shuffle([...ids], createRng(seed + hashCat(cat))).slice(0, k);
    for (const id of pick) keep.add(id);
  }
  return suite.items.filter((i) => keep.has(i.id)).map((i) => i.id);
}
function hashCat(s: string): number {
  let h = 7;
  for (const c of s) h = (h * 31 + c.charCodeAt(0)) | 0;
  return h;
}

/** Build every policy of the experiment from a ranking (pure; no files). */
export function planExperiment(
  spec: ExperimentSpec,
  ranking: RankedExpert[],
  model: { info: MoeModel['info'] },
  suite: Suite,
): ExperimentPlan {
  const info = model.info;
  const cap =
    spec.perLayerCap === undefined
      ? undefined
      : typeof spec.perLayerCap === 'number'
        ? spec.perLayerCap
        : Object.fromEntries(Object.entries(spec.perLayerCap).map(([k, v]) => [Number(k), v]));
  const topOf = (n: number, mode: string) =>
    topNPolicy(ranking, {
      n,
      mode: mode as Policy['interventions'][number]['mode'],
      scope: spec.scope,
      value: spec.value,
      perLayerCap: cap,
      info,
      name: `top${n}-${mode}`,
    });
  const ranked = spec.modes.flatMap((mode) => spec.ns.map((n) => ({ name: `top${n}-${mode}`, n, mode, policy: topOf(n, mode) })));
  const random = spec.random.modes.flatMap((mode, mi) =>
    spec.ns.flatMap((n) => {
      const like = ranked.find((r) => r.n === n && r.mode === mode)?.policy ?? topOf(n, mode);
      const ps = randomPolicies({
        info,
        ...(spec.random.match === 'like' ? { like } : { n, mode: mode as 'exclude', value: spec.value, scope: spec.scope }),
        avoid: spec.random.avoid ? like : undefined,
        seed: spec.random.seed + 1000 * n + 100000 * mi,
        draws: spec.random.draws,
        prefix: `random${n}-${mode}`,
      });
      return ps.map((policy, draw) => ({ name: policy.name!, n, mode, draw, like: like.name!, policy }));
    }),
  );
  const force = (spec.force?.ns ?? []).map((n) => {
    const policy = topNPolicy(ranking, { n, mode: 'force', scope: spec.force?.scope, info, name: `top${n}-force` });
    return { name: policy.name!, n, policy };
  });
  const cats = checkCategories(spec, suite);
  const randomIds = sampleIds(suite, spec.random.items ?? { [spec.categories.target]: 'all' }, spec.random.seed);
  const forceCategories = spec.force?.categories ?? (spec.categories.control ? [spec.categories.control] : cats);
  const fr = spec.force?.random;
  const forceRandom = fr
    ? force.flatMap((f) =>
        randomPolicies({
          info,
          like: f.policy,
          avoid: f.policy,
          seed: fr.seed + 1000 * f.n,
          draws: fr.draws,
          prefix: `random${f.n}-force`,
        }).map((policy, draw) => ({
          name: policy.name!,
          n: f.n,
          draw,
          like: f.name,
          policy,
        })),
      )
    : [];
  const forceRandomIds = fr
    ? sampleIds(suite, fr.items ?? Object.fromEntries(forceCategories.map((c) => [c, 'all' as const])), fr.seed)
    : [];
  const runs: PolicyRun[] = [
    ...ranked.map((r) => ({ name: r.name, policy: r.policy })),
    ...force.map((f) => ({ name: f.name, policy: f.policy, categories: forceCategories })),
    ...random.map((r) => ({ name: r.name, policy: r.policy, ids: randomIds })),
    ...forceRandom.map((r) => ({ name: r.name, policy: r.policy, ids: forceRandomIds })),
  ];
  return { ranked, random, force, forceRandom, forceRandomIds, randomIds, forceCategories, runs };
}

/** Every category the spec names must exist in the suite; returns the suite's categories. */
export function checkCategories(spec: ExperimentSpec, suite: Suite): string[] {
  const cats = [...new Set(suite.items.map((i) => i.category))];
  const named: [string, string | undefined][] = [
    ...Object.entries(spec.categories).map(([k, c]) => [`categories.${k}`, c] as [string, string | undefined]),
    ...Object.keys(spec.random.items ?? {}).map((c) => ['random.items', c] as [string, string]),
    ...(spec.force?.categories ?? []).map((c) => ['force.categories', c] as [string, string]),
    ...Object.keys(spec.force?.random?.items ?? {}).map((c) => ['force.random.items', c] as [string, string]),
  ];
  for (const [field, c] of named)
    if (c && !cats.includes(c))
      throw new MoteError(
        'E_INPUT',
        `${spec.file ?? 'experiment'}: ${field} names "${c}", which is not a category of the suite ${suite.file ?? suite.name} (${cats.join(', ')}); fix: name one of those`,
        { file: spec.file, field },
      );
  return cats;
}

function now(): number {
  return performance.now() / 1000;
}

/** Run (or resume) the whole experiment into outDir. */
export async function runExperiment(spec: ExperimentSpec, opts: RunExperimentOptions): Promise<ExperimentResult> {
  const { outDir } = opts;
  const progress = opts.onProgress ?? (() => {});
  const timings: Record<string, number> = {};
  const t0 = now();
  for (const w of experimentWarnings(spec)) (opts.onWarning ?? ((m: string) => process.stderr.write(`warning: ${m}\n`)))(w);
  const { file: _f, ...bare } = spec;
  const hashOf = (f: string) => (existsSync(f) ? hashFile(f) : null);
  let mhash: string | null = null;
  try {
    mhash = opts.model ? modelHash(opts.model.info.dir) : modelHash(spec.model);
  } catch {
    mhash = opts.model ? 'info:' + hashJson(opts.model.info) : null; // a model without a folder (synthetic)
  }
  // the spec and the content of every file it names: a folder holds one experiment
  const run = openRunFolder(outDir, {
    kind: 'experiment',
    forceNew: opts.forceNew,
    settings: {
      ...bare,
      files: { model: mhash, suite: hashOf(spec.suite), ftriPrompts: hashOf(spec.ftri.prompts) },
      givenRanking: opts.ranking ? hashJson(opts.ranking) : null,
    },
  });
  try {
    writeAtomic(join(outDir, 'experiment.json'), JSON.stringify(bare, null, 2) + '\n');
    return await stages();
  } finally {
    run.release();
  }

  async function stages(): Promise<ExperimentResult> {
    progress({ stage: 'load', done: 0, total: 1, detail: spec.model });
    let t = now();
    const model =
      opts.model ?? (await loadModel(spec.model, { threads: opts.threads ?? spec.threads, dtype: opts.dtype ?? spec.dtype ?? 'auto' }));
    const suite = loadSuite(spec.suite);
    const judgeConfig = experimentJudges(spec);
    const judgesFor = resolveJudges(judgeConfig, { gradingModel: model, file: spec.file });
    checkCategories(spec, suite);
    timings.load = now() - t;
    progress({ stage: 'load', done: 1, total: 1 });

    // 1. fTRI ranking
    t = now();
    const ftriDir = join(outDir, 'ftri');
    const rankingFile = join(ftriDir, 'ranking.json');
    let ranking: RankedExpert[] | null = opts.ranking ?? null;
    if (ranking) {
      mkdirSync(ftriDir, { recursive: true });
      writeAtomic(rankingFile, JSON.stringify(ranking, null, 1) + '\n');
    }
    // the stage is done when runFtri recorded its folder complete (ranking, maps and report all written)
    else if (readRunManifest(ftriDir)?.recorded.ranked && existsSync(rankingFile)) {
      try {
        ranking = readRanking(rankingFile);
        if (!ranking.length) ranking = null;
      } catch {
        ranking = null; // torn or foreign file: redo the stage
      }
    }
    if (ranking) {
      progress({ stage: 'ftri', done: 1, total: 1, detail: 'ranking.json present, skipped' });
    } else {
      const ftriJudge = labelJudge(spec.ftri.judge ? { '*': { refusal: spec.ftri.judge as JudgeSpec } } : judgeConfig, { file: spec.file });
      const prompts = loadPromptSet(spec.ftri.prompts);
      await runFtri({
        model,
        prompts,
        outDir: ftriDir,
        generate: spec.ftri.generate,
        contrast: spec.ftri.contrast,
        stat: spec.ftri.stat,
        scope: spec.ftri.scope,
        permutations: spec.ftri.permutations,
        bootstrap: spec.ftri.bootstrap,
        seed: spec.ftri.seed,
        batchSize: spec.ftri.batchSize ?? spec.generation.batchSize,
        promptSource: spec.ftri.prompts,
        judge: ftriJudge,
        onProgress: (done, total, phase) => progress({ stage: 'ftri', done, total, detail: phase }),
      });
      // read back what runFtri wrote, so a fresh and a resumed run analyse the very same objects
      ranking = readRanking(rankingFile);
    }
    timings.ftri = now() - t;

    // 2. policies (deterministic from the ranking and seeds; rewritten each time, cheap)
    t = now();
    const plan = planExperiment(spec, ranking, model, suite);
    const polDir = join(outDir, 'policies');
    const all = [...plan.ranked, ...plan.force, ...plan.random, ...plan.forceRandom];
    all.forEach((p, i) => {
      writePolicy(join(polDir, `${p.name}.json`), p.policy);
      if (i % 50 === 49 || i === all.length - 1) progress({ stage: 'policies', done: i + 1, total: all.length });
    });
    writeAtomic(
      join(polDir, 'index.json'),
      JSON.stringify(
        {
          ranked: plan.ranked.map((r) => r.name),
          force: plan.force.map((r) => r.name),
          random: plan.random.map((r) => r.name),
          randomIds: plan.randomIds,
          forceCategories: plan.forceCategories,
          forceRandom: plan.forceRandom.map((r) => r.name),
          forceRandomIds: plan.forceRandomIds,
        },
        null,
        1,
      ) + '\n',
    );
    timings.policies = now() - t;

    // 3. evals (resumable per item)
    t = now();
    const g = spec.generation;
    const evalRes = await runEval({
      model,
      suite,
      policies: plan.runs,
      outDir: join(outDir, 'eval'),
      judges: judgesFor,
      maxNewTokens: g.maxNewTokens,
      batchSize: g.batchSize,
      temperature: g.temperature,
      topK: g.topK,
      topP: g.topP,
      seed: g.seed,
      onProgress: (p) => progress({ stage: 'eval', done: p.doneAll, total: p.totalAll, detail: p.policy }),
    });
    timings.eval = now() - t;

    // 4. analysis + report
    t = now();
    progress({ stage: 'report', done: 0, total: 1 });
    const analysis = analyzeExperiment({
      spec,
      ranking,
      plan,
      records: evalRes.records as ResponseRecord[],
      summary: evalRes.summary,
      suite,
    });
    timings.report = now() - t; // provisional, so the report can show it
    timings.total = now() - t0;
    const prev = existsSync(join(outDir, 'timings.json'))
      ? (JSON.parse(readFileSync(join(outDir, 'timings.json'), 'utf8')) as Record<string, number>[])
      : [];
    const report = await writeExperimentReport(outDir, analysis, { timings, model: model.info, previousRuns: prev.length });
    timings.report = now() - t;
    timings.total = now() - t0;
    writeAtomic(join(outDir, 'results.json'), JSON.stringify({ ...analysis, timings }, null, 1) + '\n');
    writeAtomic(join(outDir, 'timings.json'), JSON.stringify([...prev, timings], null, 1) + '\n');
    progress({ stage: 'report', done: 1, total: 1, detail: report.html });
    if (!opts.model) await model.dispose();
    return { outDir, analysis, report, timings };
  }
}
