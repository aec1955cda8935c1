// @mote/mote: Mixture of Tunable Experts intervention policies — validation, files, builders from fTRI
// rankings, matched random baselines and dose-response sweeps. The runtime applies them; eval measures them.
export {
  validatePolicy,
  loadPolicy,
  writePolicy,
  formatPolicy,
  policyExperts,
  scopesOverlap,
  inScope,
  scopeKey,
  scopeOf,
  INTERVENTION_MODES,
  SCOPE_NAMES,
} from './policy.js';
export type { ValidateOptions } from './policy.js';
export { topNPolicy, sweepPolicies, randomPolicy, randomPolicies, loadRanking } from './builders.js';
export type { RankedExpert, PerLayerCap, TopNOptions, RandomOptions } from './builders.js';
export { mulberry32, shuffleInPlace } from './rng.js';
export type { Policy, Intervention, InterventionMode, TokenScope, ModelInfo } from '@mote/moe-runtime';
export { exportPolicy, EXPORT_SHARD, EXPORT_SIGMOID_OFFSET, EXPORT_LOGIT_EXCLUDE } from './export.js';
export type { ExportOptions, ExportResult } from './export.js';
