// The CLI's worker host (apps/cli/src/worker.ts): the main thread's event loop keeps running while the
// worker is blocked (as it is inside an onnxruntime run), bars reported by the worker are drawn by the
// main thread, and the worker's exit code, or a crash, comes back as the command's exit code.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runInWorker } from '../apps/cli/src/worker.js';

const dir = mkdtempSync(join(tmpdir(), 'mote-worker-'));
const script = (name: string, body: string) => {
  const f = join(dir, name);
  writeFileSync(f, `import { parentPort, workerData } from 'node:worker_threads';\n${body}\n`);
  return f;
};

describe('CLI worker host', () => {
  it('keeps the main event loop free while the worker blocks, draws its bars, returns its exit code', async () => {
    const f = script(
      'busy.mjs',
      `
      parentPort.postMessage({ mote: 'progress', id: 0, title: 'work', done: 0, total: 2, label: workerData.argv[2] });
      const t = Date.now(); while (Date.now() - t < 600) {} // a synchronous kernel
      parentPort.postMessage({ mote: 'progress', id: 0, title: 'work', done: 2, total: 2, label: 'done' });
      parentPort.postMessage({ mote: 'progress-stop', id: 0 });
      process.exit(3);`,
    );
    const drawn: string[] = [];
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    const code = await runInWorker(f, ['node', 'mote', 'first'], {
      bar: (title) => ({ update: (d, t, l) => drawn.push(`${title} ${d}/${t} ${l}`), stop: () => drawn.push(`${title} stop`) }),
    });
    clearInterval(timer);
    expect(code).toBe(3);
    expect(drawn).toEqual(['work 0/2 first', 'work 2/2 done', 'work stop']);
    expect(ticks).toBeGreaterThan(20); // 600 ms blocked in the worker, main thread ticking every 10 ms
  });

  it('Ctrl-C asks the worker to stop and the command exits 130', async () => {
    const f = script(
      'interruptible.mjs',
      `
      parentPort.on('message', (m) => { if (m === 'mote:interrupt') process.exit(130); });
      setInterval(() => { const t = Date.now(); while (Date.now() - t < 50) {} }, 0); // busy in chunks, like kernel calls`,
    );
    const listeners = process.listenerCount('SIGINT');
    const done = runInWorker(f, []);
    await new Promise((r) => setTimeout(r, 200));
    process.emit('SIGINT');
    expect(await done).toBe(130);
    expect(process.listenerCount('SIGINT')).toBe(listeners); // the host's handlers are gone
  });

  it('a crash in the worker is exit code 1', async () => {
    const f = script('crash.mjs', `throw new Error('boom');`);
    expect(await runInWorker(f, [])).toBe(1);
  });
});
