// A worker thread that the main thread calls synchronously (Atomics.wait) under a time limit: the way mote runs
// code from a model folder (chat templates, tokenizer regexes) that may loop for ever, without blocking the
// process. On a timeout the worker is terminated, and so is any child process it announced. Not a pool.

import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';

/**
 * The worker's code: `body` is the body of an async function of `data` that returns the handler of one request
 * (sync or async); the handler's value is the reply, a throw becomes `{ error }`. Inside, `announcePid(pid)`
 * marks a child process to kill when the caller gives up on a request.
 */
const prelude = (body: string) => `
const { workerData } = require('node:worker_threads');
const { port, flag, data } = workerData;
const state = new Int32Array(flag);
const done = (i) => { Atomics.store(state, i, 1); Atomics.notify(state, i); };
const announcePid = (pid) => Atomics.store(state, 2, pid | 0);
const message = (e) => String((e && e.message) || e);
(async () => {
  let handle;
  try { handle = await (async (data) => { ${body} })(data); }
  catch (e) { const error = message(e); handle = () => ({ error }); }
  done(1);
  port.on('message', async (msg) => {
    let res;
    try { res = await handle(msg); } catch (e) { res = { error: message(e) }; }
    port.postMessage(res);
    done(0);
  });
})();
`;

const closers = new Set<() => void>();
let exitHooked = false;

export interface SyncWorker {
  /** Send `msg` and wait at most `ms` for the reply (the first call also waits up to `loadMs` for the worker's setup). */
  call<T>(msg: unknown, ms: number, loadMs?: number): { reply: T } | { timedOut: true };
  /** End the worker (and its announced child process); a later call starts a new one. */
  close(): void;
}

/**
 * A lazily started worker running `body` (see `prelude`) with `data`, heap-limited to `heapMb`.
 * @example
 *   const w = syncWorker('return (x) => x * 2;', {});
 *   w.call<number>(21, 1000); // { reply: 42 }
 */
export function syncWorker(body: string, data: Record<string, unknown>, opts: { heapMb?: number } = {}): SyncWorker {
  let live: { worker: Worker; port: MessagePort; state: Int32Array; first: boolean } | null = null;
  if (!exitHooked) {
    exitHooked = true;
    process.on('exit', () => {
      for (const c of closers) c(); // no child process outlives mote (one stuck in a render would spin for ever)
    });
  }
  const start = () => {
    const { port1, port2 } = new MessageChannel();
    const flag = new SharedArrayBuffer(12); // [0]: a reply is ready, [1]: setup done, [2]: pid of a child process
    const worker = new Worker(prelude(body), {
      eval: true,
      workerData: { port: port2, flag, data },
      transferList: [port2],
      resourceLimits: { maxOldGenerationSizeMb: opts.heapMb ?? 512 },
      stdout: true,
      stderr: true,
    });
    worker.unref();
    port1.unref();
    worker.on('error', () => {}); // out of memory: the caller sees no reply, as for the time limit
    return { worker, port: port1, state: new Int32Array(flag), first: true };
  };
  const close = () => {
    closers.delete(close);
    if (!live) return;
    const pid = Atomics.load(live.state, 2);
    if (pid > 0)
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    void live.worker.terminate();
    live = null;
  };
  return {
    call<T>(msg: unknown, ms: number, loadMs = 120_000) {
      if (!live) {
        live = start();
        closers.add(close);
      }
      if (live.first) Atomics.wait(live.state, 1, 0, loadMs);
      live.first = false;
      Atomics.store(live.state, 0, 0);
      live.port.postMessage(msg);
      const waited = Atomics.wait(live.state, 0, 0, ms);
      const got = receiveMessageOnPort(live.port);
      if (waited === 'timed-out' || !got) {
        close();
        return { timedOut: true as const };
      }
      return { reply: got.message as T };
    },
    close,
  };
}
