// A progress bar on stderr (cli-progress), or nothing when stderr is not a terminal and --quiet.

import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number, total: number, label?: string): void;
  stop(): void;
}

export function progressBar(title: string): Progress {
  const bar = new cliProgress.SingleBar(
    { format: `${title} |{bar}| {value}/{total} {label} eta {eta_formatted}`, stream: process.stderr, hideCursor: true, clearOnComplete: false, etaBuffer: 50, noTTYOutput: true, notTTYSchedule: 5000 },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(done, total, label = '') {
      if (!started) { bar.start(total, done, { label }); started = true; }
      bar.setTotal(total);
      bar.update(done, { label });
    },
    stop() { if (started) bar.stop(); },
  };
}
