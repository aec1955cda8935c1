// @mote/ftri: functional Token Resonance Imaging — prompt sets, routing traces, contrast statistics,
// expert rankings and resonance maps for MoE models loaded by @mote/moe-runtime; and the report page shell
// and plot renderer that every mote report uses.

export { loadPromptSet, expandGrid, type PromptRecord, type GridSpec } from './prompts.js';
export { runFtri, type RunFtriOptions } from './run.js';
export { rankTraces, type RankTracesOptions, type Labeler, type Progress } from './rank.js';
export { contrastActivations } from './contrast.js';
export {
  STATS,
  DEFAULT_STAT,
  describeStat,
  type Activations,
  type RankingEntry,
  type Stat,
  type ContrastOptions,
  type ContrastSummary,
} from './contrast-types.js';
export { BatchTracer, SCOPES, type Scope, type TracerOptions } from './trace.js';
export { readRanking, type RankedExpert } from './ranking-io.js';
export { readManifest, readProgress, readMetas, type Manifest, type PromptMeta, type ProgressEntry } from './store.js';
export { readActivations, readPromptTokens } from './trace-read.js';
export { heatmapSpec, tokenMapSpec, type TokenMapRow } from './maps.js';
export { renderSvg, svgToPng, htmlPage, escapeHtml, inlineSvg, type VlSpec } from './report-page.js';
export { rankAgreement, type RankAgreement, type ScoredExpert } from './agreement.js';
export type { ComparedRanking } from './report.js';
export { expertAttribution, type AttributionEntry, type AttributionItem } from './attribution.js';
export { logitLens, expertLens, type LensRow, type ExpertLensRow, type LensToken, type LensOptions } from './lens.js';
export { patchSweep, expertAblation, type PatchResult, type AblationResult, type LogitMetric } from './patching.js';
