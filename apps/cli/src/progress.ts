// Progress bars on stderr (cli-progress). Inside the CLI's worker thread (worker.ts) a bar is a proxy that
// posts its updates to the main thread, which draws them: the bars move while the worker is busy.

import { isMainThread, parentPort } from 'node:worker_threads';
import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number, total: number, label?: string): void;
  stop(): void;
}

/** A bar's updates as the worker posts them to the main thread. */
export type ProgressMessage =
  | { mote: 'progress'; id: number; title: string; done: number; total: number; label: string }
  | { mote: 'progress-stop'; id: number };

let nextId = 0;

export function progressBar(title: string): Progress {
  if (isMainThread || !parentPort) return terminalBar(title);
  const port = parentPort;
  const id = nextId++;
  return {
    update: (done, total, label = '') => port.postMessage({ mote: 'progress', id, title, done, total, label } satisfies ProgressMessage),
    stop: () => port.postMessage({ mote: 'progress-stop', id } satisfies ProgressMessage),
  };
}

/** A bar drawn on this thread's stderr. */
export function terminalBar(title: string): Progress {
  const bar = new cliProgress.SingleBar(
    {
      format: `${title} |{bar}| {value}/{total} {label} eta {eta_formatted}`,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 50,
      noTTYOutput: true,
      notTTYSchedule: 5000,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(done, total, label = '') {
      if (!started) {
        bar.start(total, done, { label });
        started = true;
      }
      bar.setTotal(total);
      bar.update(done, { label });
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
