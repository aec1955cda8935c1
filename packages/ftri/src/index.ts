// @mote/ftri: functional Token Resonance Imaging — prompt sets, routing traces, contrast statistics,
// expert rankings and resonance maps for MoE models loaded by @mote/moe-runtime.

export { loadPromptSet, expandGrid, validatePromptSet, promptSetHash, gridSpecSchema, type PromptRecord, type GridSpec } from './prompts.js';
export { runFtri, rankTraces, parseContrast, type RunFtriOptions, type RankTracesOptions, type RankOptions, type Labeler, type Progress } from './run.js';
export { contrastActivations, STATS, type Activations, type RankingEntry, type Stat, type Level, type ContrastOptions, type ContrastSummary } from './contrast.js';
export { BatchTracer, SCOPES, FLAG_GENERATED, FLAG_THINK, FLAG_ANSWER, type Scope, type TokenRows, type BatchAggregate, type TracerOptions } from './trace.js';
export { readRanking, writeRanking, RANKING_COLUMNS, type RankedExpert } from './ranking-io.js';
export {
  readActivations, readManifest, readProgress, readMetas, readPromptTokens, readRunPrompts, modelHash, packageVersions,
  FILES, type Manifest, type ManifestCore, type PromptMeta, type ProgressEntry, type TraceFormat,
} from './store.js';
export { heatmapSpec, tokenMapSpec, type TokenMapRow } from './maps.js';
export { renderSvg, svgToPng, htmlPage, escapeHtml, inlineSvg, type VlSpec } from './report-page.js';
export { VERSION } from './version.js';
