// Policy builders: top-N from an fTRI ranking, matched random baselines, dose-response sweeps over N.
// They only build Policy JSON; applying it is the runtime's job, measuring it is @mote/eval's.

import { MoteError } from '@mote/tensor-core';
import type { InterventionMode, ModelInfo, Policy, TokenScope } from '@mote/moe-runtime';
import { INTERVENTION_MODES, validatePolicy } from '@mote/moe-runtime';
import { policyExperts } from './policy.js';
import { createRng, shuffle } from '@mote/stats';
import type { RankedExpert } from '@mote/ftri';

/** Per-layer cap: one number for every layer, or a map layer -> cap (layers not named are uncapped). */
export type PerLayerCap = number | Record<number, number>;

export interface TopNOptions {
  n: number;
  mode: InterventionMode;
  scope?: TokenScope;
  /** factor for scale, offset for bias (required for those modes) */
  value?: number;
  perLayerCap?: PerLayerCap;
  /** validate against this model; for `force` without perLayerCap the cap defaults to info.topK */
  info?: ModelInfo;
  name?: string;
}

function capOf(cap: PerLayerCap | undefined, layer: number): number {
  if (cap === undefined) return Infinity;
  if (typeof cap === 'number') return cap;
  return cap[layer] ?? Infinity;
}

function checkMode(mode: string, value: number | undefined, what: string): void {
  if (!(INTERVENTION_MODES as readonly string[]).includes(mode))
    throw new MoteError('E_POLICY', `${what}: mode ${JSON.stringify(mode)} is unknown; fix: use one of ${INTERVENTION_MODES.join(', ')}`, {
      field: 'mode',
    });
  if ((mode === 'scale' || mode === 'bias') && (value === undefined || !Number.isFinite(value)))
    throw new MoteError(
      'E_POLICY',
      `${what}: mode ${mode} needs a finite value, got ${value}; fix: pass value (e.g. --value ${mode === 'scale' ? 0.5 : -2})`,
      { field: 'value' },
    );
}

function intervention(layer: number, expert: number, mode: InterventionMode, value?: number, scope?: TokenScope) {
  return {
    mode,
    layer,
    expert,
    ...(mode === 'scale' || mode === 'bias' ? { value } : {}),
    ...(scope !== undefined && scope !== 'all' ? { scope } : {}),
  };
}

/** The N best-ranked experts (lowest rank first), each with the same mode/scope/value. */
export function topNPolicy(ranking: readonly RankedExpert[], opts: TopNOptions): Policy {
  const { n, mode, scope, value, info } = opts;
  const name = opts.name ?? `top${n}-${mode}`;
  checkMode(mode, value, `top-N policy ${name}`);
  if (!Number.isInteger(n) || n < 0)
    throw new MoteError('E_POLICY', `top-N policy: n = ${n} is not a whole number >= 0; fix: pass --n 10`, { field: 'n' });
  const cap = opts.perLayerCap ?? (mode === 'force' && info ? info.topK : undefined);
  const sorted = [...ranking].sort((a, b) => a.rank - b.rank);
  const perLayer = new Map<number, number>();
  const seen = new Set<string>();
  const picked: RankedExpert[] = [];
  for (const r of sorted) {
    if (picked.length >= n) break;
    const key = `${r.layer}:${r.expert}`;
    const used = perLayer.get(r.layer) ?? 0;
    if (seen.has(key) || used >= capOf(cap, r.layer)) continue;
    seen.add(key);
    perLayer.set(r.layer, used + 1);
    picked.push(r);
  }
  if (picked.length < n)
    throw new MoteError(
      'E_POLICY',
      `top-N policy ${name}: the ranking yields only ${picked.length} experts${cap !== undefined ? ` under the per-layer cap ${JSON.stringify(cap)}` : ''}, fewer than n = ${n}; fix: lower n or raise the cap`,
      { field: 'n' },
    );
  const policy: Policy = {
    name,
    interventions: picked.map((r) => intervention(r.layer, r.expert, mode, value, scope)),
    meta: { builder: 'top', n, mode, ...(cap !== undefined ? { perLayerCap: cap } : {}), ranks: picked.map((r) => r.rank) },
  };
  return validatePolicy(policy, { info });
}

/** One top-N policy per N: the dose-response series. */
export function sweepPolicies(ranking: readonly RankedExpert[], opts: Omit<TopNOptions, 'n' | 'name'> & { ns: number[] }): Policy[] {
  if (!opts.ns.length) throw new MoteError('E_POLICY', 'sweep: ns is empty; fix: pass e.g. --ns 1,2,5,10,20', { field: 'ns' });
  return opts.ns.map((n) => topNPolicy(ranking, { ...opts, n }));
}

export interface RandomOptions {
  info: ModelInfo;
  /** number of experts; taken from `like` when omitted (must agree with it when both are given) */
  n?: number;
  seed: number;
  /** match this policy: same number of experts in each layer (and its mode/scope/value unless given) */
  like?: Policy;
  /** never pick these experts (e.g. the fTRI policy's own) */
  avoid?: Policy | readonly { layer: number; expert: number }[];
  mode?: InterventionMode;
  scope?: TokenScope;
  value?: number;
  /** uniform draws only; for `force` the cap defaults to info.topK */
  perLayerCap?: PerLayerCap;
  name?: string;
}

/**
 * A random baseline: n experts drawn without replacement, seeded (@mote/stats createRng). With `like`, the same number
 * per layer as that policy (drawn uniformly within each layer); without, uniform over every (MoE layer,
 * expert) pair. `avoid` removes experts from the pool first.
 */
export function randomPolicy(opts: RandomOptions): Policy {
  const { info, seed, like } = opts;
  const first = like?.interventions[0];
  const mode = opts.mode ?? first?.mode ?? 'exclude';
  const scope =
    opts.scope ?? (like?.interventions.every((e) => JSON.stringify(e.scope) === JSON.stringify(first?.scope)) ? first?.scope : undefined);
  const value = opts.value ?? (mode === first?.mode ? first?.value : undefined);
  const likeExperts = like ? policyExperts(like) : null;
  const n = opts.n ?? likeExperts?.length;
  const name = opts.name ?? `random${n}-${mode}-s${seed}`;
  checkMode(mode, value, `random policy ${name}`);
  if (n === undefined || !Number.isInteger(n) || n < 0)
    throw new MoteError('E_POLICY', `random policy: n = ${n} is not a whole number >= 0; fix: pass --n, or --like a policy`, {
      field: 'n',
    });
  if (likeExperts && n !== likeExperts.length)
    throw new MoteError(
      'E_POLICY',
      `random policy: n = ${n} but the policy to match (${like?.name ?? 'like'}) has ${likeExperts.length} experts; fix: drop n or make it ${likeExperts.length}`,
      { field: 'n' },
    );
  if (!Number.isInteger(seed))
    throw new MoteError('E_POLICY', `random policy: seed ${seed} is not an integer; fix: pass --seed 1`, { field: 'seed' });
  if (like) validatePolicy(like, { info });
  const avoidList = opts.avoid ? ('interventions' in opts.avoid ? policyExperts(opts.avoid) : opts.avoid) : [];
  const avoid = new Set(avoidList.map((e) => `${e.layer}:${e.expert}`));
  const pool = (layer: number) => Array.from({ length: info.expertCount }, (_, e) => e).filter((e) => !avoid.has(`${layer}:${e}`));
  const rand = createRng(seed);
  const chosen: { layer: number; expert: number }[] = [];
  if (likeExperts) {
    const counts = new Map<number, number>();
    for (const e of likeExperts) counts.set(e.layer, (counts.get(e.layer) ?? 0) + 1);
    for (const layer of info.moeLayers) {
      const k = counts.get(layer) ?? 0;
      if (!k) continue;
      const p = pool(layer);
      if (p.length < k)
        throw new MoteError(
          'E_POLICY',
          `random policy ${name}: layer ${layer} needs ${k} experts but only ${p.length} remain after avoiding ${avoidList.length}; fix: avoid fewer experts`,
          { field: 'avoid' },
        );
      shuffle(p, rand);
      for (const e of p.slice(0, k)) chosen.push({ layer, expert: e });
    }
  } else {
    const cap = opts.perLayerCap ?? (mode === 'force' ? info.topK : undefined);
    const all = info.moeLayers.flatMap((layer) => pool(layer).map((expert) => ({ layer, expert })));
    shuffle(all, rand);
    const perLayer = new Map<number, number>();
    for (const c of all) {
      if (chosen.length >= n) break;
      const used = perLayer.get(c.layer) ?? 0;
      if (used >= capOf(cap, c.layer)) continue;
      perLayer.set(c.layer, used + 1);
      chosen.push(c);
    }
    if (chosen.length < n)
      throw new MoteError(
        'E_POLICY',
        `random policy ${name}: only ${chosen.length} experts can be drawn (pool after avoid${cap !== undefined ? `, per-layer cap ${JSON.stringify(cap)}` : ''}), fewer than n = ${n}; fix: lower n`,
        { field: 'n' },
      );
  }
  chosen.sort((a, b) => a.layer - b.layer || a.expert - b.expert);
  const policy: Policy = {
    name,
    interventions: chosen.map((c) => intervention(c.layer, c.expert, mode, value, scope)),
    meta: { builder: 'random', n, mode, seed, matched: like ? (like.name ?? 'like') : 'uniform', avoided: avoidList.length },
  };
  return validatePolicy(policy, { info });
}

/** `draws` random baselines with seeds seed, seed+1, ...; names `${prefix}-r${i}`. */
export function randomPolicies(opts: RandomOptions & { draws: number; prefix?: string }): Policy[] {
  const { draws, prefix, ...rest } = opts;
  return Array.from({ length: draws }, (_, i) =>
    randomPolicy({ ...rest, seed: opts.seed + i, name: prefix ? `${prefix}-r${i}` : undefined }),
  );
}
