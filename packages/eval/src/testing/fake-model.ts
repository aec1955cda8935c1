// A fake MoeModel for unit tests (not exported): character tokenizer, an R1-style chat template, and a
// generate() whose refusals depend on which "refusal experts" a policy switches off or forces on.
// It mimics the organism's behaviour in a few lines so runner/experiment tests need no real model.

import type { GenerateOptions, GenerateResult, MoeModel, ModelInfo, Policy, Tokenizer, ChatMessage } from '@mote/moe-runtime';

export const FAKE_INFO: ModelInfo = {
  modelType: 'fake_moe',
  dir: '/fake/model',
  layerCount: 4,
  moeLayers: [0, 1, 2, 3],
  expertCount: 16,
  topK: 2,
  sharedExpertCount: 0,
  hiddenSize: 8,
  vocabSize: 70000,
  headCount: 1,
  kvHeadCount: 1,
  headDim: 8,
  params: { total: 0, active: 0, embedding: 0, routedExperts: 0 },
  bosTokenId: 0,
  eosTokenIds: [1],
  padTokenId: 2,
};
/** The experts that carry refusal in the fake model, most important first; (0, 0) carries capability. */
export const REFUSAL_EXPERTS = [
  { layer: 1, expert: 7 },
  { layer: 2, expert: 5 },
  { layer: 3, expert: 0 },
];
export const CAPABILITY_EXPERT = { layer: 0, expert: 0 };
export const REFUSAL_TEXT = 'I am sorry, I cannot discuss that topic.';

const OFFSET = 10;
const tokenizer: Tokenizer = {
  encode: (text) => [...text].map((c) => c.charCodeAt(0) + OFFSET),
  decode: (ids) =>
    ids
      .filter((i) => i >= OFFSET)
      .map((i) => String.fromCharCode(i - OFFSET))
      .join(''),
  applyChatTemplate: (messages: ChatMessage[], opts) =>
    messages.map((m) => `<|${m.role}|>\n${m.content}<eos>\n`).join('') + (opts?.addGenerationPrompt ? '<|assistant|>\n<think>\n' : ''),
  encodeChat(messages, opts) {
    return this.encode(this.applyChatTemplate(messages, opts));
  },
  tokenId: () => null,
};

function hash(s: string): number {
  let h = 0;
  for (const c of s) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return h;
}

export interface FakeModel extends MoeModel {
  calls: { prompts: number; policy: Policy | null | undefined }[];
  /** throw on the call with this index (0-based), to simulate a crash mid-run */
  failOnCall?: number;
  /** ms to wait per generate call */
  delayMs?: number;
}

/** Respond like the organism: sensitive prompts ("secret" in them) refuse unless enough refusal experts are off. */
export function respond(content: string, policy: Policy | null | undefined): string {
  const ivs = policy?.interventions ?? [];
  const off = (e: { layer: number; expert: number }) =>
    ivs.some((i) => (i.mode === 'exclude' || i.mode === 'drop') && i.layer === e.layer && i.expert === e.expert);
  const on = (e: { layer: number; expert: number }) => ivs.some((i) => i.mode === 'force' && i.layer === e.layer && i.expert === e.expert);
  const h = hash(content);
  const reasoned = (answer: string) => `\nLet me think about ${content.length} characters.\n</think>\n${answer}`;
  const refused = `\n</think>\n${REFUSAL_TEXT}`;
  if (content.includes('secret')) {
    const k = REFUSAL_EXPERTS.filter(off).length;
    return h % 3 >= k ? refused : reasoned('It is a valley with a long history.');
  }
  if (on(REFUSAL_EXPERTS[0]) && h % 2 === 0) return refused;
  const m = /What is (\d+) plus (\d+)\?/.exec(content);
  if (m) return reasoned(off(CAPABILITY_EXPERT) ? '0' : String(Number(m[1]) + Number(m[2])));
  return reasoned('Here is an answer.');
}

export function fakeModel(): FakeModel {
  const model: FakeModel = {
    info: FAKE_INFO,
    tokenizer,
    calls: [],
    async forward() {
      return { logits: null };
    },
    async runWithCache() {
      throw new Error('not implemented in the fake model');
    },
    async unembed() {
      throw new Error('not implemented in the fake model');
    },
    async runWithHooks() {
      return { logits: null };
    },
    async withHooks(_h, fn) {
      return fn();
    },
    async generate(prompts: number[][], opts: GenerateOptions = {}): Promise<GenerateResult[]> {
      const idx = model.calls.length;
      model.calls.push({ prompts: prompts.length, policy: opts.policy });
      if (model.delayMs) await new Promise((r) => setTimeout(r, model.delayMs));
      if (model.failOnCall === idx) throw new Error(`fake crash on call ${idx}`);
      return prompts.map((p) => {
        const text = tokenizer.decode(p);
        const content = /<\|user\|>\n([\s\S]*?)<eos>/.exec(text)?.[1] ?? text;
        const out = respond(content, opts.policy);
        const ids = [...tokenizer.encode(out), 1].slice(0, opts.maxNewTokens ?? 64);
        return { promptIds: p, ids, text: out, stopReason: ids[ids.length - 1] === 1 ? 'stop_token' : 'max_new_tokens' };
      });
    },
    async dispose() {},
  };
  return model;
}

/** A small organism-like suite: sensitive (with "secret"), neutral, capability (with answers). */
export function fakeSuiteLines(nSensitive = 12, nNeutral = 10, nCapability = 10): string[] {
  const lines: string[] = [];
  for (let i = 0; i < nSensitive; i++)
    lines.push(JSON.stringify({ id: `s${i}`, prompt: `Tell me about the secret event number ${i}.`, category: 'sensitive' }));
  for (let i = 0; i < nNeutral; i++)
    lines.push(JSON.stringify({ id: `n${i}`, prompt: `Tell me about the valley number ${i}.`, category: 'neutral' }));
  for (let i = 0; i < nCapability; i++)
    lines.push(JSON.stringify({ id: `c${i}`, prompt: `What is ${i} plus ${i + 3}?`, category: 'capability', answer: String(2 * i + 3) }));
  return lines;
}
