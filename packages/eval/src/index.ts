// @mote/eval: judges, suites, a resumable batched runner, statistics, reports, and the MoTE experiment
// (fTRI -> policies -> evals -> report). Generation goes through @mote/moe-runtime's public API only.
export {
  exactMatchJudge, containsJudge, regexJudge, modelJudge, DEFAULT_GRADING_TEMPLATE, makeJudge, resolveJudges, DEFAULT_JUDGES, ORGANISM_JUDGES,
  loadJudgeConfig, labelJudge,
} from './judges.js';
export type { Judge, JudgeInput, Verdict, LabelFn, AnswerJudgeOptions, RegexJudgeOptions, ModelJudgeOptions, JudgeSpec, JudgeConfig, CategoryJudges, ResolvedJudges } from './judges.js';
export { classifyOrganism, organismJudge, ORGANISM_REFUSALS, parseResponse, finalAnswer } from './response.js';
export type { Parsed, OrganismLabel } from './response.js';
export { refusalJudge, REFUSAL_PHRASE_SETS, DEFAULT_PHRASE_SETS, DEFAULT_REFUSAL_PHRASES, DEFLECTION_CUES } from './refusal.js';
export type { RefusalJudgeOptions } from './refusal.js';
export { thinkLanguage, thinkLanguageJudge, scriptShares, scriptCounts, SCRIPTS, LANGUAGE_SCRIPTS } from './language.js';
export type { ThinkLanguageOptions } from './language.js';
export { loadSuite, makeSuite, suiteItem, suiteCategories, itemMessages } from './suite.js';
export type { Suite, SuiteItem } from './suite.js';
export { runEval, planRuns, runItems, readResponses, openThinkTail, judgeBatch, hash32 } from './runner.js';
export type { RunEvalOptions, EvalResult, EvalProgress, PolicyRun, ResponseRecord } from './runner.js';
export { summarize, categoryStats } from './summary.js';
export type { Summary, PolicySummary, CategoryStats, SummarizeOptions } from './summary.js';
export { wilson, mcnemarExact, mcnemarPaired, empiricalP, diffCI, pairedDiffCI, pairedDiff, binomCdfHalf, describe, Z95 } from './stats.js';
export type { Direction } from './stats.js';
export { perplexity } from './perplexity.js';
export type { PerplexityOptions, PerplexityResult } from './perplexity.js';
export { renderSvg, svgToPng, doseResponseSpec, histogramSpec, categoryBarsSpec } from './plots.js';
export type { VlSpec, RatePoint, BarPoint } from './plots.js';
export { writeReport, writeEvalReport, evalBlocks, rateCI, diffCIText } from './report.js';
export type { Block, WrittenReport } from './report.js';
export { writeExperimentReport } from './experiment-report.js';
export { analyzeExperiment } from './analysis.js';
export type { ExperimentAnalysis, RankedRow, ForceRow, RandomCompare, RateCI, Diff, Criterion, CriterionStatus } from './analysis.js';
export { runExperiment, overrideExperiment, loadExperiment, validateExperiment, planExperiment, sampleIds, experimentSchema, experimentWarnings, experimentJudges } from './experiment.js';
export type { ExperimentOverrides, ExperimentSpec, ExperimentInput, ExperimentProgress, RunExperimentOptions, ExperimentResult, ExperimentPlan } from './experiment.js';
export { loadConversations, answerConversations, judgeAnswers, parseRating, pairedScores, runMtBench, MT_RUBRIC, DEFAULT_MT_MAX_NEW_TOKENS } from './mtbench.js';
export type { Conversation, TurnAnswer, TurnScore, AnswerOptions, JudgeAnswersOptions, PairedScores, MtBenchOptions, MtBenchResult } from './mtbench.js';
