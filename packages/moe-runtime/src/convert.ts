// Cold loads convert a checkpoint into the weight cache in a child process: the conversion's garbage (V8
// heap growth, freed float32 buffers glibc keeps) dies with the child, so the loading process's peak RSS is
// that of a cached load. Not the conversion itself (sessions.ts's convert, run by convertCheckpoint in the child)
// nor the cache format (cache.ts).

import { spawn } from 'node:child_process';
import { MoteError, type MoteErrorCode } from '@mote/tensor-core';
import { noteConvertPeak, type WeightCache, type CacheOpenOptions } from './cache.js';

/** What the child reports on its IPC channel. */
type ChildMessage =
  | { mote: 'log'; line: string }
  | { mote: 'done'; ok: boolean; maxRssBytes: number }
  | { mote: 'error'; code?: MoteErrorCode; message: string; file?: string; field?: string };

/**
 * Run the conversion of `cache` (a miss being built) in a child node process, from the built bundle of this
 * package; `cache`'s own work folder is dropped first and the child writes and commits its own. Resolves
 * to the child's result, or null when no bundle exists (running from TypeScript sources: convert here).
 * A MoteError in the child is rethrown here with its code.
 */
export async function convertInChild(abs: string, cache: WeightCache, o: CacheOpenOptions): Promise<boolean | null> {
  const self = import.meta.url;
  noteConvertPeak(0);
  if (!self.endsWith('.js') || process.env.MOTE_CONVERT_INPROCESS === '1') return null;
  cache.abort();
  const job = { dir: abs, dtype: cache.dtype, cache: o.cache, bytes: o.bytes };
  const code = `
    const m = await import(${JSON.stringify(self)});
    process.on('disconnect', () => process.exit(1));
    const job = JSON.parse(process.env.MOTE_CONVERT_JOB);
    try {
      const ok = await m.convertCheckpoint(job.dir, { ...job, log: (line) => process.send({ mote: 'log', line }) });
      process.send({ mote: 'done', ok, maxRssBytes: process.resourceUsage().maxRSS * 1024 }, () => process.exit(0));
    } catch (e) {
      const err = { mote: 'error', code: e?.code, message: String(e?.message ?? e).replace(/^\\[[A-Z_]+\\] /, ''), file: e?.file, field: e?.field };
      process.send(err, () => process.exit(1));
    }`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, MOTE_CONVERT_JOB: JSON.stringify(job) },
  });
  let result: ChildMessage | null = null;
  child.on('message', (m: ChildMessage) => {
    if (m.mote === 'log') o.log(m.line);
    else result = m;
  });
  const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((res) => {
    child.on('error', (error) => res({ code: null, signal: null, error }));
    child.on('exit', (code, signal) => res({ code, signal }));
  });
  const r = result as ChildMessage | null;
  if (r?.mote === 'done') {
    noteConvertPeak(r.maxRssBytes);
    return r.ok;
  }
  if (r?.mote === 'error') {
    if (r.code) throw new MoteError(r.code, r.message, { file: r.file, field: r.field });
    throw new Error(r.message);
  }
  throw new MoteError(
    'E_RUNTIME',
    `converting ${abs} to ${cache.dtype} in a child process failed (${exit.error?.message ?? (exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}`)}); ` +
      'a SIGKILL is usually the OOM killer: free memory or pick a smaller --dtype',
  );
}
