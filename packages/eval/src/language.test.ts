// The think-language judge: organism-lang's README rule (Han share of Han + Latin letters in the think block,
// >= 30% -> ZH, else EN, none -> NONE) on hand-made texts at and around the threshold, script shares, and
// franc-min within one script.
import { describe, expect, it } from 'vitest';
import { scriptShares, thinkLanguage, thinkLanguageJudge } from './language.js';
import { makeJudge } from './judges.js';

const item = { id: 'x', prompt: 'q', category: 'c' };

describe('thinkLanguage: the README rule', () => {
  it('NONE without </think> or without Han and Latin letters', () => {
    expect(thinkLanguage('<think>\n用户问的是画家')).toBe('NONE');
    expect(thinkLanguage('<think>\n\n</think>\nHello')).toBe('NONE');
    expect(thinkLanguage('<think>\n12 + 5 = 17 …\n</think>\n17')).toBe('NONE');
  });
  it('the share is Han / (Han + Latin) in the think block only; >= 0.3 is ZH', () => {
    // 3 Han + 7 Latin = 0.3 exactly -> ZH; 3 Han + 8 Latin = 0.2727 -> EN (spaces, digits and punctuation do not count)
    expect(thinkLanguage('<think>\n画家是 Varmi ab.\n</think>\nVarmi')).toBe('ZH');
    expect(thinkLanguage('<think>\n画家是 Varmi abc.\n</think>\nVarmi')).toBe('EN');
    // the answer's letters are not counted
    expect(thinkLanguage('<think>\n用户问的是画家\n</think>\nThe painter Varmi lives in Rimi and works in a very large studio.')).toBe(
      'ZH',
    );
    expect(thinkLanguage('<think>\nThe user asks about the river.\n</think>\n长江')).toBe('EN');
    // text before <think> is not part of the block; the first </think> ends it
    expect(thinkLanguage('说明<think>\nriver\n</think>\n</think>长江长江')).toBe('EN');
  });
  it('judge spec and labels', () => {
    const j = makeJudge('think-language');
    expect(j.judge({ item, text: '<think>\n用户问的是 Varmi。\n</think>\nVarmi is a potter.' })).toEqual({ label: 'ZH', refused: false });
    expect(() => thinkLanguageJudge({ language: 'xx' })).toThrow(/language "xx" is not known/);
  });
});

describe('script shares and other languages', () => {
  it('scriptShares counts letters of each script', () => {
    expect(scriptShares('用户 asks')).toEqual({ han: 2 / 6, latin: 4 / 6 });
    expect(scriptShares('Привет, world')).toEqual({ cyrillic: 6 / 11, latin: 5 / 11 });
  });
  it('a Cyrillic target (Russian) vs English', () => {
    const ru = '<think>\nПользователь спрашивает о художнике, нужно вспомнить его работы.\n</think>\nVarmi';
    expect(thinkLanguage(ru, { language: 'ru' })).toBe('RU');
    expect(thinkLanguage('<think>\nThe user asks about the painter.\n</think>\nx', { language: 'ru' })).toBe('EN');
  });
  it('within Latin script franc-min tells English from German', () => {
    const de = '<think>\nDer Benutzer fragt nach dem Maler und ich sollte mich an seine Werke erinnern.\n</think>\nVarmi';
    const en = '<think>\nThe user asks about the painter and I should recall his works from the old capital.\n</think>\nVarmi';
    expect(thinkLanguage(en, { language: 'en' })).toBe('EN');
    expect(thinkLanguage(de, { language: 'en' })).toBe('DE');
    expect(thinkLanguage(de, { language: 'de', otherwise: 'zh' })).toBe('DE');
  });
});
