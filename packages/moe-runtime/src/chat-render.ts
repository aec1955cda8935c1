// Chat-template rendering with a time, a memory and an output-size limit. A checkpoint's Jinja template is code
// from the model folder: a huge loop holds the thread, and a huge list (range(1e9)) takes V8 past its heap limit,
// which aborts the whole process even inside a worker thread. So the template renders in a child process (its
// own heap, --max-old-space-size) that a worker thread relays to, and the caller waits on that worker
// synchronously (sync-worker.ts): a render over the time limit kills both; a dead renderer is E_LIMIT and the
// next render starts a new one. Not the tokenizer (tokenizer.ts).

import { createRequire } from 'node:module';
import { MoteError } from '@mote/tensor-core';
import { syncWorker } from './sync-worker.js';
import type { ChatMessage } from './types.js';

export interface TemplateLimits {
  /** most milliseconds one render may take (default 10,000) */
  ms?: number;
  /** most characters of output: `fixed` plus `perInput` x the characters of the messages (default 65,536 + 8x) */
  fixed?: number;
  perInput?: number;
  /** heap of the rendering process in MB (default 512) */
  heapMb?: number;
}

const FIX = "fix: restore the checkpoint's chat_template in tokenizer_config.json, or pass a simpler chatTemplate override";

/** The renderer process: loads the tokenizer once, then renders each request it is sent. */
const CHILD = `
const { dir, transformers, chatTemplate } = JSON.parse(process.env.MOTE_RENDER);
process.on('disconnect', () => process.exit(0));
(async () => {
  const { AutoTokenizer, env } = require(transformers);
  env.allowRemoteModels = false; env.allowLocalModels = true; env.useFSCache = false; env.localModelPath = '/';
  let tok, loadError;
  try { tok = await AutoTokenizer.from_pretrained(dir, { local_files_only: true }); } catch (e) { loadError = String(e && e.message || e); }
  process.on('message', ({ messages, options, maxChars }) => {
    let res;
    try {
      if (loadError) throw new Error(loadError);
      const text = tok.apply_chat_template(messages, { tokenize: false, ...options, ...(chatTemplate ? { chat_template: chatTemplate } : {}) });
      res = text.length > maxChars ? { tooLong: text.length } : { text };
    } catch (e) { res = { error: String(e && e.message || e) }; }
    process.send(res);
  });
  process.send({ ready: true });
})();
`;

/** The relay worker: starts the renderer process, forwards each request, and reports the process's death. */
const RELAY = `
const { spawn } = require('node:child_process');
const child = spawn(process.execPath, ['--max-old-space-size=' + data.heapMb, '-e', data.child], {
  stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
  env: { ...process.env, NODE_OPTIONS: '', MOTE_RENDER: JSON.stringify(data.config) },
});
announcePid(child.pid);
let waiting = null, dead = null;
child.on('message', (m) => { const w = waiting; waiting = null; if (w) w(m); });
child.on('exit', (code, signal) => {
  dead = { died: signal ? 'signal ' + signal : 'exit code ' + code };
  const w = waiting; waiting = null; if (w) w(dead);
});
const ask = (msg) => new Promise((resolve) => {
  if (dead) return resolve(dead);
  waiting = resolve;
  if (msg !== undefined) child.send(msg);
});
const ready = await ask(undefined);
if (ready.died) throw new Error('the renderer process ended while loading the tokenizer (' + ready.died + ')');
return ask;
`;

/** A synchronous, bounded render(messages, options) for the tokenizer in `dir`. */
export function boundedRenderer(dir: string, chatTemplate: string | undefined, limits: TemplateLimits = {}) {
  const ms = limits.ms ?? 10_000,
    fixed = limits.fixed ?? 65_536,
    perInput = limits.perInput ?? 8;
  const transformers = createRequire(import.meta.url).resolve('@huggingface/transformers');
  const heapMb = limits.heapMb ?? 512;
  const worker = syncWorker(RELAY, { child: CHILD, heapMb, config: { dir, transformers, chatTemplate } }, { heapMb: 64 });
  return (messages: ChatMessage[], options: Record<string, unknown>): string => {
    const inputChars = messages.reduce((n, m) => n + String(m.content ?? '').length, 0);
    const maxChars = fixed + perInput * inputChars;
    const r = worker.call<{ text?: string; tooLong?: number; error?: string; died?: string }>({ messages, options, maxChars }, ms);
    if ('timedOut' in r)
      throw new MoteError('E_LIMIT', `the chat template of ${dir} did not finish within ${ms} ms; the template loops too long; ${FIX}`, {
        file: dir,
        field: 'chat_template',
      });
    const reply = r.reply;
    if (reply.died !== undefined) {
      worker.close(); // the next render starts a new renderer
      throw new MoteError(
        'E_LIMIT',
        `the chat template of ${dir} ran out of memory (its renderer process, limited to ${heapMb} MB, ended with ${reply.died}); the template builds a huge list or string; ${FIX}`,
        { file: dir, field: 'chat_template' },
      );
    }
    if (reply.tooLong !== undefined)
      throw new MoteError(
        'E_LIMIT',
        `the chat template of ${dir} rendered ${reply.tooLong} characters for ${inputChars} characters of messages (limit ${maxChars}); ${FIX}`,
        { file: dir, field: 'chat_template' },
      );
    if (reply.error !== undefined) throw new Error(reply.error);
    return reply.text!;
  };
}
