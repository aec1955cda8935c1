// The one translation of a failed schema parse (zod's `error.issues`) into a MoteError, so every JSON input
// (policies, experiments, prompt sets) reports the same way: where, the field, the bad value, why, the fix.
// Not a validator: callers own their schemas; this module does not import zod.

import { MoteError, type MoteErrorCode } from './errors.js';

/** The part of a zod issue this formatter reads. */
export interface SchemaIssue {
  path: readonly PropertyKey[];
  message: string;
}

export interface SchemaErrorOptions {
  /** what was read, e.g. `policy p.json` or `experiment.json, record 3` */
  where: string;
  file?: string;
  /** the fix, or a function of the issue's last named key (e.g. `mode`) that returns it */
  fix: string | ((key: string | undefined) => string);
  /** shorten the issue's path to the field worth naming (e.g. the entry's field, not a union branch) */
  shorten?: (path: readonly PropertyKey[]) => readonly PropertyKey[];
}

/** `interventions[3].scope` for ['interventions', 3, 'scope']. */
export function fieldPath(path: readonly PropertyKey[]): string {
  return path.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? String(k) : `.${String(k)}`)).join('');
}

/** A value as short JSON for a message (`missing` for undefined, cut at 80 characters). */
export function showValue(v: unknown): string {
  if (v === undefined) return 'missing';
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/**
 * The first issue as a MoteError: `<where>: field "<path>" = <value> is invalid (<why>); fix: <fix>`, with
 * `field` set to the path. An issue at the root reads `<where>: <value> is invalid (<why>); fix: <fix>`.
 * @example
 *   const r = schema.safeParse(json);
 *   if (!r.success) throw schemaError('E_INPUT', r.error.issues, json, { where: 'experiment e.json', fix: 'see the README' });
 */
export function schemaError(code: MoteErrorCode, issues: readonly SchemaIssue[], input: unknown, o: SchemaErrorOptions): MoteError {
  const issue = issues[0] ?? { path: [], message: 'invalid' };
  const path = o.shorten ? o.shorten(issue.path) : issue.path;
  let got: unknown = input;
  for (const k of path) got = got != null && typeof got === 'object' ? (got as Record<PropertyKey, unknown>)[k] : undefined;
  const key = [...path].reverse().find((k): k is string => typeof k === 'string');
  const fix = typeof o.fix === 'function' ? o.fix(key) : o.fix;
  const field = fieldPath(path);
  const what = path.length ? `field "${field}" = ${showValue(got)}` : showValue(got);
  return new MoteError(code, `${o.where}: ${what} is invalid (${issue.message}); fix: ${fix}`, { file: o.file, field: field || undefined });
}
