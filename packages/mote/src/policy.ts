// Policy files: read (and validate with the runtime's one validator), write one intervention per line, and
// small helpers over a policy's entries. The vocabulary, schema and validator live in @mote/moe-runtime.

import { readFileSync, mkdirSync } from 'node:fs';
import { writeAtomic } from '@mote/io';
import { dirname } from 'node:path';
import { asMoteError, MoteError } from '@mote/tensor-core';
import { validatePolicy, type ModelInfo, type Policy } from '@mote/moe-runtime';

/** Read and validate a policy file. */
export function loadPolicy(file: string, info?: ModelInfo): Policy {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new MoteError('E_IO', `cannot read policy ${file}: ${(e as Error).message}; fix: check the path`, { file });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new MoteError(
      'E_POLICY',
      `policy ${file} is not valid JSON (${(e as Error).message}); fix: write a JSON object {name?, interventions: [...]}`,
      { file },
    );
  }
  return validatePolicy(json, { info, file });
}

/** Write a policy as pretty JSON (one intervention per line), creating the folder. */
export function writePolicy(file: string, policy: Policy): void {
  try {
    mkdirSync(dirname(file), { recursive: true });
    writeAtomic(file, formatPolicy(policy));
  } catch (e) {
    throw asMoteError(e, file);
  }
}

/** Policy JSON with one intervention per line: readable and diff-friendly. */
export function formatPolicy(policy: Policy): string {
  const { interventions, ...rest } = policy;
  const head = JSON.stringify(rest, null, 2).replace(/\n}$/, '');
  const sep = Object.keys(rest).length ? ',\n' : '\n';
  const body = interventions.map((e) => `    ${JSON.stringify(e)}`).join(',\n');
  return `${head}${sep}  "interventions": [${interventions.length ? `\n${body}\n  ` : ''}]\n}\n`;
}

/** Distinct (layer, expert) pairs a policy touches, in order of first appearance. */
export function policyExperts(policy: Pick<Policy, 'interventions'>): { layer: number; expert: number }[] {
  const seen = new Set<string>();
  const out: { layer: number; expert: number }[] = [];
  for (const e of policy.interventions) {
    const k = `${e.layer}:${e.expert}`;
    if (!seen.has(k)) seen.add(k), out.push({ layer: e.layer, expert: e.expert });
  }
  return out;
}
