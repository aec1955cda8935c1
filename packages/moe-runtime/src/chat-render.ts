// Chat-template rendering with a time and an output-size limit. A checkpoint's Jinja template is code from the
// model folder: a huge loop would hold the thread and grow the heap until Node dies. So the template runs in
// a worker thread (its own heap limit) that the caller waits on synchronously (Atomics.wait), and a render
// over the time limit terminates the worker. Not the tokenizer (tokenizer.ts).

import { createRequire } from 'node:module';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { MoteError } from '@mote/tensor-core';
import type { ChatMessage } from './types.js';

export interface TemplateLimits {
  /** most milliseconds one render may take (default 10,000) */
  ms?: number;
  /** most characters of output: `fixed` plus `perInput` x the characters of the messages (default 65,536 + 8x) */
  fixed?: number;
  perInput?: number;
  /** heap of the rendering worker in MB (default 512) */
  heapMb?: number;
}

const WORKER = `
const { workerData } = require('node:worker_threads');
const { port, flag, dir, transformers, chatTemplate } = workerData;
const state = new Int32Array(flag);
(async () => {
  const { AutoTokenizer, env } = require(transformers);
  env.allowRemoteModels = false; env.allowLocalModels = true; env.useFSCache = false; env.localModelPath = '/';
  let tok, loadError;
  try { tok = await AutoTokenizer.from_pretrained(dir, { local_files_only: true }); } catch (e) { loadError = String(e && e.message || e); }
  Atomics.store(state, 1, 1);
  Atomics.notify(state, 1);
  port.on('message', ({ messages, options, maxChars }) => {
    let res;
    try {
      if (loadError) throw new Error(loadError);
      const text = tok.apply_chat_template(messages, { tokenize: false, ...options, ...(chatTemplate ? { chat_template: chatTemplate } : {}) });
      res = text.length > maxChars ? { tooLong: text.length } : { text };
    } catch (e) { res = { error: String(e && e.message || e) }; }
    port.postMessage(res);
    Atomics.store(state, 0, 1);
    Atomics.notify(state, 0);
  });
})();
`;

/** A synchronous, bounded render(messages, options) for the tokenizer in `dir`. */
export function boundedRenderer(dir: string, chatTemplate: string | undefined, limits: TemplateLimits = {}) {
  const ms = limits.ms ?? 10_000,
    fixed = limits.fixed ?? 65_536,
    perInput = limits.perInput ?? 8;
  const transformers = createRequire(import.meta.url).resolve('@huggingface/transformers');
  let live: { worker: Worker; port: MessagePort; state: Int32Array; first: boolean } | null = null;
  const start = () => {
    const { port1, port2 } = new MessageChannel();
    const flag = new SharedArrayBuffer(8); // [0]: a reply is ready, [1]: the tokenizer is loaded
    const worker = new Worker(WORKER, {
      eval: true,
      workerData: { port: port2, flag, dir, transformers, chatTemplate },
      transferList: [port2],
      resourceLimits: { maxOldGenerationSizeMb: limits.heapMb ?? 512 },
      stdout: true,
      stderr: true,
    });
    worker.unref();
    port1.unref();
    worker.on('error', () => {}); // an out-of-memory template: reported as the time limit below
    return { worker, port: port1, state: new Int32Array(flag), first: true };
  };
  return (messages: ChatMessage[], options: Record<string, unknown>): string => {
    live ??= start();
    const inputChars = messages.reduce((n, m) => n + String(m.content ?? '').length, 0);
    const maxChars = fixed + perInput * inputChars;
    if (live.first) Atomics.wait(live.state, 1, 0, 120_000); // the worker loads the tokenizer once
    live.first = false;
    Atomics.store(live.state, 0, 0);
    live.port.postMessage({ messages, options, maxChars });
    const waited = Atomics.wait(live.state, 0, 0, ms);
    const reply = receiveMessageOnPort(live.port)?.message as { text?: string; tooLong?: number; error?: string } | undefined;
    if (waited === 'timed-out' || !reply) {
      void live.worker.terminate();
      live = null;
      throw new MoteError(
        'E_LIMIT',
        `the chat template of ${dir} did not finish within ${ms} ms (or ran out of memory); the template loops too long; fix: pass a simpler chatTemplate override`,
        { file: dir, field: 'chat_template' },
      );
    }
    if (reply.tooLong !== undefined)
      throw new MoteError(
        'E_LIMIT',
        `the chat template of ${dir} rendered ${reply.tooLong} characters for ${inputChars} characters of messages (limit ${maxChars}); fix: check the template, or pass a chatTemplate override`,
        { file: dir, field: 'chat_template' },
      );
    if (reply.error !== undefined) throw new Error(reply.error);
    return reply.text!;
  };
}
