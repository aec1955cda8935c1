// mote cache ls|rm: show and free the weight cache's entries (listCache / removeCache of @mote/moe-runtime).
import type { Command } from 'commander';
import { listCache, removeCache, type CacheEntry } from '@mote/moe-runtime';
import { example } from '../options.js';

const gb = (n: number) => `${(n / 1e9).toFixed(2)} GB`;
const line = (e: CacheEntry) =>
  `${e.key.slice(0, 12)}  ${e.dtype.padEnd(4)}  ${gb(e.bytes).padStart(9)}  ${e.complete ? (e.current ? 'ready  ' : 'old    ') : 'partial'}  ${e.mtime.toISOString().slice(0, 16)}  ${e.checkpoint ?? '?'}`;

export function register(program: Command): void {
  const cache = program
    .command('cache')
    .description('show and free the weight cache (converted / quantised weights of loaded checkpoints)');
  const root = '--cache <dir>';
  const rootHelp = 'cache folder (default: $MOTE_CACHE, else ~/.cache/mote)';
  const ls = cache
    .command('ls')
    .description('list entries: key, dtype, size, state (ready, old = built by another runtime version, partial), date, checkpoint')
    .option(root, rootHelp)
    .option('--json', 'print JSON');
  example(ls, 'mote cache ls', 'mote cache ls --json');
  ls.action((o: { cache?: string; json?: boolean }) => {
    const all = listCache(o.cache);
    if (o.json) {
      console.log(JSON.stringify(all, null, 2));
      return;
    }
    for (const e of all) console.log(line(e));
    console.log(`${all.length} entries, ${gb(all.reduce((n, e) => n + e.bytes, 0))}`);
  });
  const rm = cache
    .command('rm [entry]')
    .description('remove entries: a key prefix (>= 6 hex digits), a dtype (f32, int8, int4) or a checkpoint folder; --all for every entry')
    .option(root, rootHelp)
    .option('--all', 'remove every entry');
  example(rm, 'mote cache rm int4', 'mote cache rm 3f2a9c', 'mote cache rm --all');
  rm.action((entry: string | undefined, o: { cache?: string; all?: boolean }) => {
    const gone = removeCache({ cache: o.cache, match: entry, all: o.all });
    for (const e of gone) console.log(`removed ${line(e)}`);
    console.log(`${gone.length} entries removed, ${gb(gone.reduce((n, e) => n + e.bytes, 0))} freed`);
  });
}
