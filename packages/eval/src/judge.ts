// The judge contract every judge of @mote/eval implements (types only): what it is given and what it returns.
// The judges themselves are judges.ts, refusal.ts, language.ts and response.ts.

import type { SuiteItem } from './suite.js';

export interface JudgeInput {
  item: SuiteItem;
  text: string;
}
export interface Verdict {
  /** e.g. REFUSED / REASONED / ANSWERED / OTHER */
  label?: string;
  refused?: boolean;
  /** answer judges only; undefined when the item has nothing to compare with */
  correct?: boolean;
}
export interface Judge {
  name: string;
  judge(r: JudgeInput): Verdict | Promise<Verdict>;
  /** optional batched form (model judges generate in one batch) */
  judgeMany?(rs: JudgeInput[]): Promise<Verdict[]>;
}
