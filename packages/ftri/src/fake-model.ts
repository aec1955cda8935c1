// A synthetic MoeModel for tests and examples: a word-level tokenizer with an R1-style chat template and a
// router whose choices are pseudo-random except for planted (layer, expert) pairs that fire on prompts
// containing a trigger word. It calls hooks exactly as the runtime's contract says; there is no network.
// Not part of the public API. Shapes: N rows of a call, E experts, K top-k.

import { hookName } from '@mote/moe-runtime';
import type { GenerateOptions, GenerateResult, HookMap, MoeModel, Tensor, TokenInfo, Hook, ForwardOptions } from '@mote/moe-runtime';

export interface FakeModelOptions {
  layers?: number;
  experts?: number;
  topK?: number;
  /** prompts containing this word route to the planted experts and "refuse" when generating */
  trigger?: string;
  /** [layer, expert] pairs that the trigger makes likely */
  planted?: Array<[number, number]>;
  /** probability that a planted expert is chosen on a token of a triggered prompt */
  strength?: number;
  seed?: number;
}

const SPECIAL = ['<bos>', '<eos>', '<pad>', '<|user|>', '<|assistant|>', '<think>', '</think>', '\n'];

function hash32(...xs: number[]): number {
  let h = 0x811c9dc5;
  for (const x of xs) {
    h ^= x & 0xffffffff;
    h = Math.imul(h, 0x01000193) >>> 0;
    h ^= h >>> 13;
    h = Math.imul(h, 0x5bd1e995) >>> 0;
  }
  return (h ^ (h >>> 15)) >>> 0;
}

export function createFakeModel(opts: FakeModelOptions = {}): MoeModel & { calls: { forward: number; generate: number } } {
  const L = opts.layers ?? 4,
    E = opts.experts ?? 16,
    K = opts.topK ?? 2;
  const trigger = opts.trigger ?? 'secret';
  const planted = opts.planted ?? [
    [1, 5],
    [3, 12],
  ];
  const strength = opts.strength ?? 0.8;
  const seed = opts.seed ?? 1;
  const vocab = [...SPECIAL];
  const idOf = new Map(vocab.map((t, i) => [t, i]));
  // word ids from a hash of the word, so that every instance and every call order agree
  const word = (w: string): number => {
    let id = idOf.get(w);
    if (id === undefined) {
      let h = 0;
      for (let i = 0; i < w.length; i++) h = hash32(h, w.charCodeAt(i));
      id = SPECIAL.length + (h % 4000);
      while (vocab[id] !== undefined && vocab[id] !== w) id++;
      vocab[id] = w;
      idOf.set(w, id);
    }
    return id;
  };
  const words = (s: string): string[] => s.split(/(\s+)/).filter((x) => x.length && !/^\s+$/.test(x));
  const encode = (s: string): number[] => words(s).map(word);
  const decode = (ids: number[], o?: { skipSpecialTokens?: boolean }): string => {
    let out = '';
    for (const id of ids) {
      const t = vocab[id] ?? '?';
      if (o?.skipSpecialTokens && id < 7) continue;
      out += id < SPECIAL.length ? t : (out && !out.endsWith('\n') ? ' ' : '') + t;
    }
    return out;
  };
  const chatIds = (prompt: string): number[] => [0, 3, 7, ...encode(prompt), 1, 7, 4, 7, 5, 7];
  const calls = { forward: 0, generate: 0 };

  /** route one call: rows over all sequences; triggered[s] says whether sequence s carries the trigger */
  function runHooks(hooks: HookMap | undefined, tokens: TokenInfo[], triggered: boolean[], seqKey: number[]): void {
    const N = tokens.length;
    for (let l = 0; l < L; l++) {
      const probs = new Float32Array(N * E); // [N, E]
      const ids = new Int32Array(N * K); // [N, K]
      const w = new Float32Array(N * K); // [N, K]
      for (let i = 0; i < N; i++) {
        const t = tokens[i];
        const logits = new Float64Array(E);
        for (let e = 0; e < E; e++) logits[e] = (hash32(seed, l, e, t.tokenId, t.pos) / 4294967296) * 3;
        if (triggered[t.seq]) {
          for (const [pl, pe] of planted)
            if (pl === l && hash32(seed, 99, l, pe, t.tokenId, t.pos, seqKey[t.seq]) / 4294967296 < strength) logits[pe] += 10;
        }
        let z = 0;
        const mx = Math.max(...logits);
        for (let e = 0; e < E; e++) z += Math.exp(logits[e] - mx);
        for (let e = 0; e < E; e++) probs[i * E + e] = Math.exp(logits[e] - mx) / z;
        const order = Array.from({ length: E }, (_, e) => e).sort((a, b) => logits[b] - logits[a]);
        let s = 0;
        for (let k = 0; k < K; k++) s += probs[i * E + order[k]];
        for (let k = 0; k < K; k++) {
          ids[i * K + k] = order[k];
          w[i * K + k] = probs[i * E + order[k]] / s;
        }
      }
      const call = (point: 'router_probs' | 'topk_ids' | 'topk_weights', t: Tensor): void => {
        const h = hooks?.[hookName(l, point)];
        for (const fn of (Array.isArray(h) ? h : h ? [h] : []) as Hook[])
          fn(t, { layer: l, point, name: hookName(l, point), tokens, expertCount: E, topK: K });
      };
      call('router_probs', { dtype: 'float32', shape: [N, E], data: probs });
      call('topk_ids', { dtype: 'int32', shape: [N, K], data: ids });
      call('topk_weights', { dtype: 'float32', shape: [N, K], data: w });
    }
  }

  const infoRows = (seqs: number[][], from: number[], generated: boolean, thinkState: boolean[]): TokenInfo[] => {
    const rows: TokenInfo[] = [];
    seqs.forEach((ids, s) => {
      for (let p = from[s]; p < ids.length; p++) {
        const id = ids[p];
        if (id === 5) {
          rows.push({ seq: s, pos: p, tokenId: id, generated, inThink: false });
          thinkState[s] = true;
        } else if (id === 6) {
          rows.push({ seq: s, pos: p, tokenId: id, generated, inThink: false });
          thinkState[s] = false;
        } else rows.push({ seq: s, pos: p, tokenId: id, generated, inThink: thinkState[s] });
      }
    });
    return rows;
  };
  const isTriggered = (ids: number[]): boolean => ids.includes(word(trigger));
  /** routing depends on a sequence's content, never on its place in a batch */
  const keyOf = (ids: number[]): number => hash32(...ids);

  const model: MoeModel & { calls: typeof calls } = {
    calls,
    info: {
      modelType: 'fake_moe',
      dir: '',
      layerCount: L,
      moeLayers: Array.from({ length: L }, (_, i) => i),
      expertCount: E,
      topK: K,
      sharedExpertCount: 0,
      hiddenSize: 8,
      vocabSize: 4096,
      headCount: 1,
      kvHeadCount: 1,
      headDim: 8,
      params: { total: 0, active: 0, embedding: 0, routedExperts: 0 },
      bosTokenId: 0,
      eosTokenIds: [1],
      padTokenId: 2,
    },
    tokenizer: {
      encode: (text) => encode(text),
      decode,
      applyChatTemplate: (msgs, o) =>
        `<bos><|user|>\n${msgs[msgs.length - 1].content}<eos>\n` + (o?.addGenerationPrompt ? '<|assistant|>\n<think>\n' : ''),
      encodeChat: (msgs) => chatIds(msgs[msgs.length - 1].content),
      tokenId: (t) => idOf.get(t) ?? null,
    },
    async forward(batch: number[][], o?: ForwardOptions) {
      calls.forward++;
      runHooks(
        o?.hooks,
        infoRows(
          batch,
          batch.map(() => 0),
          false,
          batch.map(() => false),
        ),
        batch.map(isTriggered),
        batch.map(keyOf),
      );
      return { logits: null };
    },
    async runWithCache() {
      throw new Error('not implemented in the fake model');
    },
    async unembed() {
      throw new Error('not implemented in the fake model');
    },
    async runWithHooks(batch, o) {
      return model.forward(batch, o);
    },
    async withHooks(_h, fn) {
      return fn();
    },
    async generate(prompts: number[][], o: GenerateOptions = {}): Promise<GenerateResult[]> {
      calls.generate++;
      const max = o.maxNewTokens ?? 16;
      const trig = prompts.map(isTriggered);
      const think = prompts.map(() => false);
      const seqs = prompts.map((p) => [...p]);
      const keys = prompts.map(keyOf);
      runHooks(
        o.hooks,
        infoRows(
          seqs,
          seqs.map(() => 0),
          false,
          think,
        ),
        trig,
        keys,
      );
      const scripts = prompts.map((p, s) =>
        trig[s]
          ? [7, 6, 7, ...encode('I am sorry, I cannot discuss that topic.'), 1]
          : [...encode(`Let me think about ${p.length} words carefully`), 7, 6, 7, ...encode('The answer is fine.'), 1],
      );
      const out: number[][] = prompts.map(() => []);
      const doneAt = prompts.map(() => false);
      for (let step = 0; step < max; step++) {
        const from = seqs.map((x) => x.length);
        let any = false;
        seqs.forEach((x, s) => {
          if (doneAt[s]) return;
          const next = scripts[s][step] ?? 1;
          out[s].push(next);
          if (next === 1) doneAt[s] = true;
          else x.push(next), (any = true);
        });
        if (!any) break;
        // feed the new tokens (not the eos) through the router
        const rowsSeqs = seqs.map((x, s) => (x.length > from[s] ? x : []));
        const starts = seqs.map((x, s) => (x.length > from[s] ? from[s] : 0));
        runHooks(o.hooks, infoRows(rowsSeqs, starts, true, think), trig, keys);
        if (out.every((x, s) => doneAt[s] || x.length >= max)) break;
      }
      return prompts.map((p, s) => ({
        promptIds: p,
        ids: out[s],
        text: decode(out[s], { skipSpecialTokens: true }),
        stopReason: out[s][out[s].length - 1] === 1 ? 'stop_token' : 'max_new_tokens',
      }));
    },
    async dispose() {},
  };
  return model;
}
