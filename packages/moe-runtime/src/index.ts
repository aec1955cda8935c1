// @mote/moe-runtime: load Hugging Face MoE checkpoints, run them with router hooks and interventions.
export * from './types.js';
export type { MoeModel } from './moe-model.js';
export { loadModel, Model } from './model.js';
export { specFromDir, readConfig } from './load.js';
export { paramCount } from './params.js';
export { ARCHITECTURES, CONFIG_FIELDS, registerArchitecture, type SpecBuilder } from './models/index.js';
export { checkConfigFields, COMMON_FIELDS, type ConfigFieldRule, type ConfigFieldTable } from './config-fields.js';
export { ATTENTION_BUILDERS } from './attention.js';
export { route, topK, groupTopK } from './routing.js';
export {
  validatePolicy,
  inScope,
  INTERVENTION_MODES,
  SCOPE_NAMES,
  modeSchema,
  scopeSchema,
  type ValidatePolicyOptions,
  type ScopedToken,
} from './policy.js';
export { sample, argmax } from './sampling.js';
export { openThinkTail } from './tokenizer.js';
export type { ModelSpec, RouterSpec, AttentionSpec, RopeSpec, LayerWeights } from './spec.js';
export { ConfigReader } from './spec.js';
export { inspectModel } from './load.js';
export { generateFile, readPromptFile, policyHash, type GenerateFileOptions, type PromptLine } from './batch.js';
export { WEIGHT_DTYPES, weightBits, nbitsBlock, requantMxfp4, type WeightDtype } from './quantize.js';
export { cacheRoot, type CacheStats } from './cache.js';
export { convertCheckpoint } from './convert-checkpoint.js';
export { checkpointHash } from './cache-key.js';
export { listCache, removeCache, type CacheEntry } from './cache-admin.js';
export { estimateMemory, memoryAvailable, resolveDtype, type MemoryEstimate } from './memory.js';
export { ActivationCache, allHookNames, selectHookNames, type ActivationMasks } from './activations.js';
export { connectModel, type ConnectOptions, type RemoteModel } from './remote.js';
export {
  ENGINES,
  ROUTES_FLAG,
  buildCompletionRequest,
  parseCompletionResponse,
  int32Base64,
  type Engine,
  type ServedRequest,
  type ServedResult,
  type RouteShape,
} from './served.js';
export { serveModel, type ServeOptions, type ModelServer } from './serve.js';
export { planModel, formatPlan, PLAN_DTYPES, PLAN_GPU, type Plan, type PlanOptions, type PlanDtype } from './plan.js';
