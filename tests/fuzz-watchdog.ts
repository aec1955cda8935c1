// The hang and memory guard of the fuzz tests: a watchdog thread that sees which case the test thread is on.
// A synchronous parser that never returns cannot be stopped from its own thread, so when one case runs past
// the time limit, or the process's resident memory passes the limit, the watchdog prints the case and kills
// the process: the test run fails at once, naming the loader, the case number and its input.

import { Worker } from 'node:worker_threads';

const TEXT_BYTES = 1 << 16;
const WATCHDOG = `
const { workerData } = require('node:worker_threads');
const fs = require('node:fs');
const { shared, text, limitMs, rssLimitMb, report } = workerData;
const state = new Int32Array(shared); // [0]: case serial (0 = idle), [1]: text length
const bytes = new Uint8Array(text);
let seen = 0, since = Date.now();
const fail = (why) => {
  const msg = 'fuzz watchdog: ' + why + ': ' + Buffer.from(bytes.subarray(0, Atomics.load(state, 1))).toString('utf8') + '\\n';
  fs.writeSync(2, msg);
  if (report) fs.appendFileSync(report, JSON.stringify({ hang: why, case: Buffer.from(bytes.subarray(0, Atomics.load(state, 1))).toString('utf8') }) + '\\n');
  process.kill(process.pid, 'SIGKILL');
};
setInterval(() => {
  const now = Date.now(), serial = Atomics.load(state, 0);
  if (serial !== seen) { seen = serial; since = now; }
  else if (serial !== 0 && now - since > limitMs) fail('one case ran over ' + limitMs + ' ms');
  const rss = process.memoryUsage.rss() / 2 ** 20;
  if (rss > rssLimitMb) fail('resident memory ' + rss.toFixed(0) + ' MB passed ' + rssLimitMb + ' MB');
}, 50);
`;

export interface Watchdog {
  /** Mark the start of a case; `describe` is called now, so keep it cheap (it is the text a failure prints). */
  begin(describe: () => string): void;
  /** Mark the end of the case (idle: no time limit runs). */
  end(): void;
  stop(): Promise<number>;
}

/** Start the watchdog; `report` (a file) receives a JSON line per failure as well as stderr. */
export function startWatchdog(opts: { limitMs: number; rssLimitMb: number; report?: string }): Watchdog {
  const shared = new SharedArrayBuffer(8),
    text = new SharedArrayBuffer(TEXT_BYTES);
  const state = new Int32Array(shared),
    bytes = new Uint8Array(text);
  const enc = new TextEncoder();
  const worker = new Worker(WATCHDOG, { eval: true, workerData: { shared, text, ...opts } });
  worker.unref();
  let serial = 0;
  return {
    begin(describe) {
      const { written } = enc.encodeInto(describe().slice(0, TEXT_BYTES / 3), bytes);
      Atomics.store(state, 1, written);
      serial = serial === 0x7fffffff ? 1 : serial + 1;
      Atomics.store(state, 0, serial);
    },
    end() {
      Atomics.store(state, 0, 0);
    },
    stop: () => worker.terminate(),
  };
}
