// The CLI runs its command in a worker thread. onnxruntime-node runs every session synchronously on the
// thread that calls it, so on the main thread a forward pass would hold the event loop for as long as its
// kernels take (seconds for a batched prefill of a large model): no bar redraws, no Ctrl-C handler.
// Here the main thread only draws the bars the worker reports (progress.ts) and answers Ctrl-C at once;
// the worker's stdout and stderr pass through. Ctrl-C asks the worker to exit as soon as its current
// onnxruntime call returns (tearing it down inside one aborts the process); a second Ctrl-C kills at
// once. Long commands write results as they go, so the same command run again resumes.

import { parentPort, Worker, workerData } from 'node:worker_threads';
import { terminalBar, type Progress, type ProgressMessage } from './progress.js';
import { debugWanted, describeFailure, quietOnEpipe } from './main.js';

export interface WorkerHostOptions {
  /** how a reported bar is drawn (default: on stderr) */
  bar?: (title: string) => Progress;
  /** after Ctrl-C, how long the worker may take to stop before it is terminated (default 5000 ms) */
  graceMs?: number;
}

/** Run `script` in a worker thread with `workerData = { argv }`; resolves to its exit code. */
export function runInWorker(script: URL | string, argv: string[], opts: WorkerHostOptions = {}): Promise<number> {
  const bar = opts.bar ?? terminalBar;
  const bars = new Map<number, Progress>();
  quietOnEpipe(process.stdout); // the worker's output is written here: `mote ... | head` closes this pipe
  const stopBars = () => {
    for (const b of bars.values()) b.stop();
    bars.clear();
  };
  const worker = new Worker(script, { workerData: { argv } });
  worker.on('message', (m: ProgressMessage) => {
    if (m?.mote === 'progress') {
      let b = bars.get(m.id);
      if (!b) bars.set(m.id, (b = bar(m.title)));
      b.update(m.done, m.total, m.label);
    } else if (m?.mote === 'progress-stop') {
      bars.get(m.id)?.stop();
      bars.delete(m.id);
    }
  });
  const kill = () => process.kill(process.pid, 'SIGKILL');
  let grace: NodeJS.Timeout | undefined;
  const onSigint = () => {
    stopBars();
    process.stderr.write('\nmote: interrupted. Results finished so far are on disk; run the same command again to resume.\n');
    worker.postMessage(INTERRUPT);
    process.once('SIGINT', kill);
    // a worker stuck in JavaScript (a runaway tokenizer regex) never reads the message: stop it after a grace period
    grace = setTimeout(() => void worker.terminate(), opts.graceMs ?? 5000);
    grace.unref();
  };
  process.once('SIGINT', onSigint);
  return new Promise((resolve) => {
    let failed = false;
    // an error that escaped the worker's own handler (main.ts) crosses the thread as a plain Error:
    // printed coded, with the stack only under --debug
    worker.on('error', (e) => {
      failed = true;
      process.stderr.write(describeFailure(e, debugWanted(argv)).text);
    });
    worker.on('exit', (code) => {
      clearTimeout(grace);
      if (grace) code = 130; // stopped on Ctrl-C, by its own exit or by the grace period
      process.off('SIGINT', onSigint).off('SIGINT', kill);
      stopBars();
      resolve(failed && code === 0 ? 1 : code);
    });
  });
}

const INTERRUPT = 'mote:interrupt';

/** The worker side: run `main` on the argv the host passed; exit with 130 when the host relays Ctrl-C. */
export async function workerMain(main: (argv: string[]) => Promise<void>): Promise<void> {
  parentPort!.on('message', (m) => {
    if (m === INTERRUPT) process.exit(130);
  });
  parentPort!.unref(); // the port alone does not keep the worker alive once main is done
  await main((workerData as { argv: string[] }).argv);
}
