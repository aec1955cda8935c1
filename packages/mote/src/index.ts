// @mote/mote: Mixture of Tunable Experts intervention policies — validation, files, builders from fTRI
// rankings, matched random baselines and dose-response sweeps. The runtime applies them; eval measures them.
export { loadPolicy, writePolicy, formatPolicy, policyExperts } from './policy.js';
// the one validator and the mode names, re-exported from the runtime that applies policies
export { validatePolicy, INTERVENTION_MODES } from '@mote/moe-runtime';
export { topNPolicy, sweepPolicies, randomPolicy, randomPolicies } from './builders.js';
export type { PerLayerCap, TopNOptions, RandomOptions } from './builders.js';
export { policyFiles, loadPolicies, parseScope, parseMode, parseCounts, describePolicy, loadAvoid } from './policy-args.js';
export type { Policy, Intervention, InterventionMode, TokenScope, ModelInfo } from '@mote/moe-runtime';
export { exportPolicy, EXPORT_SHARD, EXPORT_SIGMOID_OFFSET, EXPORT_LOGIT_EXCLUDE } from './export.js';
export type { ExportOptions, ExportResult } from './export.js';
