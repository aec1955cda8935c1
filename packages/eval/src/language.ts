// The language of a response's <think> segment: script shares (Han, Latin, Cyrillic, ...) and a judge whose
// default rule is organism-lang's README rule (ZH / EN / NONE by the Han share of Han + Latin letters). Within
// one script (English vs German, Russian vs Ukrainian) it asks franc-min's trigram language ID. Not a translator.

import { franc } from 'franc-min';
import { MoteError } from '@mote/tensor-core';
import type { Judge } from './judge.js';
import { parseResponse } from './response.js';

/** Scripts counted by scriptShares, as Unicode ranges. `han` is the CJK Unified Ideographs block of the README rule. */
export const SCRIPTS: Record<string, RegExp> = {
  han: /[\u4E00-\u9FFF]/,
  latin: /[A-Za-z]/,
  cyrillic: /[\u0400-\u04FF]/,
  arabic: /[\u0600-\u06FF]/,
  devanagari: /[\u0900-\u097F]/,
  hangul: /[\uAC00-\uD7AF]/,
  kana: /[\u3040-\u30FF]/,
  greek: /[\u0370-\u03FF]/,
};
/** The script each label's language is written in (labels are upper-case ISO 639-1 codes). */
export const LANGUAGE_SCRIPTS: Record<string, string> = {
  ZH: 'han',
  EN: 'latin',
  DE: 'latin',
  FR: 'latin',
  ES: 'latin',
  IT: 'latin',
  PT: 'latin',
  NL: 'latin',
  RU: 'cyrillic',
  UK: 'cyrillic',
  AR: 'arabic',
  HI: 'devanagari',
  KO: 'hangul',
  JA: 'kana',
  EL: 'greek',
};
/** franc's ISO 639-3 codes for the labels above. */
const FRANC_CODES: Record<string, string> = {
  cmn: 'ZH',
  eng: 'EN',
  deu: 'DE',
  fra: 'FR',
  spa: 'ES',
  ita: 'IT',
  por: 'PT',
  nld: 'NL',
  rus: 'RU',
  ukr: 'UK',
  arb: 'AR',
  hin: 'HI',
  kor: 'KO',
  jpn: 'JA',
  ell: 'EL',
};

/** Characters of each script in `text` (only scripts with at least one character), and their total. */
export function scriptCounts(text: string): { counts: Record<string, number>; total: number } {
  const counts: Record<string, number> = {};
  let total = 0;
  for (const ch of text)
    for (const [name, re] of Object.entries(SCRIPTS))
      if (re.test(ch)) {
        counts[name] = (counts[name] ?? 0) + 1;
        total++;
        break;
      }
  return { counts, total };
}

/**
 * Share of each script among the script characters of `text` (letters of the SCRIPTS table; digits, spaces and
 * punctuation are not counted). Example: `scriptShares('用户 asks')` -> `{ han: 1/3, latin: 2/3 }`.
 */
export function scriptShares(text: string): Record<string, number> {
  const { counts, total } = scriptCounts(text);
  return Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, v / total]));
}

export interface ThinkLanguageOptions {
  /** the target language (ISO 639-1, e.g. "zh"; default "zh"); its label is the upper-case code */
  language?: string;
  /** the label of think blocks not in the target language (default "en", or "zh" when the target is "en") */
  otherwise?: string;
  /** a think block is in the target language when its script has at least this share of the scripts counted (default 0.3) */
  threshold?: number;
  /**
   * which scripts the share is taken over: 'pair' (default: the target's and the other label's scripts, e.g. Han
   * and Latin: exactly the README rule for zh; every script when both are the same) or 'all' (every script in SCRIPTS)
   */
  over?: 'pair' | 'all';
  /** ask franc-min when the target shares its script with other languages (default: true for Latin or Cyrillic targets) */
  franc?: boolean;
}

/** The label of one response's think block: the language's upper-case code, or NONE (no closed think block / no letters). */
export function thinkLanguage(text: string, opts: ThinkLanguageOptions = {}): string {
  const lang = (opts.language ?? 'zh').toUpperCase(),
    other = (opts.otherwise ?? (lang === 'EN' ? 'zh' : 'en')).toUpperCase();
  const script = LANGUAGE_SCRIPTS[lang];
  if (!script) {
    const known = Object.keys(LANGUAGE_SCRIPTS)
      .map((l) => l.toLowerCase())
      .join(', ');
    throw new MoteError('E_INPUT', `think-language judge: language "${opts.language}" is not known; fix: use one of ${known}`, {
      field: 'language',
    });
  }
  const threshold = opts.threshold ?? 0.3;
  const c = text.indexOf('</think>');
  if (c < 0) return 'NONE';
  const think = parseResponse(text).think;
  const { counts } = scriptCounts(think);
  const otherScript = LANGUAGE_SCRIPTS[other] ?? 'latin';
  const scripts = (opts.over ?? 'pair') === 'pair' && otherScript !== script ? [script, otherScript] : Object.keys(SCRIPTS);
  const total = scripts.reduce((s, k) => s + (counts[k] ?? 0), 0);
  if (total === 0) return 'NONE';
  if ((counts[script] ?? 0) / total < threshold) return other;
  const shared = Object.values(LANGUAGE_SCRIPTS).filter((s) => s === script).length > 1;
  if (opts.franc ?? shared) {
    const code = franc(think, { minLength: 10 });
    const got = FRANC_CODES[code];
    if (got && LANGUAGE_SCRIPTS[got] === script) return got === lang ? lang : got;
  }
  return lang;
}

/**
 * The think-language judge: label = thinkLanguage(text) (e.g. ZH / EN / NONE). `refused` stays false: the
 * behaviour an experiment counts is `label === language` (ExperimentSpec.behaviour).
 * Example: `thinkLanguageJudge().judge({ item, text: '<think>\n用户问的是 Varmi。\n</think>\nVarmi is a potter.' }) // {label: 'ZH'}`
 */
export function thinkLanguageJudge(opts: ThinkLanguageOptions = {}): Judge {
  thinkLanguage('', opts); // validate the options now
  return { name: 'think-language', judge: ({ text }) => ({ label: thinkLanguage(text, opts), refused: false }) };
}
