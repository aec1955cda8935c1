// Structural checks of an intervention policy against a loaded model, done by the runtime before it
// applies one. @mote/mote adds the richer validation (conflicts, files) on top of the same format.

import { MoteError } from '@mote/tensor-core';
import type { ModelInfo, Policy } from './types.js';

const MODES = ['exclude', 'drop', 'force', 'scale', 'bias'];

export function validatePolicyShape(policy: Policy, info: ModelInfo, file = 'policy'): void {
  const bad = (where: string, msg: string): never => {
    throw new MoteError('E_POLICY', `${file}: ${where}: ${msg}`, { file, field: where });
  };
  if (!policy || typeof policy !== 'object' || !Array.isArray(policy.interventions)) {
    bad('interventions', 'a policy is {"name": ..., "interventions": [ ... ]}; "interventions" must be an array');
  }
  policy.interventions.forEach((iv, i) => {
    const where = `interventions[${i}]`;
    if (!iv || typeof iv !== 'object') bad(where, 'each intervention is an object {mode, layer, expert, ...}');
    if (!MODES.includes(iv.mode)) bad(`${where}.mode`, `mode ${JSON.stringify(iv.mode)} is not one of ${MODES.join(', ')}`);
    if (!Number.isInteger(iv.layer) || !info.moeLayers.includes(iv.layer)) {
      bad(`${where}.layer`, `layer ${JSON.stringify(iv.layer)} has no routed experts in ${info.modelType}; MoE layers are ${info.moeLayers.join(', ')}`);
    }
    if (!Number.isInteger(iv.expert) || iv.expert < 0 || iv.expert >= info.expertCount) {
      bad(`${where}.expert`, `expert ${JSON.stringify(iv.expert)} is outside 0..${info.expertCount - 1}`);
    }
    if ((iv.mode === 'scale' || iv.mode === 'bias') && (typeof iv.value !== 'number' || !Number.isFinite(iv.value))) {
      bad(`${where}.value`, `mode ${iv.mode} needs a finite numeric "value", got ${JSON.stringify(iv.value)}`);
    }
    if (iv.mode === 'scale' && (iv.value as number) < 0) bad(`${where}.value`, `scale factor ${iv.value} must be >= 0`);
    const s = iv.scope;
    const okScope = s === undefined || ['all', 'prompt', 'generated', 'think'].includes(s as string) ||
      (typeof s === 'object' && s !== null && Number.isInteger(s.from) && Number.isInteger(s.to) && s.from >= 0 && s.to > s.from);
    if (!okScope) bad(`${where}.scope`, `scope ${JSON.stringify(s)} must be "all", "prompt", "generated", "think" or {"from": a, "to": b} with 0 <= a < b`);
  });
}
