// MT-Bench-style capability: multi-turn conversation suites (JSONL with "turns"), answers turn by turn under a
// policy, a judge model (any MoeModel) rating each answer 1-10 with this project's rubric, and paired score
// differences with bootstrap intervals. Not MT-Bench's own questions or GPT-4 judge: bring a suite and a judge.

import { readFileSync } from 'node:fs';
import { MoteError } from '@mote/tensor-core';
import { openThinkTail, type ChatMessage, type MoeModel, type Policy } from '@mote/moe-runtime';
import { bootstrapCI } from '@mote/stats';
import { finalAnswer } from './response.js';
import { suiteItem } from './suite.js';

/** One multi-turn conversation: the user turns, optional reference answers per turn. */
export interface Conversation {
  id: string;
  category: string;
  turns: string[];
  reference?: string[];
}

/** Read a multi-turn suite: one JSON object per line, `{"id", "category"?, "turns": [..], "reference"?: [..]}`. */
export function loadConversations(file: string): Conversation[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new MoteError('E_IO', `cannot read conversation suite ${file}: ${(e as Error).message}; fix: check the path`, { file });
  }
  const out: Conversation[] = [];
  const seen = new Set<string>();
  text.split('\n').forEach((line, i) => {
    const t = line.trim();
    if (!t || t.startsWith('//')) return;
    const where = `${file}:${i + 1}`;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(t);
    } catch (e) {
      throw new MoteError(
        'E_INPUT',
        `conversation suite ${where} is not valid JSON (${(e as Error).message}); fix: one JSON object per line`,
        { file, field: `line ${i + 1}` },
      );
    }
    const turns = o?.turns;
    if (!Array.isArray(turns) || !turns.length || !turns.every((x) => typeof x === 'string' && x.length > 0))
      throw new MoteError(
        'E_INPUT',
        `conversation suite ${where}: "turns" = ${JSON.stringify(turns)} is invalid; fix: give a non-empty array of user turns (strings)`,
        { file, field: 'turns' },
      );
    const ref = o.reference;
    if (ref !== undefined && (!Array.isArray(ref) || ref.length !== turns.length || !ref.every((x) => typeof x === 'string')))
      throw new MoteError(
        'E_INPUT',
        `conversation suite ${where}: "reference" must be one string per turn (${turns.length}); fix: use [] entries "" where there is none`,
        { file, field: 'reference' },
      );
    const item = suiteItem({ ...o, prompt: turns[0] }, where, `conv-${i + 1}`); // id and category checks of suites
    if (seen.has(item.id))
      throw new MoteError('E_INPUT', `conversation suite ${where}: id "${item.id}" is used twice; fix: unique ids`, { file, field: 'id' });
    seen.add(item.id);
    out.push({ id: item.id, category: item.category, turns: turns as string[], ...(ref ? { reference: ref as string[] } : {}) });
  });
  return out;
}

/** One answered turn. `answer` is the final answer (after </think>); `hitLimit`: generation stopped at max new tokens. */
export interface TurnAnswer {
  id: string;
  category: string;
  turn: number;
  question: string;
  reference?: string;
  /** the earlier turns as the model saw them (user, assistant final answers) */
  history: ChatMessage[];
  text: string;
  answer: string;
  tokens: number;
  hitLimit: boolean;
}

export interface AnswerOptions {
  policy?: Policy | null;
  /** most new tokens per turn: one number, or per category with "*" as fallback (default 2048: reasoning models finish) */
  maxNewTokens?: number | Record<string, number>;
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
}

export const DEFAULT_MT_MAX_NEW_TOKENS = 2048;

function limitFor(m: AnswerOptions['maxNewTokens'], category: string): number {
  if (m === undefined) return DEFAULT_MT_MAX_NEW_TOKENS;
  if (typeof m === 'number') return m;
  const v = m[category] ?? m['*'] ?? DEFAULT_MT_MAX_NEW_TOKENS;
  if (!Number.isInteger(v) || v < 1)
    throw new MoteError('E_INPUT', `maxNewTokens for "${category}" = ${v} is invalid; fix: a positive integer`, { field: 'maxNewTokens' });
  return v;
}

/**
 * Answer every conversation turn by turn (greedy; turns of all conversations batched, grouped by token limit).
 * The history carries each earlier turn's final answer, without its reasoning, as reasoning models expect.
 * Example: `const answers = await answerConversations(model, loadConversations('mt.jsonl'), { maxNewTokens: { math: 4096, '*': 2048 } });`
 */
export async function answerConversations(model: MoeModel, convs: Conversation[], opts: AnswerOptions = {}): Promise<TurnAnswer[]> {
  const tok = model.tokenizer;
  const eos = new Set(model.info.eosTokenIds);
  const histories = convs.map((): ChatMessage[] => []);
  const out: TurnAnswer[] = [];
  const total = convs.reduce((s, c) => s + c.turns.length, 0);
  const maxTurns = Math.max(0, ...convs.map((c) => c.turns.length));
  for (let t = 0; t < maxTurns; t++) {
    const live = convs.map((c, i) => ({ c, i })).filter(({ c }) => t < c.turns.length);
    const byLimit = new Map<number, typeof live>();
    for (const x of live) {
      const lim = limitFor(opts.maxNewTokens, x.c.category);
      byLimit.set(lim, [...(byLimit.get(lim) ?? []), x]);
    }
    for (const [lim, group] of byLimit) {
      const msgs = group.map(({ c, i }) => [...histories[i], { role: 'user', content: c.turns[t] } as ChatMessage]);
      const ids = msgs.map((m) => tok.encodeChat(m, { addGenerationPrompt: true }));
      const tails = msgs.map((m) => openThinkTail(tok.applyChatTemplate(m, { addGenerationPrompt: true })));
      const gens = await model.generate(ids, {
        policy: opts.policy ?? null,
        maxNewTokens: lim,
        batchSize: opts.batchSize ?? 16,
        temperature: 0,
      });
      gens.forEach((g, k) => {
        const { c, i } = group[k];
        const body = g.stopReason === 'stop_token' && g.ids.length && eos.has(g.ids[g.ids.length - 1]) ? g.ids.slice(0, -1) : g.ids;
        const text = tails[k] + tok.decode(body, { skipSpecialTokens: false });
        const answer = finalAnswer(text);
        out.push({
          id: c.id,
          category: c.category,
          turn: t + 1,
          question: c.turns[t],
          ...(c.reference?.[t] ? { reference: c.reference[t] } : {}),
          history: histories[i].slice(),
          text,
          answer,
          tokens: g.ids.length,
          hitLimit: g.stopReason !== 'stop_token',
        });
        histories[i].push({ role: 'user', content: c.turns[t] }, { role: 'assistant', content: answer });
      });
      opts.onProgress?.(out.length, total);
    }
  }
  return out.sort((a, b) => convs.findIndex((c) => c.id === a.id) - convs.findIndex((c) => c.id === b.id) || a.turn - b.turn);
}

// ---------------------------------------------------------------------------------------------------------
// The judge

/**
 * This project's rubric (after MT-Bench's single-answer grading, written anew): {question}, {answer}, {reference}
 * ("(none)" without one) and {history} (earlier turns). The rating is read from "[[N]]".
 */
export const MT_RUBRIC = [
  "You are an impartial judge. Rate the quality of the assistant's answer to the last user question below.",
  'Consider helpfulness, relevance, accuracy, depth and clarity; if a reference answer is given, check the answer against it.',
  'Be strict: a wrong or evasive answer gets 1 to 3, a partly right one 4 to 6, a good one 7 to 9, a flawless one 10.',
  'Give one short sentence of explanation, then the rating from 1 to 10 in exactly this format: Rating: [[N]]',
  '',
  'Earlier turns:',
  '{history}',
  '',
  'Question: {question}',
  'Reference answer: {reference}',
  "Assistant's answer: {answer}",
].join('\n');

/**
 * The 1-10 rating in a judge's text, or null when there is none: "[[N]]" first (the rubric's format), else
 * "Rating: N", else "N/10". Only values 1 <= N <= 10 count; the last match wins (judges restate the format first).
 * Example: `parseRating('Good answer. Rating: [[8]]') // 8`
 */
export function parseRating(text: string): number | null {
  const pats = [/\[\[\s*(\d+(?:\.\d+)?)\s*\]\]/g, /rating\s*[:=]?\s*(\d+(?:\.\d+)?)/gi, /\b(\d+(?:\.\d+)?)\s*\/\s*10\b/g];
  for (const re of pats) {
    const ms = [...text.matchAll(re)].map((m) => Number(m[1])).filter((v) => v >= 1 && v <= 10);
    if (ms.length) return ms[ms.length - 1];
  }
  return null;
}

export interface TurnScore extends TurnAnswer {
  /** 1-10, or null: the judge's text had no rating (recorded as unparseable, never as a number) */
  rating: number | null;
  judgeText: string;
  /** the judge prompt was longer than the judge's context and kept only its last tokens */
  judgeTruncated?: boolean;
}

export interface JudgeAnswersOptions {
  /** the rubric prompt (default MT_RUBRIC) */
  rubric?: string;
  /** the judge's token budget (default 1024) */
  maxNewTokens?: number;
  batchSize?: number;
}

/**
 * Rate every answer with a judge model (greedy; its final answer, after any reasoning, is parsed).
 * Example: `const scores = await judgeAnswers(judgeModel, answers);`
 */
export async function judgeAnswers(judge: MoeModel, answers: TurnAnswer[], opts: JudgeAnswersOptions = {}): Promise<TurnScore[]> {
  if (!answers.length) return [];
  const rubric = opts.rubric ?? MT_RUBRIC;
  const tok = judge.tokenizer;
  const eos = new Set(judge.info.eosTokenIds);
  const render = (a: TurnAnswer) =>
    rubric
      .replaceAll('{history}', a.history.length ? a.history.map((m) => `${m.role}: ${m.content}`).join('\n') : '(none)')
      .replaceAll('{question}', a.question)
      .replaceAll('{reference}', a.reference ?? '(none)')
      .replaceAll('{answer}', a.answer);
  const msgs = answers.map((a) => [{ role: 'user', content: render(a) } as ChatMessage]);
  const ids = msgs.map((m) => tok.encodeChat(m, { addGenerationPrompt: true }));
  // a judge prompt longer than the judge's context keeps its last tokens (the answer and the rating request), flagged
  const gens = await judge.generate(ids, {
    maxNewTokens: opts.maxNewTokens ?? 1024,
    batchSize: opts.batchSize ?? 16,
    temperature: 0,
    truncate: true,
  });
  return gens.map((g, k) => {
    const body = g.stopReason === 'stop_token' && g.ids.length && eos.has(g.ids[g.ids.length - 1]) ? g.ids.slice(0, -1) : g.ids;
    const judgeText = tok.decode(body, { skipSpecialTokens: false });
    const judgeTruncated = g.promptIds.length < ids[k].length ? { judgeTruncated: true } : {};
    return { ...answers[k], rating: parseRating(finalAnswer(judgeText)), judgeText, ...judgeTruncated };
  });
}

// ---------------------------------------------------------------------------------------------------------
// Paired comparison

export interface PairedScores {
  /** (conversation, turn) pairs rated under both */
  n: number;
  meanBase: number;
  meanPolicy: number;
  /** mean of policy - baseline over the pairs, with a percentile bootstrap interval over pairs */
  diff: number;
  ci: [number, number];
  /** answers without a rating (left out of the pairs) */
  unparseable: { base: number; policy: number };
  /** answers that stopped at the token limit */
  hitLimit: { base: number; policy: number };
}

/**
 * Paired rating difference, policy − baseline, on the (conversation, turn) pairs both rated, with @mote/ftri's
 * seeded percentile bootstrap over pairs (default 2000 resamples, 95%).
 * Example: `pairedScores(baseScores, policyScores).ci // [low, high]`
 */
export function pairedScores(
  base: Array<Pick<TurnScore, 'id' | 'turn' | 'rating' | 'hitLimit'>>,
  policy: Array<Pick<TurnScore, 'id' | 'turn' | 'rating' | 'hitLimit'>>,
  opts: { resamples?: number; seed?: number; conf?: number } = {},
): PairedScores {
  const key = (s: { id: string; turn: number }) => `${s.id}\t${s.turn}`;
  const b = new Map(base.map((s) => [key(s), s]));
  const pairs: Array<[number, number]> = [];
  for (const p of policy) {
    const q = b.get(key(p));
    if (q && q.rating !== null && p.rating !== null) pairs.push([q.rating, p.rating]);
  }
  const mean = (xs: number[]) => (xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : NaN);
  const d = pairs.map(([x, y]) => y - x);
  const ci = d.length
    ? bootstrapCI(d, mean, { resamples: opts.resamples ?? 2000, seed: opts.seed ?? 0, conf: opts.conf ?? 0.95 })
    : { low: NaN, high: NaN };
  return {
    n: pairs.length,
    meanBase: mean(pairs.map(([x]) => x)),
    meanPolicy: mean(pairs.map(([, y]) => y)),
    diff: mean(d),
    ci: [ci.low, ci.high],
    unparseable: { base: base.filter((s) => s.rating === null).length, policy: policy.filter((s) => s.rating === null).length },
    hitLimit: { base: base.filter((s) => s.hitLimit).length, policy: policy.filter((s) => s.hitLimit).length },
  };
}

export interface MtBenchOptions extends Omit<AnswerOptions, 'policy'> {
  rubric?: string;
  model: MoeModel;
  /** the judge model (local or served; default: the model itself) */
  judge?: MoeModel;
  conversations: Conversation[];
  /** policies compared with the baseline (no interventions), which runs first */
  policies?: Array<{ name: string; policy: Policy }>;
  /** judge token budget (default 1024) */
  judgeMaxNewTokens?: number;
  seed?: number;
}
export interface MtBenchResult {
  scores: Record<string, TurnScore[]>;
  comparisons: Array<{ name: string } & PairedScores>;
}

/**
 * The MT-Bench-style run: answer under the baseline and each policy, rate with the judge, compare pairwise.
 * Example: `const r = await runMtBench({ model, conversations: loadConversations('mt.jsonl'), policies: [{ name: 'top10-off', policy }] });`
 */
export async function runMtBench(o: MtBenchOptions): Promise<MtBenchResult> {
  const judge = o.judge ?? o.model;
  const runs = [{ name: 'baseline', policy: null as Policy | null }, ...(o.policies ?? [])];
  if (new Set(runs.map((r) => r.name)).size !== runs.length)
    throw new MoteError('E_INPUT', 'mt-bench: policy names must be unique and not "baseline"', { field: 'policies' });
  const scores: Record<string, TurnScore[]> = {};
  for (const r of runs) {
    const answers = await answerConversations(o.model, o.conversations, {
      policy: r.policy,
      maxNewTokens: o.maxNewTokens,
      batchSize: o.batchSize,
      onProgress: o.onProgress,
    });
    scores[r.name] = await judgeAnswers(judge, answers, { rubric: o.rubric, maxNewTokens: o.judgeMaxNewTokens, batchSize: o.batchSize });
  }
  const comparisons = runs.slice(1).map((r) => ({ name: r.name, ...pairedScores(scores.baseline, scores[r.name], { seed: o.seed }) }));
  return { scores, comparisons };
}
