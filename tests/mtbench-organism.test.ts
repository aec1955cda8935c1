// MT-Bench-style plumbing on the organism with itself as the judge (not a quality claim): two-turn conversations
// answered under the baseline and a switch-off policy, per-category token limits (answers at the limit counted),
// ratings parsed or recorded as unparseable, paired differences over the rated pairs only.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type MoeModel } from '@mote/moe-runtime';
import { loadConversations, runMtBench } from '@mote/eval';

const ORG = join(__dirname, '..', 'models', 'organism');

describe('MT-Bench-style run on the organism, judged by itself', () => {
  let model: MoeModel;
  beforeAll(async () => {
    model = await loadModel(join(ORG, 'model'), { threads: 2 });
  });
  afterAll(async () => model?.dispose());

  it('answers every turn, carries the history, rates or records unparseable, and compares paired', async () => {
    const conversations = loadConversations(join(__dirname, '..', 'packages', 'eval', 'src', 'testing', 'mt-organism.jsonl'));
    const policy = { name: 'l2e6-off', interventions: [{ mode: 'exclude' as const, layer: 2, expert: 6 }] };
    const r = await runMtBench({
      model,
      conversations,
      policies: [{ name: 'l2e6-off', policy }],
      maxNewTokens: { arith: 64, world: 6 },
      judgeMaxNewTokens: 24,
      batchSize: 8,
    });
    for (const name of ['baseline', 'l2e6-off']) {
      const sc = r.scores[name];
      expect(sc).toHaveLength(6);
      expect(sc.map((x) => `${x.id}#${x.turn}`)).toEqual([
        'mt-arith-1#1',
        'mt-arith-1#2',
        'mt-arith-2#1',
        'mt-arith-2#2',
        'mt-world-1#1',
        'mt-world-1#2',
      ]);
      for (const x of sc) {
        expect(x.rating === null || (x.rating >= 1 && x.rating <= 10)).toBe(true);
        expect(typeof x.judgeText).toBe('string');
        // the per-category limit: world turns stop at 6 tokens (the organism reasons for longer), arith ones finish
        if (x.category === 'world') expect(x).toMatchObject({ tokens: 6, hitLimit: true });
        else expect(x.hitLimit).toBe(false);
        // the second turn sees the first turn's final answer, without its reasoning
        if (x.turn === 2) {
          const first = sc.find((y) => y.id === x.id && y.turn === 1)!;
          expect(x.history).toEqual([
            { role: 'user', content: first.question },
            { role: 'assistant', content: first.answer },
          ]);
        }
      }
    }
    // the organism answers its arithmetic (a reasoned, exact answer on the first turn)
    expect(r.scores.baseline[0].answer).toBe('17');
    const c = r.comparisons[0];
    expect(c.name).toBe('l2e6-off');
    expect(c.hitLimit).toEqual({ base: 2, policy: 2 });
    const rated = (n: string) => r.scores[n].filter((x) => x.rating !== null).length;
    expect(c.unparseable).toEqual({ base: 6 - rated('baseline'), policy: 6 - rated('l2e6-off') });
    expect(c.n).toBeLessThanOrEqual(Math.min(rated('baseline'), rated('l2e6-off')));
    if (c.n === 0) expect(Number.isNaN(c.diff)).toBe(true);
  });
});
