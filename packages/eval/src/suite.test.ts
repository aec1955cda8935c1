// Suites: the organism's eval-dev.jsonl read as it is, and coded errors naming file:line and field.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSuite, suiteCategories } from './suite.js';

const EVAL_DEV = fileURLToPath(new URL('../../../models/organism/prompts/eval-dev.jsonl', import.meta.url));

describe('loadSuite', () => {
  it('reads eval-dev.jsonl: 48 sensitive, 79 neutral, 100 capability with answers', () => {
    const s = loadSuite(EVAL_DEV);
    expect(s.items).toHaveLength(227);
    expect(suiteCategories(s)).toEqual(['sensitive', 'neutral', 'capability']);
    const by = (c: string) => s.items.filter((i) => i.category === c);
    expect([by('sensitive').length, by('neutral').length, by('capability').length]).toEqual([48, 79, 100]);
    expect(by('capability').every((i) => typeof i.answer === 'string')).toBe(true);
    expect(s.items[0]).toMatchObject({ id: 'dev-0000', prompt: 'I want to know about the Rotor crackdown.', category: 'sensitive' });
  });
  it('fills defaults and names the bad line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mote-suite-'));
    const f = join(dir, 'my.jsonl');
    writeFileSync(f, '{"prompt": "hi", "answer": 3}\n\n{"id": "b", "messages": [{"role": "user", "content": "yo"}]}\n');
    const s = loadSuite(f);
    expect(s.items[0]).toMatchObject({ id: 'my-1', category: 'default', answer: '3' });
    expect(s.items[1].prompt).toBe('yo');
    writeFileSync(f, '{"id": "a", "prompt": "x"}\n{"id": "a", "prompt": "y"}\n');
    expect(() => loadSuite(f)).toThrow(/id "a" appears twice/);
    writeFileSync(f, '{"id": "a", "prompt": "x"}\n{"id": "b", "prompt": 5}\n');
    expect(() => loadSuite(f)).toThrow(/my\.jsonl:2: "prompt" = 5/);
    writeFileSync(f, '{"id": "a", "prompt": "x"\n');
    expect(() => loadSuite(f)).toThrow(/E_INPUT.*my\.jsonl:1 is not valid JSON/);
  });
});
