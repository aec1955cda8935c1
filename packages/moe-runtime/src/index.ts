// @mote/moe-runtime: load Hugging Face MoE checkpoints, run them with router hooks and interventions.
export * from './types.js';
export { loadModel, Model } from './model.js';
export { specFromDir, readConfig } from './load.js';
export { paramCount } from './params.js';
export { ARCHITECTURES, registerArchitecture, type SpecBuilder } from './models/index.js';
export { ATTENTION_BUILDERS } from './attention.js';
export { route, topK, groupTopK, scopeMatches } from './routing.js';
export { validatePolicyShape } from './policy.js';
export { rng, sample, argmax } from './sampling.js';
export type { ModelSpec, RouterSpec, AttentionSpec, RopeSpec, LayerWeights } from './spec.js';
export { ConfigReader } from './spec.js';
export { inspectModel } from './load.js';
export { generateFile, readPromptFile, completedIds, type GenerateFileOptions, type PromptLine } from './batch.js';
export { WEIGHT_DTYPES, weightBits, type WeightDtype } from './quantize.js';
export { cacheRoot, checkpointHash, type CacheStats } from './cache.js';
export { connectModel, type ConnectOptions, type RemoteModel } from './remote.js';
export { ENGINES, ROUTES_FLAG, buildCompletionRequest, parseCompletionResponse, int32Base64, type Engine, type ServedRequest, type ServedResult, type RouteShape } from './served.js';
export { serveModel, type ServeOptions, type ModelServer } from './serve.js';
