// Policies as a user names them on a command line: file/folder/comma lists of policy files, scopes and
// modes written as text, a one-line description, and the experts to avoid from a policy or a ranking.
// Validation of the policy JSON itself is policy.ts.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { MoteError } from '@mote/tensor-core';
import { INTERVENTION_MODES, SCOPE_NAMES, type InterventionMode, type ModelInfo, type Policy, type TokenScope } from '@mote/moe-runtime';
import { readRanking } from '@mote/ftri';
import { loadPolicy, policyExperts } from './policy.js';

/**
 * The policy files named by specs: each spec is a file, a folder (its *.json files, sorted) or a comma list
 * of these. Missing paths and empty folders are E_INPUT errors naming the path.
 * @example
 *   policyFiles(['runs/sweep', 'base.json,extra.json']) // ['runs/sweep/top1-exclude.json', ..., 'base.json', 'extra.json']
 */
export function policyFiles(specs: string[]): string[] {
  const out: string[] = [];
  for (const spec of specs)
    for (const p of spec
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)) {
      let isDir: boolean;
      try {
        isDir = statSync(p).isDirectory();
      } catch {
        throw new MoteError('E_INPUT', `policy ${p} does not exist; fix: give a policy JSON file, a folder of them, or a comma list`, {
          file: p,
          field: '--policy',
        });
      }
      if (!isDir) {
        out.push(p);
        continue;
      }
      const files = readdirSync(p)
        .filter((f) => f.endsWith('.json'))
        .sort()
        .map((f) => join(p, f));
      if (!files.length)
        throw new MoteError(
          'E_INPUT',
          `policy folder ${p} holds no *.json files; fix: point --policy at the folder \`mote policy sweep\` wrote`,
          { file: p, field: '--policy' },
        );
      out.push(...files);
    }
  return out;
}

/**
 * Read and validate every policy named by specs (see policyFiles).
 * @example
 *   const policies = loadPolicies(['runs/sweep'], model.info);
 */
export function loadPolicies(specs: string[], info?: ModelInfo): Policy[] {
  return policyFiles(specs).map((f) => loadPolicy(f, info));
}

/**
 * A token scope from its text form: all | prompt | generated | think | FROM-TO (half-open position range).
 * @example
 *   parseScope('0-16') // { from: 0, to: 16 }
 */
export function parseScope(s: string | undefined): TokenScope | undefined {
  if (s === undefined) return undefined;
  if ((SCOPE_NAMES as readonly string[]).includes(s)) return s as TokenScope;
  const m = /^(\d+)[-:](\d+)$/.exec(s);
  if (m && Number(m[1]) < Number(m[2])) return { from: Number(m[1]), to: Number(m[2]) };
  throw new MoteError(
    'E_INPUT',
    `--scope "${s}" is not a token scope; fix: use all, prompt, generated, think or a position range FROM-TO (half-open), e.g. 0-16`,
    { field: '--scope' },
  );
}

/**
 * An intervention mode from text, checked against INTERVENTION_MODES.
 * @example
 *   parseMode('exclude') // 'exclude'
 */
export function parseMode(s: string): InterventionMode {
  if (!(INTERVENTION_MODES as readonly string[]).includes(s))
    throw new MoteError('E_INPUT', `--mode "${s}" is not an intervention mode; fix: use one of ${INTERVENTION_MODES.join(', ')}`, {
      field: '--mode',
    });
  return s as InterventionMode;
}

/**
 * The N of a dose-response sweep from a comma list of whole numbers >= 1.
 * @example
 *   parseCounts('1,2,5') // [1, 2, 5]
 */
export function parseCounts(s: string): number[] {
  const ns = s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)
    .map(Number);
  if (!ns.length || ns.some((n) => !Number.isSafeInteger(n) || n < 1))
    throw new MoteError('E_INPUT', `--ns "${s}" must be comma-separated whole numbers >= 1, e.g. 1,2,5,10,20`, { field: '--ns' });
  return ns;
}

/**
 * One line: name, entry count, mode and the experts per layer.
 * @example
 *   describePolicy(p) // 'top3-exclude: 3 interventions (exclude) — L2: 0,1,2'
 */
export function describePolicy(p: Policy): string {
  const byLayer = new Map<number, number[]>();
  for (const e of policyExperts(p)) {
    const es = byLayer.get(e.layer);
    if (es) es.push(e.expert);
    else byLayer.set(e.layer, [e.expert]);
  }
  return `${p.name}: ${p.interventions.length} interventions (${p.interventions[0]?.mode ?? '-'}) — ${[...byLayer].map(([l, es]) => `L${l}: ${es.join(',')}`).join('  ')}`;
}

/**
 * The experts a random baseline must avoid: a policy's experts, or the top n of a ranking.json.
 * @example
 *   const avoid = loadAvoid('runs/ftri/ranking.json', info, 10);
 */
export function loadAvoid(file: string, info: ModelInfo, n: number | undefined): Policy | { layer: number; expert: number }[] {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new MoteError(
      'E_INPUT',
      `--avoid ${file} is not a readable JSON file (${(e as Error).message}); give a policy JSON or a ranking.json`,
      { file, field: '--avoid' },
    );
  }
  if (!Array.isArray(json)) return loadPolicy(file, info);
  if (n === undefined) throw new MoteError('E_INPUT', '--avoid with a ranking avoids its top N: give --n or --like', { field: '--avoid' });
  return [...readRanking(file)].sort((a, b) => a.rank - b.rank).slice(0, n);
}
