// The plan of an experiment: from a ranking, every policy it runs (top-N off per mode and N, matched random
// baselines, top-N forced on and its random matches) and the items each runs on. Pure: no files, no model
// runs. Not the spec (experiment-spec.ts) nor the run (experiment.ts).

import { MoteError } from '@mote/tensor-core';
import type { MoeModel, Policy } from '@mote/moe-runtime';
import type { RankedExpert } from '@mote/ftri';
import { topNPolicy, randomPolicies } from '@mote/mote';
import { createRng, shuffle } from '@mote/stats';
import type { Suite } from './suite.js';
import type { PolicyRun } from './runner.js';
import type { ExperimentSpec } from './experiment-spec.js';

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
