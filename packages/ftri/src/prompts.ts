// Prompt sets: JSONL files of {id, prompt, group?, pair_id?, category?, ...attributes} and template grids
// expanded into matched pairs (runs of spaces left by empty slots collapse to one). Validation errors are MoteErrors that name the file, line and field.

import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { parseJsonl, readText, sha256 } from '@mote/io';
import { MoteError, schemaError } from '@mote/tensor-core';

export interface PromptRecord {
  id: string;
  prompt: string;
  /** contrast group (e.g. "sensitive" / "control") */
  group?: string;
  /** prompts sharing a pair_id are matched (they differ only in what the contrast is about) */
  pair_id?: string;
  category?: string;
  [attribute: string]: unknown;
}

const idLike = z.union([z.string().min(1), z.number().finite()]).transform((v) => String(v));
const optLabel = z
  .union([z.string(), z.number().finite()])
  .transform((v) => String(v))
  .optional()
  .nullable();

const recordSchema = z
  .object({
    id: idLike,
    prompt: z.string().min(1, 'must be a non-empty string'),
    group: optLabel,
    pair_id: optLabel,
    category: optLabel,
  })
  .loose();

const RECORD_FIX = 'write each record as {"id": "p1", "prompt": "...", "group"?, "pair_id"?, "category"?}';

function normalise(rec: Record<string, unknown>): PromptRecord {
  const out: PromptRecord = { ...(rec as PromptRecord) };
  for (const k of ['group', 'pair_id', 'category'] as const) if (out[k] === null || out[k] === undefined) delete out[k];
  return out;
}

/** Validate records (ids unique, prompts non-empty); `where` names the source in messages. */
export function validatePromptSet(records: unknown[], where = 'prompt set'): PromptRecord[] {
  const seen = new Map<string, number>();
  return records.map((r, i) => {
    const res = recordSchema.safeParse(r);
    if (!res.success) {
      throw schemaError('E_INPUT', res.error.issues, r, { where: `${where}, record ${i + 1}`, fix: RECORD_FIX });
    }
    const rec = normalise(res.data as Record<string, unknown>);
    const prev = seen.get(rec.id);
    if (prev !== undefined)
      throw new MoteError(
        'E_INPUT',
        `${where}, record ${i + 1}: duplicate id "${rec.id}" (first at record ${prev + 1}); ids must be unique`,
        { field: 'id' },
      );
    seen.set(rec.id, i);
    return rec;
  });
}

/**
 * Read a JSONL prompt set (one JSON object per line; blank lines skipped). Errors name file, line, field.
 */
export function loadPromptSet(file: string): PromptRecord[] {
  const out: PromptRecord[] = [];
  const seen = new Map<string, number>();
  const fix = 'each line must be one JSON object like {"id":"p1","prompt":"..."}';
  for (const { value: obj, line } of parseJsonl(readText(file, 'prompt set'), file, { what: 'prompt set', fix }).lines) {
    const res = recordSchema.safeParse(obj);
    if (!res.success) {
      throw schemaError('E_INPUT', res.error.issues, obj, { where: `${file}:${line}`, file, fix: RECORD_FIX });
    }
    const rec = normalise(res.data as Record<string, unknown>);
    const prev = seen.get(rec.id);
    if (prev !== undefined)
      throw new MoteError('E_INPUT', `${file}:${line}: duplicate id "${rec.id}" (first on line ${prev}); ids must be unique`, {
        file,
        field: 'id',
      });
    seen.set(rec.id, line);
    out.push(rec);
  }
  if (out.length === 0)
    throw new MoteError('E_INPUT', `${file}: no prompts found; expected JSONL lines like {"id":"p1","prompt":"..."}`, { file });
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Template grids

const slotValue = z.union([z.string(), z.object({ value: z.string(), group: z.string().optional() }).loose()]);

export const gridSpecSchema = z
  .object({
    /** e.g. "What happened {time}{place}?" */
    template: z.string().min(1),
    /** slot name -> values; a value may be {value, group, ...attributes} */
    slots: z.record(z.string(), z.array(slotValue).min(1)),
    /**
     * Group rule: the name of the slot that decides the group (each of its values names its group with
     * `group`, or through `map`, or is the group itself), or {slot, map}.
     */
    group: z.union([z.string(), z.object({ slot: z.string(), map: z.record(z.string(), z.string()).optional() })]).optional(),
    /** matched pairs: expansions equal in every slot but the group slot share a pair_id (default true) */
    pairs: z.boolean().optional(),
    id_prefix: z.string().optional(),
    category: z.string().optional(),
    /** attributes copied to every record */
    attributes: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();
export type GridSpec = z.input<typeof gridSpecSchema>;

/**
 * Expand a template grid (object or JSON file) into prompt records: the Cartesian product of slot values,
 * in slot order, with `group` from the group rule, `pair_id` shared by expansions that differ only in the
 * group slot, and `slots` holding the chosen value of each slot.
 */
export function expandGrid(specOrFile: GridSpec | string): PromptRecord[] {
  let raw: unknown = specOrFile;
  const where = typeof specOrFile === 'string' ? specOrFile : 'grid spec';
  if (typeof specOrFile === 'string') {
    try {
      raw = JSON.parse(readFileSync(specOrFile, 'utf8'));
    } catch (e) {
      throw new MoteError('E_INPUT', `cannot read grid spec ${specOrFile}: ${(e as Error).message}`, { file: specOrFile });
    }
  }
  const res = gridSpecSchema.safeParse(raw);
  if (!res.success) {
    throw schemaError('E_INPUT', res.error.issues, raw, {
      where,
      file: typeof specOrFile === 'string' ? specOrFile : undefined,
      fix: 'a grid is {"template":"What happened {time}{place}?","slots":{"time":[...],"place":[...]},"group":"place"}',
    });
  }
  const spec = res.data;
  const slotNames = Object.keys(spec.slots);
  const used = [...spec.template.matchAll(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((m) => m[1]);
  for (const u of used)
    if (!(u in spec.slots))
      throw new MoteError('E_INPUT', `${where}: template uses slot "{${u}}" but slots has no "${u}" (slots: ${slotNames.join(', ')})`, {
        field: `slots.${u}`,
      });
  for (const s of slotNames)
    if (!used.includes(s))
      throw new MoteError('E_INPUT', `${where}: slot "${s}" is not used in the template "${spec.template}"; remove it or add {${s}}`, {
        field: `slots.${s}`,
      });
  const rule = typeof spec.group === 'string' ? { slot: spec.group, map: undefined } : spec.group;
  if (rule && !(rule.slot in spec.slots))
    throw new MoteError('E_INPUT', `${where}: group slot "${rule.slot}" is not a slot (slots: ${slotNames.join(', ')})`, {
      field: 'group',
    });
  const prefix = spec.id_prefix ?? 'grid';
  const pairs = spec.pairs ?? true;
  const vals = slotNames.map((s) => spec.slots[s].map((v) => (typeof v === 'string' ? { value: v } : v)));
  const total = vals.reduce((n, v) => n * v.length, 1);
  const width = String(total - 1).length;
  const out: PromptRecord[] = [];
  const idx = new Array(slotNames.length).fill(0);
  for (let n = 0; n < total; n++) {
    let prompt = spec.template;
    const chosen: Record<string, string> = {};
    const extra: Record<string, unknown> = {};
    for (let s = 0; s < slotNames.length; s++) {
      const v = vals[s][idx[s]];
      chosen[slotNames[s]] = v.value;
      prompt = prompt.split(`{${slotNames[s]}}`).join(v.value);
      for (const [k, x] of Object.entries(v)) if (k !== 'value' && k !== 'group') extra[`${slotNames[s]}_${k}`] = x;
    }
    const rec: PromptRecord = {
      id: `${prefix}-${String(n).padStart(width, '0')}`,
      prompt: prompt.replace(/ {2,}/g, ' ').trim(),
      ...(spec.attributes ?? {}),
      ...extra,
      slots: chosen,
    };
    if (spec.category) rec.category = spec.category;
    if (rule) {
      const s = slotNames.indexOf(rule.slot);
      const v = vals[s][idx[s]] as { value: string; group?: string };
      const g = v.group ?? rule.map?.[v.value] ?? (rule.map ? undefined : v.value);
      if (g === undefined)
        throw new MoteError('E_INPUT', `${where}: group map has no entry for value ${JSON.stringify(v.value)} of slot "${rule.slot}"`, {
          field: 'group.map',
        });
      rec.group = g;
      if (pairs) rec.pair_id = `${prefix}:` + slotNames.map((_name, j) => (j === s ? '*' : String(idx[j]))).join('.');
    }
    out.push(rec);
    for (let s = slotNames.length - 1; s >= 0; s--) {
      if (++idx[s] < vals[s].length) break;
      idx[s] = 0;
    }
  }
  return validatePromptSet(out, where);
}

/** sha256 of the prompt set in canonical form (id, prompt, group, pair_id, category per line). */
export function promptSetHash(records: readonly PromptRecord[]): string {
  return sha256(
    records.map((r) => JSON.stringify([r.id, r.prompt, r.group ?? null, r.pair_id ?? null, r.category ?? null]) + '\n').join(''),
  );
}
