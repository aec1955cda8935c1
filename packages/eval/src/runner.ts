// The eval runner: generates every (policy, item) through the runtime in batches, judges the responses and
// appends one JSON line per response to responses.jsonl as it goes. A rerun skips what is done (resume
// after a kill: a torn last line is cut off, nothing is duplicated). Statistics live in summary.ts.

import { join } from 'node:path';
import { appendJsonl, hashJson, modelHash, openRunFolder, readJsonlLines, writeAtomic } from '@mote/io';
import { MoteError } from '@mote/tensor-core';
import { openThinkTail, policyHash, type MoeModel, type Policy } from '@mote/moe-runtime';
import { itemMessages, type Suite, type SuiteItem } from './suite.js';
import { resolveJudges, type JudgeConfig, type ResolvedJudges, type Verdict, type JudgeInput } from './judges.js';
import { summarize, type ResponseRecord, type Summary } from './summary.js';

export type { ResponseRecord };

/** One policy to evaluate, optionally on a subset of the suite (categories and/or ids). */
export interface PolicyRun {
  name: string;
  /** null = baseline (no intervention) */
  policy: Policy | null;
  categories?: string[];
  ids?: string[];
}

export interface EvalProgress {
  policy: string;
  policyIndex: number;
  policyCount: number;
  /** items done for this policy (including ones done by an earlier run) */
  done: number;
  total: number;
  /** all (policy, item) pairs of the run */
  doneAll: number;
  totalAll: number;
  /** pairs skipped because an earlier run finished them */
  resumed: number;
}

export interface RunEvalOptions {
  model: MoeModel;
  suite: Suite;
  /** policies (or subsets per policy); the baseline is added first unless baseline: false */
  policies?: (Policy | PolicyRun)[];
  outDir: string;
  baseline?: boolean;
  /** judges per category (default DEFAULT_JUDGES), or a resolver */
  judges?: JudgeConfig | ((category: string) => ResolvedJudges);
  /** default 64 (the eos counts as one) */
  maxNewTokens?: number;
  /** sequences per generate call (default 64) */
  batchSize?: number;
  /** 0 / undefined = greedy */
  temperature?: number;
  topK?: number;
  topP?: number;
  /** base seed for sampling; each generate call gets a seed derived from it, the policy and its first item */
  seed?: number;
  onProgress?: (p: EvalProgress) => void;
  /** file name under outDir (default responses.jsonl) */
  file?: string;
  /** the weight dtype the model was loaded with, for the run manifest (default f32) */
  dtype?: string;
  /** discard what an earlier run with other settings left in outDir and start over */
  forceNew?: boolean;
}

export interface EvalResult {
  outDir: string;
  file: string;
  runs: PolicyRun[];
  records: ResponseRecord[];
  summary: Summary;
}

/** Normalise policies into named runs; the baseline first. Names must be unique. */
export function planRuns(policies: (Policy | PolicyRun)[] = [], baseline = true): PolicyRun[] {
  const runs: PolicyRun[] = baseline ? [{ name: 'baseline', policy: null }] : [];
  policies.forEach((p, i) => {
    const run: PolicyRun = 'interventions' in p ? { name: (p as Policy).name ?? `policy${i + 1}`, policy: p as Policy } : (p as PolicyRun);
    if (runs.some((r) => r.name === run.name))
      throw new MoteError(
        'E_INPUT',
        `eval: policy name "${run.name}" is used twice; fix: give each policy a unique "name"${run.name === 'baseline' ? ' ("baseline" is the run without interventions)' : ''}`,
        { field: 'name' },
      );
    runs.push(run);
  });
  return runs;
}

export function runItems(run: PolicyRun, suite: Suite): SuiteItem[] {
  const cats = run.categories ? new Set(run.categories) : null;
  const ids = run.ids ? new Set(run.ids) : null;
  return suite.items.filter((it) => (!cats || cats.has(it.category)) && (!ids || ids.has(it.id)));
}

/**
 * Read responses.jsonl. A torn last line (a kill during a write) is cut off the file; duplicate
 * (policy, id) pairs keep the first.
 */
export function readResponses(file: string): ResponseRecord[] {
  const out: ResponseRecord[] = [];
  const seen = new Set<string>();
  for (const { value: r } of readJsonlLines<ResponseRecord>(file, {
    resume: true,
    what: 'responses file',
    fix: 'rerun with --force-new to start over',
  })) {
    const k = `${r.policy}\t${r.id}`;
    if (!seen.has(k)) seen.add(k), out.push(r);
  }
  return out;
}

/** 32-bit FNV-1a of a string: stable seeds from names. */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

interface Encoded {
  ids: number[];
  prefix: string;
}

/** Tokenises items once per model (chat template with generation prompt). */
export function encoder(model: MoeModel): (item: SuiteItem) => Encoded {
  const cache = new Map<string, Encoded>();
  return (item) => {
    let e = cache.get(item.id);
    if (!e) {
      const msgs = itemMessages(item);
      e = {
        ids: model.tokenizer.encodeChat(msgs, { addGenerationPrompt: true }),
        prefix: openThinkTail(model.tokenizer.applyChatTemplate(msgs, { addGenerationPrompt: true })),
      };
      cache.set(item.id, e);
    }
    return e;
  };
}

/** Run judges over a batch: the refusal judge and (where the category has one) the answer judge. */
export async function judgeBatch(inputs: JudgeInput[], judgesFor: (category: string) => ResolvedJudges): Promise<Verdict[]> {
  const out: Verdict[] = inputs.map(() => ({}));
  const groups = new Map<string, number[]>();
  inputs.forEach((r, i) => groups.set(r.item.category, [...(groups.get(r.item.category) ?? []), i]));
  for (const [cat, idx] of groups) {
    const j = judgesFor(cat);
    for (const judge of [j.refusal, j.answer]) {
      if (!judge) continue;
      const rs = idx.map((i) => inputs[i]);
      const vs = judge.judgeMany ? await judge.judgeMany(rs) : await Promise.all(rs.map((r) => judge.judge(r)));
      vs.forEach((v, k) => {
        const o = out[idx[k]];
        if (judge === j.refusal) Object.assign(o, { label: v.label, refused: v.refused });
        else if (v.correct !== undefined) o.correct = v.correct;
        if (judge !== j.refusal && o.label === undefined && v.label) o.label = v.label;
      });
    }
  }
  return out;
}

/** Generate, judge and record every (policy, item) not yet in outDir/responses.jsonl. */
export async function runEval(opts: RunEvalOptions): Promise<EvalResult> {
  const { model, suite, outDir } = opts;
  const maxNewTokens = opts.maxNewTokens ?? 64;
  const batchSize = Math.max(1, opts.batchSize ?? 64);
  const temperature = opts.temperature ?? 0;
  const seed = opts.seed ?? 0;
  const runs = planRuns(opts.policies, opts.baseline ?? true);
  const judgesFor = typeof opts.judges === 'function' ? opts.judges : resolveJudges(opts.judges, { gradingModel: model });
  const file = join(outDir, opts.file ?? 'responses.jsonl');
  let hash: string;
  try {
    hash = modelHash(model.info.dir);
  } catch {
    hash = 'info:' + hashJson(model.info); // a model without a folder (synthetic)
  }
  // results are kept per (policy name, item); a policy's content hash keys its name, so an edited policy
  // that keeps its name is a changed setting, not a resume
  const run = openRunFolder(outDir, {
    kind: 'eval',
    forceNew: opts.forceNew,
    grow: ['policies'],
    settings: {
      suite: hashJson(suite.items),
      model: hash,
      dtype: opts.dtype ?? model.info.dtype ?? 'f32',
      judges: typeof opts.judges === 'function' ? 'custom' : hashJson(opts.judges ?? null),
      maxNewTokens,
      temperature,
      topK: opts.topK ?? null,
      topP: opts.topP ?? null,
      seed: temperature > 0 ? seed : null,
      batchSize,
      policies: Object.fromEntries(runs.map((r) => [r.name, policyHash(r.policy)])),
    },
    recorded: { suiteName: suite.name, modelDir: model.info.dir },
  });
  try {
    return await runLocked();
  } finally {
    run.release();
  }

  async function runLocked(): Promise<EvalResult> {
    const existing = readResponses(file);
    const done = new Set(existing.map((r) => `${r.policy}\t${r.id}`));
    const enc = encoder(model);
    const plan = runs.map((run) => ({ run, items: runItems(run, suite) }));
    const totalAll = plan.reduce((s, p) => s + p.items.length, 0);
    let doneAll = plan.reduce((s, p) => s + p.items.filter((it) => done.has(`${p.run.name}\t${it.id}`)).length, 0);
    const resumed = doneAll;
    const fresh: ResponseRecord[] = [];

    for (const [pi, { run, items }] of plan.entries()) {
      let doneHere = items.filter((it) => done.has(`${run.name}\t${it.id}`)).length;
      const progress = () =>
        opts.onProgress?.({
          policy: run.name,
          policyIndex: pi,
          policyCount: plan.length,
          done: doneHere,
          total: items.length,
          doneAll,
          totalAll,
          resumed,
        });
      progress();
      // Chunks are fixed by the run's items, not by what is left, so a resumed run generates exactly the
      // batches of an uninterrupted one. Similar lengths together: less padding per batch. Balanced sizes
      // (68 items at batch 64 -> 34 + 34, not 64 + 4: a tiny last batch costs as many steps).
      const order = [...items].sort((a, b) => enc(a).ids.length - enc(b).ids.length);
      const size = Math.ceil(order.length / Math.max(1, Math.ceil(order.length / batchSize)));
      for (let s = 0; s < order.length; s += size) {
        const chunk = order.slice(s, s + size);
        if (chunk.every((it) => done.has(`${run.name}\t${it.id}`))) continue;
        const chunkSeed = temperature > 0 ? hash32(`${seed}:${run.name}:${chunk[0].id}`) : undefined;
        const gens = await model.generate(
          chunk.map((it) => enc(it).ids),
          { policy: run.policy, maxNewTokens, temperature, topK: opts.topK, topP: opts.topP, seed: chunkSeed, batchSize },
        );
        if (gens.length !== chunk.length)
          throw new MoteError('E_RUNTIME', `eval: generate returned ${gens.length} results for ${chunk.length} prompts`);
        const inputs: JudgeInput[] = chunk.map((item, k) => {
          const g = gens[k];
          const ids = g.stopReason === 'stop_token' ? g.ids.slice(0, -1) : g.ids;
          return { item, text: enc(item).prefix + (ids.length ? model.tokenizer.decode(ids, { skipSpecialTokens: false }) : '') };
        });
        const verdicts = await judgeBatch(inputs, judgesFor);
        const recs: ResponseRecord[] = chunk.map((item, k) => ({
          policy: run.name,
          id: item.id,
          category: item.category,
          label: verdicts[k].label ?? (verdicts[k].refused ? 'REFUSED' : 'OTHER'),
          refused: verdicts[k].refused ?? false,
          ...(verdicts[k].correct !== undefined ? { correct: verdicts[k].correct } : {}),
          text: inputs[k].text,
          tokens: gens[k].ids.length,
          stop: gens[k].stopReason,
          ...(chunkSeed !== undefined ? { seed: chunkSeed } : {}),
        }));
        // one append per batch: a kill leaves a prefix of this batch's lines (and a torn line, cut on
        // resume); the rerun appends the rest in order
        const missing = recs.filter((r) => !done.has(`${r.policy}\t${r.id}`));
        appendJsonl(file, missing);
        for (const r of missing) done.add(`${r.policy}\t${r.id}`);
        fresh.push(...missing);
        doneHere += missing.length;
        doneAll += missing.length;
        progress();
      }
    }
    const all = [...existing, ...fresh];
    const names = new Set(runs.map((r) => r.name));
    const records = all.filter((r) => names.has(r.policy));
    const summary = summarize(records, { runs: runs.map((r) => r.name), categories: [...new Set(suite.items.map((i) => i.category))] });
    writeAtomic(join(outDir, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
    return { outDir, file, runs, records, summary };
  }
}
