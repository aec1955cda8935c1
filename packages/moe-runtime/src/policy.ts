// The intervention vocabulary, declared once beside the router that executes it: modes, token scopes, the
// scope test, the policy JSON schema and the one validator (shape, values, the model's layers and experts,
// conflicting entries, the top-k limit on forced experts). Reading and writing policy files is @mote/mote's.

import { z } from 'zod';
import { MoteError, schemaError, showValue } from '@mote/tensor-core';
import type { Intervention, InterventionMode, ModelInfo, Policy, TokenScope } from './types.js';

export const INTERVENTION_MODES = ['exclude', 'drop', 'force', 'scale', 'bias'] as const satisfies readonly InterventionMode[];
/** The named token scopes; a scope may also be a half-open position range {from, to}. */
export const SCOPE_NAMES = ['all', 'prompt', 'generated', 'think'] as const;

export const modeSchema = z.enum(INTERVENTION_MODES);
export const scopeSchema = z.union([z.enum(SCOPE_NAMES), z.strictObject({ from: z.number().int().min(0), to: z.number().int().min(1) })]);
export const interventionSchema = z.looseObject({
  mode: modeSchema,
  layer: z.number().int().min(0),
  expert: z.number().int().min(0),
  value: z.number().optional(),
  scope: scopeSchema.optional(),
});
export const policySchema = z.looseObject({ name: z.string().optional(), interventions: z.array(interventionSchema) });

/** A token as scopes see it: prompt or generated, inside a `<think>` span or not, at a position. */
export interface ScopedToken {
  generated: boolean;
  inThink: boolean;
  pos: number;
}

/**
 * Whether a token is in a scope (undefined means "all"): the one scope test of mote.
 * @example
 *   inScope('generated', { generated: true, inThink: false, pos: 12 }); // true
 *   inScope({ from: 0, to: 4 }, { generated: false, inThink: false, pos: 4 }); // false (half-open)
 */
export function inScope(s: TokenScope | undefined, t: ScopedToken): boolean {
  const v = s ?? 'all';
  if (v === 'all') return true;
  if (v === 'prompt') return !t.generated;
  if (v === 'generated') return t.generated;
  if (v === 'think') return t.inThink;
  return t.pos >= v.from && t.pos < v.to;
}

const TOKEN_KINDS = [
  { generated: false, inThink: false },
  { generated: false, inThink: true },
  { generated: true, inThink: false },
  { generated: true, inThink: true },
];
/** Positions where the truth of any of these scopes can change: enough to test every combination. */
function probePositions(scopes: (TokenScope | undefined)[]): number[] {
  const ps = new Set<number>([0]);
  for (const s of scopes) if (s && typeof s === 'object') for (const p of [s.from, s.to - 1, s.to]) ps.add(p);
  return [...ps];
}

/**
 * Whether two scopes can hold the same token; prompt and generated tokens are disjoint, everything else may meet.
 * @example
 *   scopesOverlap('prompt', 'generated'); // false
 */
export function scopesOverlap(a: TokenScope | undefined, b: TokenScope | undefined): boolean {
  return TOKEN_KINDS.some((k) => probePositions([a, b]).some((pos) => inScope(a, { ...k, pos }) && inScope(b, { ...k, pos })));
}

export interface ValidatePolicyOptions {
  /** the model the policy will run on: layers, expert ids and the force/top-k limit are checked against it */
  info?: ModelInfo;
  /** file name used in error messages */
  file?: string;
}

const FIX: Record<string, string> = {
  mode: `use one of ${INTERVENTION_MODES.join(', ')}`,
  layer: 'use a decoder-layer index (integer >= 0)',
  expert: 'use a routed-expert index (integer >= 0)',
  value: 'use a finite number',
  scope: 'use "all", "prompt", "generated", "think" or {"from": a, "to": b} with integers 0 <= a < b',
  interventions: 'give "interventions" as an array of {mode, layer, expert, value?, scope?}',
  name: 'use a string',
};

function entryText(i: number, e: Intervention): string {
  return `interventions[${i}] (${e.mode} layer ${e.layer} expert ${e.expert}${e.scope !== undefined ? ` scope ${showValue(e.scope)}` : ''})`;
}
function fail(file: string | undefined, field: string, message: string): never {
  throw new MoteError('E_POLICY', `${file ? `policy ${file}` : 'policy'}: ${message}`, { file, field });
}
function rangeText(xs: number[]): string {
  if (xs.length === 0) return '(none)';
  const contiguous = xs.every((v, i) => i === 0 || v === xs[i - 1] + 1);
  return contiguous && xs.length > 2 ? `${xs[0]}..${xs[xs.length - 1]}` : xs.join(', ');
}

const OFF = new Set<InterventionMode>(['exclude', 'drop']);

/** Why entries a and b on the same (layer, expert) with overlapping scopes cannot both hold, or null. */
function conflict(a: Intervention, b: Intervention): string | null {
  if (a.mode === b.mode)
    return `both ${a.mode} the same expert on overlapping tokens (a duplicate, or two ${a.mode} values where only one can apply)`;
  const modes = new Set([a.mode, b.mode]);
  if (modes.has('force') && (modes.has('exclude') || modes.has('drop'))) return 'one forces the expert on and the other switches it off';
  if (modes.has('exclude') && modes.has('drop')) return 'exclude and drop both switch the expert off, with different refill rules';
  const off = OFF.has(a.mode) ? a : OFF.has(b.mode) ? b : null;
  if (off) return `the expert is switched off (${off.mode}), so the ${(off === a ? b : a).mode} entry would have no effect`;
  return null; // force + scale, force + bias, scale + bias compose
}

/**
 * Validate a parsed policy JSON and return it typed. Throws MoteError E_POLICY naming the file, the entry,
 * the bad value and the fix. Checks: the JSON shape; `value` present (finite) for scale/bias and absent for
 * the others; position ranges with from < to; no two entries on the same (layer, expert) whose scopes can
 * meet and whose modes contradict or repeat; with `info`: layers with a router, expert ids below
 * expertCount, and at most topK experts forced on any one token of a layer. The runtime runs it on every
 * policy it applies.
 * @example
 *   const policy = validatePolicy({ name: 'off', interventions: [{ mode: 'exclude', layer: 1, expert: 5 }] }, { info: model.info });
 */
export function validatePolicy(json: unknown, opts: ValidatePolicyOptions = {}): Policy {
  const { info, file } = opts;
  const parsed = policySchema.safeParse(json);
  if (!parsed.success) {
    throw schemaError('E_POLICY', parsed.error.issues, json, {
      where: file ? `policy ${file}` : 'policy',
      file,
      // report the field of the entry, not the deepest zod branch: `interventions[3].scope`
      shorten: (p) => (p[0] === 'interventions' ? p.slice(0, 3) : p.slice(0, 1)),
      fix: (key) => FIX[key ?? 'interventions'] ?? FIX.interventions,
    });
  }
  const policy = parsed.data as Policy;
  const list = policy.interventions;
  list.forEach((e, i) => {
    const f = `interventions[${i}]`;
    if ((e.mode === 'scale' || e.mode === 'bias') && (e.value === undefined || !Number.isFinite(e.value)))
      fail(
        file,
        `${f}.value`,
        `${entryText(i, e)} needs a finite "value" (${e.mode === 'scale' ? 'the factor g' : 'the offset b'}), got ${showValue(e.value)}; fix: add e.g. "value": ${e.mode === 'scale' ? 0.5 : -2}`,
      );
    if (e.mode === 'scale' && (e.value as number) < 0)
      fail(
        file,
        `${f}.value`,
        `${entryText(i, e)} has a negative scale factor ${e.value}; fix: use a factor >= 0 (0 silences the expert's output, 1 leaves it as is)`,
      );
    if (e.mode !== 'scale' && e.mode !== 'bias' && e.value !== undefined)
      fail(
        file,
        `${f}.value`,
        `${entryText(i, e)} has "value": ${showValue(e.value)} but ${e.mode} takes none; fix: remove "value" or use mode "scale"/"bias"`,
      );
    if (e.scope && typeof e.scope === 'object' && e.scope.from >= e.scope.to)
      fail(
        file,
        `${f}.scope`,
        `${entryText(i, e)} has an empty position range ${showValue(e.scope)}; fix: use {"from": a, "to": b} with a < b (half-open)`,
      );
    if (info) {
      if (!info.moeLayers.includes(e.layer))
        fail(
          file,
          `${f}.layer`,
          `${entryText(i, e)}: layer ${e.layer} has no router in ${info.modelType} (${info.dir}); fix: use one of the MoE layers ${rangeText(info.moeLayers)}`,
        );
      if (e.expert >= info.expertCount)
        fail(
          file,
          `${f}.expert`,
          `${entryText(i, e)}: expert ${e.expert} does not exist; ${info.modelType} has ${info.expertCount} routed experts per layer; fix: use 0..${info.expertCount - 1}`,
        );
    }
  });
  // conflicting entries on the same (layer, expert): a sweep over position intervals, so n entries cost
  // O(n log n) (a valid policy keeps few entries live at any position; an invalid one fails at the first pair)
  const byExpert = new Map<string, number[]>();
  list.forEach((e, i) => {
    const k = `${e.layer}:${e.expert}`;
    const idx = byExpert.get(k);
    if (idx) idx.push(i);
    else byExpert.set(k, [i]);
  });
  for (const idx of byExpert.values()) {
    if (idx.length < 2) continue;
    sweepOverlaps(idx, list, (x, y) => {
      const [i, j] = x < y ? [x, y] : [y, x];
      const why = conflict(list[i], list[j]);
      if (why)
        fail(
          file,
          `interventions[${j}]`,
          `${entryText(j, list[j])} conflicts with ${entryText(i, list[i])}: ${why}; fix: keep one of them, or give them scopes that cannot meet`,
        );
    });
  }
  if (info) checkForceLimit(list, info, file);
  return policy;
}

/** The positions [from, to) where a scope can hold tokens: a range's own, every position for the named scopes. */
function span(s: TokenScope | undefined): [number, number] {
  return s && typeof s === 'object' ? [s.from, s.to] : [0, Infinity];
}

/** Call `meet(i, j)` for every pair of entries in idx whose scopes can hold the same token: entries sorted by
 *  start, a live list of those whose span is still open. */
function sweepOverlaps(idx: number[], list: Intervention[], meet: (i: number, j: number) => void): void {
  const order = [...idx].sort((a, b) => span(list[a].scope)[0] - span(list[b].scope)[0] || a - b);
  let live: number[] = [];
  for (const j of order) {
    const [from] = span(list[j].scope);
    live = live.filter((i) => span(list[i].scope)[1] > from);
    for (const i of live) if (scopesOverlap(list[i].scope, list[j].scope)) meet(i, j);
    live.push(j);
  }
}

/**
 * The most distinct experts that entries of one layer touch on a single token, for each kind of token
 * (prompt/generated x think/not): a sweep over the position boundaries, O(n log n).
 */
function mostOnOneToken(idx: number[], list: Intervention[]): { count: number; at: number[] } {
  let best = { count: 0, at: [] as number[] };
  for (const kind of TOKEN_KINDS) {
    // entries whose scope holds this kind at some position, as [from, to) intervals
    const es = idx.filter((i) => {
      const s = list[i].scope ?? 'all';
      return typeof s === 'object' || inScope(s, { ...kind, pos: 0 });
    });
    const events = es
      .flatMap((i) => {
        const [from, to] = span(list[i].scope);
        return [
          { pos: from, i, add: 1 },
          { pos: to, i, add: -1 },
        ];
      })
      .sort((a, b) => a.pos - b.pos || a.add - b.add); // ends before starts at the same position
    const perExpert = new Map<number, number>();
    const liveEntries = new Set<number>();
    for (const ev of events) {
      const ex = list[ev.i].expert;
      perExpert.set(ex, (perExpert.get(ex) ?? 0) + ev.add);
      if (perExpert.get(ex) === 0) perExpert.delete(ex);
      if (ev.add > 0) liveEntries.add(ev.i);
      else liveEntries.delete(ev.i);
      if (perExpert.size > best.count) best = { count: perExpert.size, at: [...liveEntries] };
    }
  }
  return best;
}

/** Per layer: at most topK distinct experts forced on one token, and at least topK candidates left after exclude. */
function checkForceLimit(list: Intervention[], info: ModelInfo, file?: string): void {
  const byLayer = new Map<string, number[]>();
  list.forEach((e, i) => {
    if (e.mode !== 'force' && e.mode !== 'exclude') return;
    const k = `${e.mode}:${e.layer}`;
    const idx = byLayer.get(k);
    if (idx) idx.push(i);
    else byLayer.set(k, [i]);
  });
  for (const [k, idx] of byLayer) {
    const [mode, layer] = k.split(':');
    const { count, at } = mostOnOneToken(idx, list);
    const entries = at.sort((a, b) => a - b);
    const shown =
      entries.length > 8
        ? `${entries
            .slice(0, 8)
            .map((i) => `interventions[${i}]`)
            .join(', ')}, ...`
        : entries.map((i) => `interventions[${i}]`).join(', ');
    if (mode === 'force' && count > info.topK)
      fail(
        file,
        `interventions[${entries[0]}]`,
        `layer ${layer} forces ${count} experts (entries ${shown}) on the same tokens, but ${info.modelType} selects only top-${info.topK}; fix: force at most ${info.topK} experts per layer and token (e.g. perLayerCap: ${info.topK}), or give them disjoint scopes`,
      );
    if (mode === 'exclude' && info.expertCount - count < info.topK)
      fail(
        file,
        `interventions[${entries[0]}]`,
        `layer ${layer} excludes ${count} of its ${info.expertCount} experts on the same tokens (entries ${shown}), leaving fewer than the top-${info.topK} the router must choose; fix: exclude at most ${info.expertCount - info.topK} experts of a layer per token`,
      );
  }
}
