// @mote/ftri: functional Token Resonance Imaging — prompt sets, routing traces, contrast statistics,
// expert rankings and resonance maps for MoE models loaded by @mote/moe-runtime.

export { loadPromptSet, expandGrid, validatePromptSet, promptSetHash, gridSpecSchema, type PromptRecord, type GridSpec } from './prompts.js';
export { runFtri, rankTraces, parseContrast, type RunFtriOptions, type RankTracesOptions, type RankOptions, type Judge, type Progress } from './run.js';
export { contrastActivations, STATS, DEFAULT_STAT, SUM_STATS, describeStat, type Activations, type RankingEntry, type Stat, type Level, type ContrastOptions, type ContrastSummary } from './contrast.js';
export { BatchTracer, SCOPES, FLAG_GENERATED, FLAG_THINK, FLAG_ANSWER, type Scope, type TokenRows, type BatchAggregate, type TracerOptions } from './trace.js';
export { readRanking, writeRanking, RANKING_COLUMNS } from './ranking-io.js';
export {
  readActivations, readManifest, readProgress, readMetas, readPromptTokens, readRunPrompts, modelHash, packageVersions,
  FILES, type Manifest, type ManifestCore, type PromptMeta, type ProgressEntry, type TraceFormat,
} from './store.js';
export { heatmapSpec, tokenMapSpec, renderSvg, svgToPng, type TokenMapRow } from './maps.js';
export {
  fisherExact, benjaminiHochberg, normalQuantile, normalTail, wilsonInterval, riskRatio, logOddsRatio, ksTest, kolmogorovQ, jaccard, quantile,
  permutationTest, bootstrapCI, blocksFromStrata, permuteWithinBlocks, zFor, type Alternative, type PermutationOptions,
} from './stats.js';
export { createRng, type Rng } from './rng.js';
export { VERSION } from './version.js';
