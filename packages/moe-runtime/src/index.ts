// @mote/moe-runtime: load Hugging Face MoE checkpoints, run them with router hooks and interventions.
export * from './types.js';
export { loadModel, Model } from './model.js';
export { specFromDir, readConfig } from './load.js';
export { paramCount } from './params.js';
export { ARCHITECTURES, CONFIG_FIELDS, registerArchitecture, type SpecBuilder } from './models/index.js';
export { checkConfigFields, COMMON_FIELDS, type ConfigFieldRule, type ConfigFieldTable } from './config-fields.js';
export { ATTENTION_BUILDERS } from './attention.js';
export { route, topK, groupTopK } from './routing.js';
export { validatePolicy, inScope, INTERVENTION_MODES, SCOPE_NAMES, modeSchema, scopeSchema, type ValidatePolicyOptions, type ScopedToken } from './policy.js';
export { sample, argmax } from './sampling.js';
export { openThinkTail } from './tokenizer.js';
export type { ModelSpec, RouterSpec, AttentionSpec, RopeSpec, LayerWeights } from './spec.js';
export { ConfigReader } from './spec.js';
export { inspectModel } from './load.js';
export { generateFile, readPromptFile, policyHash, type GenerateFileOptions, type PromptLine } from './batch.js';
export { WEIGHT_DTYPES, weightBits, type WeightDtype } from './quantize.js';
export { cacheRoot, checkpointHash, type CacheStats } from './cache.js';
