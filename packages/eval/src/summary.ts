// Summaries of judged responses: per policy and category, refusal rates and accuracy with Wilson intervals,
// McNemar's exact test and a paired accuracy difference against the baseline on the same items.
// The shape is summary.json's (see README); pure functions, no I/O.

import { wilson, mcnemarPaired, pairedDiff } from '@mote/stats';

/** One judged response, a line of responses.jsonl (written by the runner, read by the summaries). */
export interface ResponseRecord {
  policy: string;
  id: string;
  category: string;
  label: string;
  refused: boolean;
  correct?: boolean;
  /** the judged text: the prompt's open "<think>\n" + decoded continuation (special tokens kept, stop token cut) */
  text: string;
  /** generated tokens, stop token included */
  tokens: number;
  stop: 'stop_token' | 'stop_string' | 'max_new_tokens';
  seed?: number;
}

export interface CategoryStats {
  n: number;
  refused: number;
  refusal_rate: number;
  refusal_ci: [number, number];
  /** label -> count (REFUSED / REASONED / OTHER / ...) */
  labels: Record<string, number>;
  /** items with an answer judged */
  n_answer?: number;
  correct?: number;
  accuracy?: number;
  accuracy_ci?: [number, number];
  /** against the baseline on the same items (absent for the baseline itself) */
  mcnemar_p?: number;
  /** refusal-rate change (policy - baseline) on the paired items */
  refusal_diff?: number;
  refusal_diff_ci?: [number, number];
  accuracy_diff?: number;
  accuracy_diff_ci?: [number, number];
}
export interface PolicySummary {
  name: string;
  n: number;
  categories: Record<string, CategoryStats>;
  /** McNemar exact on refusals over every item paired with the baseline */
  mcnemar_p?: number;
}
export interface Summary {
  baseline: string | null;
  policies: PolicySummary[];
}

export interface SummarizeOptions {
  /** policy names in output order (default: order of first appearance) */
  runs?: string[];
  /** category order (default: order of first appearance) */
  categories?: string[];
  /** the reference run (default "baseline" when present) */
  baseline?: string;
}

export function summarize(records: readonly ResponseRecord[], opts: SummarizeOptions = {}): Summary {
  const runs = opts.runs ?? [...new Set(records.map((r) => r.policy))];
  const cats = opts.categories ?? [...new Set(records.map((r) => r.category))];
  const byRun = new Map<string, Map<string, ResponseRecord>>();
  for (const r of records) {
    if (!byRun.has(r.policy)) byRun.set(r.policy, new Map());
    byRun.get(r.policy)!.set(r.id, r);
  }
  const baseName = opts.baseline ?? (byRun.has('baseline') || runs.includes('baseline') ? 'baseline' : null);
  const base = baseName ? byRun.get(baseName) : undefined;
  const policies = runs.map((name): PolicySummary => {
    const mine = [...(byRun.get(name)?.values() ?? [])];
    const categories: Record<string, CategoryStats> = {};
    for (const cat of cats) {
      const rs = mine.filter((r) => r.category === cat);
      if (!rs.length) continue;
      categories[cat] = categoryStats(rs, name !== baseName ? base : undefined);
    }
    const out: PolicySummary = { name, n: mine.length, categories };
    if (base && name !== baseName) {
      const paired = mine.filter((r) => base.has(r.id));
      if (paired.length)
        out.mcnemar_p = mcnemarPaired(
          paired.map((r) => base.get(r.id)!.refused),
          paired.map((r) => r.refused),
        ).p;
    }
    return out;
  });
  return { baseline: baseName, policies };
}

export function categoryStats(rs: readonly ResponseRecord[], base?: Map<string, ResponseRecord>): CategoryStats {
  const n = rs.length;
  const refused = rs.filter((r) => r.refused).length;
  const labels: Record<string, number> = {};
  for (const r of rs) labels[r.label] = (labels[r.label] ?? 0) + 1;
  const s: CategoryStats = { n, refused, refusal_rate: n ? refused / n : 0, refusal_ci: wilson(refused, n), labels };
  const judged = rs.filter((r) => r.correct !== undefined);
  if (judged.length) {
    const correct = judged.filter((r) => r.correct).length;
    Object.assign(s, { n_answer: judged.length, correct, accuracy: correct / judged.length, accuracy_ci: wilson(correct, judged.length) });
  }
  if (base) {
    const paired = rs.filter((r) => base.has(r.id));
    if (paired.length) {
      const b = paired.map((r) => base.get(r.id)!);
      s.mcnemar_p = mcnemarPaired(
        b.map((r) => r.refused),
        paired.map((r) => r.refused),
      ).p;
      const rd = pairedDiff(
        paired.map((r) => r.refused),
        b.map((r) => r.refused),
      );
      s.refusal_diff = rd.diff;
      s.refusal_diff_ci = rd.ci;
      const pj = paired.filter((r, i) => r.correct !== undefined && b[i].correct !== undefined);
      if (pj.length) {
        const d = pairedDiff(
          pj.map((r) => !!r.correct),
          pj.map((r) => !!base.get(r.id)!.correct),
        );
        s.accuracy_diff = d.diff;
        s.accuracy_diff_ci = d.ci;
      }
    }
  }
  return s;
}
