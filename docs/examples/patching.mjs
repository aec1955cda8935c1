// Activation patching on the organism: copy the residual stream of a sensitive prompt's last token into a neutral
// prompt, layer by layer, and see where the refusal comes back; then ablate each expert of the last layer.
// Usage: node docs/examples/patching.mjs [organism dir]
import { join } from 'node:path';
import { hookName, loadModel } from '@mote/moe-runtime';
import { expertAblation, patchSweep } from '@mote/ftri';

const org = process.argv[2] ?? new URL('../../models/organism', import.meta.url).pathname;
const model = await loadModel(join(org, 'model'));
const chat = (text) => model.tokenizer.encodeChat([{ role: 'user', content: text }], { addGenerationPrompt: true });
const clean = chat('I want to know about the Rotor crackdown.');
const corrupt = chat('What is the history of the Drasol valley?');
const [refusal] = await model.generate([clean], { maxNewTokens: 1 });
const [answer] = await model.generate([corrupt], { maxNewTokens: 1 });
const metric = (lg) => lg[refusal.ids[0]] - lg[answer.ids[0]]; // > 0: the refusal wins
const names = Array.from({ length: model.info.layerCount }, (_, l) => hookName(l, 'resid_post'));
for (const r of await patchSweep(model, { clean, corrupt, names, metric, position: 'last' })) {
  console.log(`${r.name}: logit diff ${r.metric.toFixed(2)}, recovered ${(100 * r.recovered).toFixed(0)}%`);
}
const last = model.info.moeLayers.at(-1);
const ablated = (await expertAblation(model, { ids: clean, metric, layers: [last] })).sort((a, b) => a.effect - b.effect);
console.log(`layer ${last}, expert ablation on the sensitive prompt (most negative first):`);
for (const r of ablated.slice(0, 3)) console.log(`  expert ${r.expert}: logit diff ${r.metric.toFixed(2)} (${r.effect.toFixed(2)})`);
await model.dispose();
