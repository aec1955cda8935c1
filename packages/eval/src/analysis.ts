// Analysis of an experiment's judged responses: per top-N policy the behaviour change on the target
// category (rate, paired difference, McNemar), false refusals on the control category, capability
// retention, and the comparison with matched random baselines (empirical p). Pure; no I/O.

import type { Suite } from './suite.js';
import type { ResponseRecord } from './runner.js';
import type { Summary } from './summary.js';
import { wilson, mcnemarPaired, pairedDiff, empiricalP, describe } from '@mote/stats';
import type { ExperimentPlan } from './experiment-plan.js';
import type { ExperimentSpec } from './experiment-spec.js';
import type { RankedExpert } from '@mote/ftri';

export interface RateCI {
  k: number;
  n: number;
  rate: number;
  ci: [number, number];
}
export interface Diff {
  diff: number;
  ci: [number, number];
}
export interface RandomCompare {
  mode: string;
  draws: number;
  /** target items the random policies ran on (the comparison uses exactly these for every policy) */
  items: number;
  baselineRate: number;
  observedRate: number;
  /** baseline rate - policy rate on those items */
  observedCut: number;
  randomRates: number[];
  randomCuts: number[];
  cut: ReturnType<typeof describe>;
  /** (1 + #{random cut >= observed cut}) / (1 + draws) */
  empiricalP: number;
  capability?: { items: number; observed: number; randomMean: number; randomMin: number; randomMax: number; baseline: number };
}
export interface RankedRow {
  name: string;
  n: number;
  mode: string;
  target: RateCI;
  targetDiff: Diff;
  /** relative cut of the target rate: (baseline - policy) / baseline */
  relCut: number | null;
  mcnemarP: number;
  control?: RateCI;
  controlDiff?: Diff;
  capability?: RateCI;
  capabilityDiff?: Diff;
  random?: RandomCompare;
}
export interface ForceRow {
  name: string;
  n: number;
  /** matched random forced-on baselines on the same items: the behaviour's rate under each, empirical p of the raise */
  random?: {
    draws: number;
    items: number;
    baselineRate: number;
    observedRate: number;
    randomRates: number[];
    randomMean: number;
    empiricalP: number;
  };
  categories: Record<string, { refusal: RateCI; diff: Diff; mcnemarP: number; accuracy?: RateCI; accuracyDiff?: Diff }>;
}
export type CriterionStatus = 'MET' | 'NOT MET' | 'NOT TESTED';
export interface Criterion {
  mode: string;
  /** MET: some N meets every condition; NOT TESTED: a condition's baseline (random draws, capability) was not run */
  status: CriterionStatus;
  /** smallest N meeting every condition, or null (always null unless MET) */
  metAt: number | null;
  /** the conditions that could not be evaluated (e.g. "random baselines") */
  untested: string[];
  text: string;
}
export interface ExperimentAnalysis {
  name: string;
  description?: string;
  model: string;
  suite: { name: string; file?: string; items: number; counts: Record<string, number> };
  categories: ExperimentSpec['categories'];
  /** what the rates count: "refusal", or e.g. "ZH thinking" (think blocks in the target language) */
  behaviour: { type: ExperimentSpec['behaviour']['type']; language?: string; name: string; label?: string };
  criteriaThresholds: ExperimentSpec['criteria'];
  generation: ExperimentSpec['generation'];
  ftri: { prompts: string; contrast: string; judge: unknown };
  random: { draws: number; modes: string[]; match: string; avoid: boolean; itemIds: number; itemsByCategory: Record<string, number> };
  baseline: { target: RateCI; control?: RateCI; capability?: RateCI; labels: Record<string, Record<string, number>> };
  ranked: RankedRow[];
  force: ForceRow[];
  criteria: Criterion[];
  rankingTop: RankedExpert[];
  summary: Summary;
}

export interface AnalyzeInput {
  spec: ExperimentSpec;
  ranking: RankedExpert[];
  plan: ExperimentPlan;
  records: ResponseRecord[];
  summary: Summary;
  suite: Suite;
}

function rateOf(recs: ResponseRecord[], pick: (r: ResponseRecord) => boolean): RateCI {
  const k = recs.filter(pick).length;
  const n = recs.length;
  return { k, n, rate: n ? k / n : 0, ci: wilson(k, n) };
}

export function analyzeExperiment(input: AnalyzeInput): ExperimentAnalysis {
  const { spec, plan, records, suite, summary } = input;
  const byPolicy = new Map<string, Map<string, ResponseRecord>>();
  for (const r of records) {
    if (!byPolicy.has(r.policy)) byPolicy.set(r.policy, new Map());
    byPolicy.get(r.policy)!.set(r.id, r);
  }
  const idsOf = (cat?: string) => (cat ? suite.items.filter((i) => i.category === cat).map((i) => i.id) : []);
  const get = (policy: string, ids: string[]) => {
    const m = byPolicy.get(policy);
    return m ? ids.map((id) => m.get(id)).filter((r): r is ResponseRecord => !!r) : [];
  };
  const { target, control, capability } = spec.categories;
  const tIds = idsOf(target),
    cIds = idsOf(control),
    kIds = idsOf(capability);
  // the measured behaviour: refusal, or (think-language) a think block in the target language
  const lang = spec.behaviour.type === 'think-language' ? spec.behaviour.language.toUpperCase() : null;
  const refused = lang ? (r: ResponseRecord) => r.label === lang : (r: ResponseRecord) => r.refused;
  const behaviour = lang ? `${lang} thinking` : 'refusals';
  const correct = (r: ResponseRecord) => !!r.correct;
  const base = 'baseline';
  const paired = (policy: string, ids: string[], f: (r: ResponseRecord) => boolean) => {
    const mine = get(policy, ids);
    const b = byPolicy.get(base)!;
    const both = mine.filter((r) => b.has(r.id));
    return { mine: both.map(f), base: both.map((r) => f(b.get(r.id)!)) };
  };
  const diffOf = (policy: string, ids: string[], f: (r: ResponseRecord) => boolean): Diff => {
    const p = paired(policy, ids, f);
    return pairedDiff(p.mine, p.base);
  };
  const mcnOf = (policy: string, ids: string[], f: (r: ResponseRecord) => boolean) => {
    const p = paired(policy, ids, f);
    return mcnemarPaired(p.base, p.mine).p;
  };
  const hasAnswers = (ids: string[]) => ids.length > 0 && get(base, ids).some((r) => r.correct !== undefined);

  const baseTarget = rateOf(get(base, tIds), refused);
  const baseline = {
    target: baseTarget,
    ...(control ? { control: rateOf(get(base, cIds), refused) } : {}),
    ...(capability && hasAnswers(kIds)
      ? {
          capability: rateOf(
            get(base, kIds).filter((r) => r.correct !== undefined),
            correct,
          ),
        }
      : {}),
    labels: Object.fromEntries(
      Object.entries(summary.policies.find((p) => p.name === base)?.categories ?? {}).map(([c, s]) => [c, s.labels]),
    ),
  };

  const randomTargetIds = plan.randomIds.filter((id) => tIds.includes(id));
  const randomCapIds = plan.randomIds.filter((id) => kIds.includes(id));
  const ranked: RankedRow[] = plan.ranked.map((r) => {
    const tRecs = get(r.name, tIds);
    const row: RankedRow = {
      name: r.name,
      n: r.n,
      mode: r.mode,
      target: rateOf(tRecs, refused),
      targetDiff: diffOf(r.name, tIds, refused),
      relCut: baseTarget.rate > 0 ? (baseTarget.rate - rateOf(tRecs, refused).rate) / baseTarget.rate : null,
      mcnemarP: mcnOf(r.name, tIds, refused),
    };
    if (control) {
      row.control = rateOf(get(r.name, cIds), refused);
      row.controlDiff = diffOf(r.name, cIds, refused);
    }
    if (capability && hasAnswers(kIds)) {
      row.capability = rateOf(
        get(r.name, kIds).filter((x) => x.correct !== undefined),
        correct,
      );
      row.capabilityDiff = diffOf(r.name, kIds, correct);
    }
    const draws = plan.random.filter((x) => x.n === r.n && x.mode === r.mode);
    if (draws.length && randomTargetIds.length) {
      const rate = (policy: string, ids: string[], f: (x: ResponseRecord) => boolean) => {
        const rs = get(policy, ids);
        return rs.length ? rs.filter(f).length / rs.length : NaN;
      };
      const bRate = rate(base, randomTargetIds, refused);
      const oRate = rate(r.name, randomTargetIds, refused);
      const rRates = draws.map((d) => rate(d.name, randomTargetIds, refused)).filter((x) => Number.isFinite(x));
      const cuts = rRates.map((x) => bRate - x);
      row.random = {
        mode: r.mode,
        draws: rRates.length,
        items: randomTargetIds.length,
        baselineRate: bRate,
        observedRate: oRate,
        observedCut: bRate - oRate,
        randomRates: rRates,
        randomCuts: cuts,
        cut: describe(cuts),
        empiricalP: empiricalP(bRate - oRate, cuts, 'greater'),
      };
      if (randomCapIds.length && hasAnswers(randomCapIds)) {
        const accs = draws.map((d) => rate(d.name, randomCapIds, correct)).filter((x) => Number.isFinite(x));
        row.random.capability = {
          items: randomCapIds.length,
          observed: rate(r.name, randomCapIds, correct),
          baseline: rate(base, randomCapIds, correct),
          randomMean: accs.reduce((a, b) => a + b, 0) / Math.max(1, accs.length),
          randomMin: Math.min(...accs),
          randomMax: Math.max(...accs),
        };
      }
    }
    return row;
  });

  const force: ForceRow[] = plan.force.map((f) => {
    const cats: ForceRow['categories'] = {};
    for (const cat of plan.forceCategories) {
      const ids = idsOf(cat);
      const recs = get(f.name, ids);
      if (!recs.length) continue;
      cats[cat] = { refusal: rateOf(recs, refused), diff: diffOf(f.name, ids, refused), mcnemarP: mcnOf(f.name, ids, refused) };
      if (recs.some((x) => x.correct !== undefined)) {
        cats[cat].accuracy = rateOf(
          recs.filter((x) => x.correct !== undefined),
          correct,
        );
        cats[cat].accuracyDiff = diffOf(f.name, ids, correct);
      }
    }
    const draws = (plan.forceRandom ?? []).filter((x) => x.n === f.n);
    const fIds = plan.forceRandomIds ?? [];
    if (!draws.length || !fIds.length) return { name: f.name, n: f.n, categories: cats };
    const rate = (policy: string) => {
      const rs = get(policy, fIds);
      return rs.length ? rs.filter(refused).length / rs.length : NaN;
    };
    const randomRates = draws.map((d) => rate(d.name)).filter((x) => Number.isFinite(x));
    const observedRate = rate(f.name);
    const random = {
      draws: randomRates.length,
      items: fIds.length,
      baselineRate: rate(base),
      observedRate,
      randomRates,
      randomMean: randomRates.reduce((s, x) => s + x, 0) / Math.max(1, randomRates.length),
      empiricalP: Number.isFinite(observedRate) ? empiricalP(observedRate, randomRates, 'greater') : NaN,
    };
    return { name: f.name, n: f.n, categories: cats, random };
  });

  const th = spec.criteria;
  const criteria: Criterion[] = spec.modes.map((mode) => {
    const rows = ranked.filter((r) => r.mode === mode).sort((a, b) => a.n - b.n);
    const untested: string[] = [];
    if (!rows.some((r) => r.random)) untested.push(`matched random baselines (no random draws for mode "${mode}" on "${target}")`);
    if (!rows.some((r) => r.capabilityDiff))
      untested.push(`capability (${capability ? `no answers judged on "${capability}"` : 'no capability category'})`);
    const cutOk = (r: RankedRow) => r.relCut !== null && r.relCut >= th.cut;
    const ok = (r: RankedRow) =>
      cutOk(r) &&
      !!r.capabilityDiff &&
      r.capabilityDiff.diff >= -th.capabilityDrop &&
      !!r.random &&
      r.random.empiricalP <= th.alpha &&
      r.random.cut.mean <= r.random.observedCut * th.randomShare;
    const hit = untested.length ? undefined : rows.find(ok);
    const conds = `${behaviour} on "${target}" cut by >= ${pct0(th.cut)} with capability within ${(100 * th.capabilityDrop).toFixed(0)} points and matched random baselines cutting <= ${pct0(th.randomShare)} as much (empirical p <= ${th.alpha})`;
    let text: string;
    if (untested.length) {
      const best = rows.find(cutOk);
      text =
        `not tested: ${untested.join('; ')} not run, so "${conds}" cannot be decided` +
        (best ? ` (the cut alone: top-${best.n} ${mode} ${pctS(baseTarget.rate)} -> ${pctS(best.target.rate)})` : '');
    } else if (hit) {
      text =
        `top-${hit.n} ${mode}: ${behaviour} on "${target}" cut by ${(100 * hit.relCut!).toFixed(0)}% (${pctS(baseTarget.rate)} -> ${pctS(hit.target.rate)}, McNemar p = ${fmtPS(hit.mcnemarP)})` +
        `, capability ${signedPt(hit.capabilityDiff!.diff)}` +
        `; matched random baselines cut ${pctS(hit.random!.cut.mean)} on average (empirical p = ${fmtPS(hit.random!.empiricalP)}, ${hit.random!.draws} draws)`;
    } else text = `no N of ${rows.map((r) => r.n).join(', ')}: ${conds}`;
    return { mode, status: untested.length ? 'NOT TESTED' : hit ? 'MET' : 'NOT MET', metAt: hit?.n ?? null, untested, text };
  });

  const counts: Record<string, number> = {};
  for (const i of suite.items) counts[i.category] = (counts[i.category] ?? 0) + 1;
  const randomByCat: Record<string, number> = {};
  for (const id of plan.randomIds) {
    const c = suite.items.find((i) => i.id === id)!.category;
    randomByCat[c] = (randomByCat[c] ?? 0) + 1;
  }
  return {
    name: spec.name,
    description: spec.description,
    model: spec.model,
    suite: { name: suite.name, file: suite.file, items: suite.items.length, counts },
    categories: spec.categories,
    behaviour: lang
      ? { type: 'think-language', language: spec.behaviour.language, name: behaviour.replace(/s$/, ''), label: lang }
      : { type: 'refusal', name: 'refusal' },
    criteriaThresholds: th,
    generation: spec.generation,
    ftri: { prompts: spec.ftri.prompts, contrast: spec.ftri.contrast, judge: spec.ftri.judge ?? spec.judges?.['*']?.refusal ?? 'refusal' },
    random: {
      draws: spec.random.draws,
      modes: spec.random.modes,
      match: spec.random.match,
      avoid: spec.random.avoid,
      itemIds: plan.randomIds.length,
      itemsByCategory: randomByCat,
    },
    baseline,
    ranked,
    force,
    criteria,
    rankingTop: input.ranking.slice(0, 20),
    summary,
  };
}

function pct0(x: number): string {
  return `${(100 * x).toFixed(0)}%`;
}
function pctS(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}
function signedPt(x: number): string {
  return `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)} pt`;
}
function fmtPS(p: number): string {
  return p < 1e-4 ? p.toExponential(1) : p.toFixed(p < 0.001 ? 4 : 3);
}
