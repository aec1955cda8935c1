// Which experts push the organism's refusal up? Direct logit attribution of every expert to the first token of
// its refusal, summed over the sensitive prompts, beside fTRI's routing ranking (report with an agreement section).
// Usage: node docs/examples/refusal-attribution.mjs [organism dir] [out dir]
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '@mote/moe-runtime';
import { expertAttribution, loadPromptSet, rankAgreement, runFtri } from '@mote/ftri';

const org = process.argv[2] ?? new URL('../../models/organism', import.meta.url).pathname;
const out = process.argv[3] ?? mkdtempSync(join(tmpdir(), 'mote-attr-'));
const model = await loadModel(join(org, 'model'));
const prompts = loadPromptSet(join(org, 'prompts', 'ftri.jsonl'));
const chat = (p) => model.tokenizer.encodeChat([{ role: 'user', content: p.prompt }], { addGenerationPrompt: true });
const sensitive = prompts.filter((p) => p.category === 'sensitive').map(chat);

// the first token of the refusal: what the model says first on a sensitive prompt
const [first] = await model.generate([sensitive[0]], { maxNewTokens: 1 });
const target = first.ids[0];
const attribution = await expertAttribution(model, sensitive.map((ids) => ({ ids, target })));

// fTRI on prompt tokens, sensitive vs the rest (the organism refuses exactly its sensitive prompts)
const { ranking } = await runFtri({
  model, prompts, outDir: out, contrast: 'sensitive:rest', permutations: 199, bootstrap: 50, maps: 0, seed: 1,
  compare: [{ name: `direct logit attribution to ${JSON.stringify(model.tokenizer.decode([target]))}`, experts: attribution }],
});
const count = ranking.map((e) => ({ ...e, score: e.count_a - e.count_b })); // the paper's count score
const name = (e) => `L${e.layer}E${e.expert}`;
const top6 = (r) => [...r].sort((a, b) => b.score - a.score).slice(0, 6).map(name).join(' ');
console.log(`target token ${target} ${JSON.stringify(model.tokenizer.decode([target]))}`);
console.log(`attribution top 6: ${top6(attribution)}`);
for (const [label, r] of [['fTRI diff', ranking], ['fTRI count', count]]) {
  const a = rankAgreement(r, attribution, 6);
  console.log(`${label} top 6: ${top6(r)} | overlap ${a.overlap}/6, Spearman ${a.spearman.toFixed(3)} over ${a.n} experts`);
}
console.log(`report: ${join(out, 'report.html')}`);
await model.dispose();
