// The eval runner: generates every (policy, item) through the runtime in batches, judges the responses and
// appends one JSON line per response to responses.jsonl as it goes. A rerun skips what is done (resume
// after a kill: a torn last line is cut off, nothing is duplicated). Statistics live in summary.ts.

import { appendFileSync, existsSync, mkdirSync, readFileSync, truncateSync, writeFileSync, openSync, fsyncSync, closeSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { MoteError } from '@mote/tensor-core';
import { openThinkTail, type MoeModel, type Policy } from '@mote/moe-runtime';
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
      throw new MoteError('E_INPUT', `eval: policy name "${run.name}" is used twice; fix: give each policy a unique "name"${run.name === 'baseline' ? ' ("baseline" is the run without interventions)' : ''}`, { field: 'name' });
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
  if (!existsSync(file)) return [];
  const text = readFileSync(file, 'utf8');
  const end = text.lastIndexOf('\n') + 1;
  if (end < text.length) truncateSync(file, Buffer.byteLength(text.slice(0, end)));
  const out: ResponseRecord[] = [];
  const seen = new Set<string>();
  text
    .slice(0, end)
    .split('\n')
    .forEach((line, i) => {
      if (!line.trim()) return;
      let r: ResponseRecord;
      try {
        r = JSON.parse(line);
      } catch {
        throw new MoteError('E_INPUT', `${file}:${i + 1} is not a JSON line; fix: delete that line (or the file) and rerun`, { file });
      }
      const k = `${r.policy}\t${r.id}`;
      if (!seen.has(k)) seen.add(k), out.push(r);
    });
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
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, opts.file ?? 'responses.jsonl');
  checkSettings(join(outDir, (opts.file ?? 'responses.jsonl').replace(/\.jsonl$/, '') + '.settings.json'), {
    suite: suite.name,
    model: model.info.dir,
    maxNewTokens,
    temperature,
    topK: opts.topK ?? null,
    topP: opts.topP ?? null,
    seed: temperature > 0 ? seed : null,
  });

  const release = acquireLock(file + '.lock');
  try {
    return await runLocked();
  } finally {
    release();
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
      const pending = items.filter((it) => !done.has(`${run.name}\t${it.id}`));
      let doneHere = items.length - pending.length;
      const progress = () =>
        opts.onProgress?.({ policy: run.name, policyIndex: pi, policyCount: plan.length, done: doneHere, total: items.length, doneAll, totalAll, resumed });
      progress();
      // similar lengths together: less padding per batch
      pending.sort((a, b) => enc(a).ids.length - enc(b).ids.length);
      // balanced chunks (68 items at batch 64 -> 34 + 34, not 64 + 4: a tiny last batch costs as many steps)
      const size = Math.ceil(pending.length / Math.max(1, Math.ceil(pending.length / batchSize)));
      for (let s = 0; s < pending.length; s += size) {
        const chunk = pending.slice(s, s + size);
        const chunkSeed = temperature > 0 ? hash32(`${seed}:${run.name}:${chunk[0].id}`) : undefined;
        const gens = await model.generate(
          chunk.map((it) => enc(it).ids),
          { policy: run.policy, maxNewTokens, temperature, topK: opts.topK, topP: opts.topP, seed: chunkSeed, batchSize },
        );
        if (gens.length !== chunk.length) throw new MoteError('E_RUNTIME', `eval: generate returned ${gens.length} results for ${chunk.length} prompts`);
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
        // one write per batch: a kill loses at most this batch (and a torn line is repaired on resume)
        appendFileSync(file, recs.map((r) => JSON.stringify(r)).join('\n') + '\n');
        for (const r of recs) done.add(`${r.policy}\t${r.id}`);
        fresh.push(...recs);
        doneHere += chunk.length;
        doneAll += chunk.length;
        progress();
      }
    }
    syncFile(file);
    const all = [...existing, ...fresh];
    const names = new Set(runs.map((r) => r.name));
    const records = all.filter((r) => names.has(r.policy));
    const summary = summarize(records, { runs: runs.map((r) => r.name), categories: [...new Set(suite.items.map((i) => i.category))] });
    writeFileSync(join(outDir, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
    return { outDir, file, runs, records, summary };
  }
}

/** Whether a process runs (a zombie, killed but not yet reaped, counts as dead). */
function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // Linux: field 3 of /proc/PID/stat is the state; Z = zombie
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return true;
  }
}

/**
 * One writer per responses file: a second run on the same folder would interleave duplicate lines. A
 * lock left by a killed process (its pid is gone) is taken over.
 */
function acquireLock(lock: string): () => void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lock, 'wx');
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      return () => {
        try {
          unlinkSync(lock);
        } catch {
          /* already gone */
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number(readFileSync(lock, 'utf8'));
      const alive = pidAlive(pid);
      if (alive) throw new MoteError('E_INPUT', `${lock}: another mote process (pid ${pid}) is writing this eval folder; fix: wait for it, or use another --out`, { file: lock });
      unlinkSync(lock); // stale: its writer was killed
    }
  }
  throw new MoteError('E_IO', `${lock}: cannot take the lock; fix: delete the file if no mote process is running`, { file: lock });
}

function syncFile(file: string): void {
  if (!existsSync(file)) return;
  const fd = openSync(file, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Refuse to mix responses generated under different settings in one file. */
function checkSettings(file: string, settings: Record<string, unknown>): void {
  if (existsSync(file)) {
    const old = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    const diff = Object.keys(settings).filter((k) => JSON.stringify(old[k] ?? null) !== JSON.stringify(settings[k] ?? null));
    if (diff.length)
      throw new MoteError('E_INPUT', `${file}: this folder holds responses generated with other settings (${diff.map((k) => `${k}: ${JSON.stringify(old[k])} -> ${JSON.stringify(settings[k])}`).join(', ')}); fix: use a new --out folder, or delete the old one`, { file });
    return;
  }
  writeFileSync(file, JSON.stringify(settings, null, 2) + '\n');
}
