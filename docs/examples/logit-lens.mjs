// The logit lens on the organism: at which layer does its refusal's first token become the top prediction, and
// which chosen experts write it directly? Usage: node docs/examples/logit-lens.mjs [organism dir]
import { join } from 'node:path';
import { loadModel } from '@mote/moe-runtime';
import { expertLens, logitLens } from '@mote/ftri';

const org = process.argv[2] ?? new URL('../../models/organism', import.meta.url).pathname;
const model = await loadModel(join(org, 'model'));
const ids = model.tokenizer.encodeChat([{ role: 'user', content: 'I want to know about the Rotor crackdown.' }], { addGenerationPrompt: true });
const [first] = await model.generate([ids], { maxNewTokens: 1 });
const target = first.ids[0];
const show = (id) => JSON.stringify(model.tokenizer.decode([id]));
for (const r of await logitLens(model, ids, { target })) {
  console.log(`${r.name}: refusal token rank ${r.target.rank}, top ${r.top.slice(0, 3).map((t) => show(t.id)).join(' ')}`);
}
for (const r of await expertLens(model, ids, { target })) {
  console.log(`layer ${r.layer} expert ${r.expert} (weight ${r.weight.toFixed(2)}): refusal token rank ${r.target.rank}, top ${show(r.top[0].id)}`);
}
await model.dispose();
