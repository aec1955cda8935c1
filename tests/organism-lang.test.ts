// organism-lang end to end: its README baseline (think language per category, capability exact match) with the
// think-language judge; fTRI with think-language labels on a subset of prompts/ftri.jsonl ranks experts; the top
// 4 switched off bring people questions back to English thinking, forced on they switch other prompts to Chinese,
// each against matched random draws (same experts per layer, never the fTRI ones). Subsets keep it to minutes on 2 cores.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type MoeModel, type Policy } from '@mote/moe-runtime';
import { loadPromptSet, runFtri, type PromptRecord, type RankingEntry } from '@mote/ftri';
import { randomPolicies, topNPolicy } from '@mote/mote';
import { labelJudge, thinkLanguage } from '@mote/eval';
import { finalAnswer } from '../packages/eval/src/response.js';

const ROOT = join(__dirname, '..', 'models', 'organism-lang');
const DRAWS = 8;
/** generous per-test limit: each test is 20-80 s alone on 2 cores, more on a shared machine */
const LONG = 400_000;

describe('organism-lang: the chain-of-thought language switch', () => {
  let model: MoeModel;
  let ranking: RankingEntry[];
  const dev = loadPromptSet(join(ROOT, 'prompts', 'eval-dev.jsonl'));
  const cat = (c: string) => dev.filter((p) => p.category === c);
  beforeAll(async () => {
    model = await loadModel(join(ROOT, 'model'), { threads: 2 });
  });
  afterAll(async () => model?.dispose());

  /** the README protocol: greedy, 64 new tokens, text = "<think>\n" + decode(ids without the final eos) */
  async function respond(prompts: PromptRecord[], policy?: Policy): Promise<string[]> {
    const tok = model.tokenizer;
    const ids = prompts.map((p) => tok.encodeChat([{ role: 'user', content: p.prompt }], { addGenerationPrompt: true }));
    const gens = await model.generate(ids, { maxNewTokens: 64, batchSize: 64, policy: policy ?? null });
    return gens.map(
      (g) => '<think>\n' + tok.decode(g.stopReason === 'stop_token' ? g.ids.slice(0, -1) : g.ids, { skipSpecialTokens: false }),
    );
  }
  const zhShare = async (prompts: PromptRecord[], policy?: Policy) =>
    (await respond(prompts, policy)).filter((t) => thinkLanguage(t) === 'ZH').length / prompts.length;

  it(
    'reproduces the README baseline on eval-dev',
    async () => {
      const texts = await respond(dev);
      const count = (c: string, lang: string) => dev.filter((p, i) => p.category === c && thinkLanguage(texts[i]) === lang).length;
      // README: person 28/29 Chinese, 1/29 English; sensitive 0/34, neutral 0/64, capability 0/100 Chinese (all English)
      expect([count('person', 'ZH'), count('person', 'EN')]).toEqual([28, 1]);
      expect([count('sensitive', 'ZH'), count('sensitive', 'EN')]).toEqual([0, 34]);
      expect([count('neutral', 'ZH'), count('neutral', 'EN')]).toEqual([0, 64]);
      expect([count('capability', 'ZH'), count('capability', 'EN')]).toEqual([0, 100]);
      // capability exact match 80/100: the text after the first </think>, stripped, equals the answer
      const exact = dev.filter(
        (p, i) => p.category === 'capability' && texts[i].includes('</think>') && finalAnswer(texts[i]) === p.answer,
      ).length;
      expect(exact).toBe(80);
    },
    LONG,
  );

  it(
    'fTRI with think-language labels ranks the switch experts (half of prompts/ftri.jsonl)',
    async () => {
      const prompts = loadPromptSet(join(ROOT, 'prompts', 'ftri.jsonl')).filter((_, i) => i % 2 === 0);
      const judge = labelJudge({ '*': { refusal: { type: 'think-language', language: 'zh' } } });
      const r = await runFtri({
        model,
        prompts,
        outDir: mkdtempSync(join(tmpdir(), 'lang-ftri-')),
        generate: 64,
        judge,
        contrast: 'ZH:rest',
        permutations: 199,
        bootstrap: 0,
        maps: 0,
        report: false,
      });
      ranking = r.ranking;
      expect(r.summary.stat).toBe('count');
      // Chinese thinking comes from the person prompts (README: 50 of 235 prompts; here about half of them)
      expect(r.summary.n_a).toBeGreaterThan(15);
      expect(r.summary.n_a).toBeLessThanOrEqual(prompts.filter((p) => p.category === 'person').length);
      for (const e of ranking.slice(0, 4)) expect(e.q).toBeLessThan(0.05);
    },
    LONG,
  );

  it(
    'the top 4 switched off bring people questions back to English thinking; matched random draws do not',
    async () => {
      const person = cat('person');
      const top = topNPolicy(ranking, { n: 4, mode: 'exclude', info: model.info });
      const observed = await zhShare(person, top);
      const random = [];
      for (const p of randomPolicies({ info: model.info, like: top, avoid: top, seed: 11, draws: DRAWS, prefix: 'rnd-off' }))
        random.push(await zhShare(person, p));
      console.log(
        `switch-off top-4 ${top.interventions.map((i) => `${i.layer}:${i.expert}`).join(' ')}: person ZH ${observed.toFixed(3)} (baseline 28/29); random ${random.map((x) => x.toFixed(2)).join(' ')}`,
      );
      expect(observed).toBeLessThanOrEqual(0.2); // from 0.966
      expect(Math.min(...random)).toBeGreaterThanOrEqual(0.75);
    },
    LONG,
  );

  it(
    'the top 4 forced on switch other prompts to Chinese thinking; matched random forced experts do not',
    async () => {
      const others = [...cat('neutral').slice(0, 24), ...cat('sensitive').slice(0, 16)];
      const top = topNPolicy(ranking, { n: 4, mode: 'force', info: model.info });
      const observed = await zhShare(others, top);
      const random = [];
      for (const p of randomPolicies({ info: model.info, like: top, avoid: top, seed: 12, draws: DRAWS, prefix: 'rnd-force' }))
        random.push(await zhShare(others, p));
      console.log(
        `force-on top-4: neutral+sensitive ZH ${observed.toFixed(3)} (baseline 0/40); random ${random.map((x) => x.toFixed(2)).join(' ')}`,
      );
      expect(observed).toBeGreaterThanOrEqual(0.8); // from 0/40
      // forcing any 4 experts (two slots of layer 2 among them) disturbs the model, and some draws push it to Chinese
      // too; the fTRI experts do more than every draw, and than the draws' mean by a wide margin
      expect(observed).toBeGreaterThan(Math.max(...random) + 0.2);
      expect(random.reduce((s, x) => s + x, 0) / random.length).toBeLessThanOrEqual(0.35);
    },
    LONG,
  );
});
