import { it } from 'vitest';
import { loadModel } from '@mote/moe-runtime';
import { readFileSync } from 'node:fs';
it('probe', async () => {
  let t = Date.now();
  const m = await loadModel('models/organism/model', { threads: 2 });
  console.log('load', Date.now() - t);
  const items = readFileSync('models/organism/prompts/eval-dev.jsonl', 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const enc = (it: any) => m.tokenizer.encodeChat([{ role: 'user', content: it.prompt }], { addGenerationPrompt: true });
  const all = items.map(enc);
  const sens = items.filter((i) => i.category === 'sensitive').map(enc);
  const cap = items.filter((i) => i.category === 'capability').map(enc);
  const neu = items.filter((i) => i.category === 'neutral').map(enc);
  await m.generate(sens, { maxNewTokens: 64, batchSize: 64 });
  const time = async (name: string, ps: number[][], bs: number, policy: any = null) => {
    const t = Date.now();
    const out = await m.generate(ps, { maxNewTokens: 64, batchSize: bs, policy });
    const toks = out.reduce((a, o) => a + o.ids.length, 0);
    console.log(name, ps.length, 'bs', bs, Date.now() - t, 'ms', 'tokens', toks);
  };
  await time('all', all, 64);
  await time('all', all, 256);
  await time('sens', sens, 64);
  await time('sens x4', [...sens, ...sens, ...sens, ...sens], 256);
  await time('sens x4', [...sens, ...sens, ...sens, ...sens], 64);
  await time('cap', cap, 128);
  await time('neu', neu, 128);
  await time('sens excl', sens, 64, { interventions: [{ mode: 'exclude', layer: 1, expert: 3 }, { mode: 'exclude', layer: 2, expert: 5 }] });
}, 600000);
