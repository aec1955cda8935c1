// @mote/eval: judges, suites, a resumable batched runner, summaries, reports, and the MoTE experiment
// (fTRI -> policies -> evals -> report). Generation goes through @mote/moe-runtime's public API only;
// statistics come from @mote/stats, plots and the page shell from @mote/ftri.
export {
  exactMatchJudge,
  containsJudge,
  regexJudge,
  modelJudge,
  makeJudge,
  DEFAULT_JUDGES,
  ORGANISM_JUDGES,
  loadJudgeConfig,
  labelJudge,
} from './judges.js';
export type { Judge, JudgeInput, Verdict, JudgeSpec, JudgeConfig, CategoryJudges } from './judges.js';
export { classifyOrganism, organismJudge } from './response.js';
export type { OrganismLabel } from './response.js';
export { refusalJudge, REFUSAL_PHRASE_SETS, DEFAULT_PHRASE_SETS } from './refusal.js';
export type { RefusalJudgeOptions } from './refusal.js';
export { thinkLanguage, thinkLanguageJudge, scriptShares } from './language.js';
export type { ThinkLanguageOptions } from './language.js';
export { loadSuite, makeSuite } from './suite.js';
export type { Suite, SuiteItem } from './suite.js';
export { runEval, readResponses } from './runner.js';
export type { RunEvalOptions, EvalResult, EvalProgress, PolicyRun, ResponseRecord } from './runner.js';
export { summarize } from './summary.js';
export type { Summary, PolicySummary, CategoryStats } from './summary.js';
export { perplexity } from './perplexity.js';
export type { PerplexityOptions, PerplexityResult } from './perplexity.js';
export { writeReport, writeEvalReport, rateCI } from './report.js';
export type { Block, WrittenReport } from './report.js';
export { runExperiment, type ExperimentProgress, type RunExperimentOptions, type ExperimentResult } from './experiment.js';
export {
  overrideExperiment,
  loadExperiment,
  validateExperiment,
  experimentWarnings,
  type ExperimentSpec,
  type ExperimentInput,
} from './experiment-spec.js';
export type { ExperimentAnalysis, Criterion, CriterionStatus } from './analysis.js';
export { loadConversations, runMtBench, parseRating, pairedScores, MT_RUBRIC, DEFAULT_MT_MAX_NEW_TOKENS } from './mtbench.js';
export type { Conversation, TurnAnswer, TurnScore, PairedScores, MtBenchOptions, MtBenchResult } from './mtbench.js';
