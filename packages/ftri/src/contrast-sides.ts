// The contrast spec of a ranking, "A:B": parsing it, matching prompts to its sides (a label, group or category
// name, or key=value; B may be "rest"), the default when none is given, and errors that list what the prompt
// set offers. Not the statistics (contrast.ts).

import { MoteError } from '@mote/tensor-core';
import type { PromptRecord } from './prompts.js';
import type { PromptMeta } from './store.js';

/** "A:B" -> sides; each side a label/group/category name or key=value; B may be "rest". */
export function parseContrast(spec: string): { a: string; b: string } {
  const m = /^([^:]+):([^:]+)$/.exec(spec?.trim() ?? '');
  if (!m)
    throw new MoteError('E_INPUT', `contrast "${spec}" must look like A:B (e.g. REFUSED:rest, sensitive:neutral, group=x:group=y)`, {
      field: 'contrast',
    });
  return { a: m[1].trim(), b: m[2].trim() };
}

function matcher(name: string): (rec: PromptRecord, meta: PromptMeta) => boolean {
  const eq = name.indexOf('=');
  if (eq > 0) {
    const key = name.slice(0, eq),
      val = name.slice(eq + 1);
    return (rec, meta) => (key === 'label' ? meta.label === val : rec[key] !== undefined && String(rec[key]) === val);
  }
  return (rec, meta) => meta.label === name || rec.group === name || rec.category === name;
}

export function defaultContrast(prompts: PromptRecord[], labelled: boolean): string {
  if (labelled) return 'REFUSED:rest';
  for (const key of ['group', 'category'] as const) {
    const vals = [...new Set(prompts.map((p) => p[key]).filter((v): v is string => v !== undefined))];
    if (vals.length === 2) return `${vals[0]}:${vals[1]}`;
  }
  throw new MoteError(
    'E_INPUT',
    `no contrast given and none implied: pass contrast "A:B" (--contrast) naming groups or categories (${describeValues(prompts, [])}), or label responses with a judge (--label)`,
    { field: 'contrast' },
  );
}

export function checkContrastNames(spec: string, prompts: PromptRecord[]): void {
  const { a, b } = parseContrast(spec);
  for (const name of b === 'rest' ? [a] : [a, b]) {
    const eq = name.indexOf('=');
    if (eq > 0 && name.slice(0, eq) === 'label')
      throw new MoteError('E_INPUT', `contrast side "${name}" needs labels: pass a judge (--label)`, { field: 'contrast' });
    const m = matcher(name);
    if (!prompts.some((p) => m(p, { id: p.id, index: 0, n_tokens: 0, n_prompt_tokens: 0, n_generated: 0 })))
      throw new MoteError('E_INPUT', `contrast side "${name}" matches no prompt; available: ${describeValues(prompts, [])}`, {
        field: 'contrast',
      });
  }
}

function describeValues(prompts: PromptRecord[], metas: PromptMeta[]): string {
  const parts: string[] = [];
  const labels = countBy(metas.map((m) => m.label).filter((v): v is string => v !== undefined));
  if (Object.keys(labels).length) parts.push(`labels ${fmtCounts(labels)}`);
  for (const key of ['group', 'category'] as const) {
    const c = countBy(prompts.map((p) => p[key]).filter((v): v is string => v !== undefined));
    if (Object.keys(c).length) parts.push(`${key}s ${fmtCounts(c)}`);
  }
  return parts.join('; ') || 'no labels, groups or categories in the prompt set';
}

const fmtCounts = (c: Record<string, number>): string =>
  Object.entries(c)
    .map(([k, v]) => `${k} (${v})`)
    .join(', ');

export function countBy(xs: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return out;
}

/** The prompts (indices into metas) on each side of `contrast`; E_INPUT when a side is empty or they overlap. */
export function selectSides(
  contrast: string,
  metas: PromptMeta[],
  recOf: Map<string, PromptRecord>,
  prompts: PromptRecord[],
  tracesDir: string,
): { nameA: string; nameB: string; a: number[]; b: number[] } {
  const { a: nameA, b: nameB } = parseContrast(contrast);
  const matchA = matcher(nameA),
    matchB = nameB === 'rest' ? null : matcher(nameB);
  const a: number[] = [],
    b: number[] = [];
  metas.forEach((m, i) => {
    const rec = recOf.get(m.id) ?? { id: m.id, prompt: '' };
    if (matchA(rec, m)) a.push(i);
    else if (matchB ? matchB(rec, m) : true) b.push(i);
  });
  if (!a.length || !b.length) {
    throw new MoteError(
      'E_INPUT',
      `contrast "${contrast}" selects ${a.length} prompts for A and ${b.length} for B in ${tracesDir}; both need prompts. Available: ${describeValues(prompts, metas)}`,
      { field: 'contrast' },
    );
  }
  if (matchB) {
    const both = metas.filter((m) => matchA(recOf.get(m.id)!, m) && matchB(recOf.get(m.id)!, m));
    if (both.length)
      throw new MoteError(
        'E_INPUT',
        `contrast "${contrast}": prompt "${both[0].id}" matches both A and B; make the sides disjoint (e.g. label=X:group=Y)`,
        { field: 'contrast' },
      );
  }
  return { nameA, nameB, a, b };
}
