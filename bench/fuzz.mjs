// node bench/fuzz.mjs [cases] [--budget-s S] [--only name]: the loader fuzzers of tests/fuzz.test.ts with many
// more seeded cases (default 1,000,000 per loader), one vitest run per loader, in count mode: per loader the
// counts of valid results, of each MoteError code, of other exceptions (crash), of cases over the 5 s limit
// that returned (slow) and of hangs (a case the watchdog killed; the run then resumes after it).
// --budget-s caps the total wall time, shared among the loaders still to run (the table states the cases that ran).
// Writes bench-out/fuzz.json.

import { spawnSync } from 'node:child_process';
import { cpus, tmpdir } from 'node:os';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuFeatures } from './machine.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const cases = Number(args.find((a, i) => /^\d+$/.test(a) && !args[i - 1]?.startsWith('--')) ?? 1_000_000);
const budget = Number(opt('--budget-s') ?? 0);
const seed = Number(process.env.FUZZ_SEED ?? 20261130);
// test name in tests/fuzz.test.ts -> loader name in its records
const LOADERS = {
  'safetensors header parser': 'safetensors header',
  'shard index': 'shard index',
  'config.json of every architecture': 'config.json',
  'policy files': 'policy',
  'experiment files': 'experiment',
  'prompt sets (ftri)': 'prompt set (ftri)',
  'prompt files (generate)': 'prompt file (generate)',
  'eval suites': 'eval suite',
  'judge files': 'judges',
  'truncated, bit-flipped and mutated trace folders': 'trace reader',
};
const only = opt('--only');
const out = join(ROOT, 'bench-out', 'fuzz.json');
const log = join(ROOT, 'bench-out', 'fuzz-records.jsonl');
mkdirSync(dirname(out), { recursive: true });
const regexEscape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'); // vitest -t takes a regular expression
const vitest = join(ROOT, 'node_modules', 'vitest', 'vitest.mjs');

console.log(`fuzz: ${cases} cases per loader, seed ${seed}${budget ? `, at most ${budget} s in all` : ''}`);
console.log(`cpu: ${cpus()[0]?.model ?? 'cpu'} · ${cpus().length} cores · ${cpuFeatures().join(' ')}`);
const results = {};
const chosen = Object.entries(LOADERS).filter(([, loader]) => !only || loader.includes(only));
const started = Date.now();
for (const [li, [test, loader]] of chosen.entries()) {
  const share = budget ? (budget - (Date.now() - started) / 1000) / (chosen.length - li) : 0;
  const work = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'mote-fuzz-bench-'));
  const counts = {};
  const add = (k, v = 1) => {
    counts[k] = (counts[k] ?? 0) + v;
  };
  let seconds = 0;
  // segments [skip, runs]: after a hang at case N, [skip, N-1] is rerun (the killed process lost its counts) and N skipped
  const todo = [{ skip: 0, runs: cases }];
  while (todo.length) {
    const seg = todo.shift();
    rmSync(log, { force: true });
    const left = budget ? share - seconds : 0;
    if (budget && left < 5) break;
    const t0 = Date.now();
    const r = spawnSync(process.execPath, [vitest, 'run', 'tests/fuzz.test.ts', '-t', `${regexEscape(test)}$`], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
      encoding: 'utf8',
      env: {
        ...process.env,
        FUZZ_RUNS: String(seg.runs),
        FUZZ_SEED: String(seed),
        FUZZ_COUNT: '1',
        FUZZ_SKIP: String(seg.skip),
        FUZZ_OUT: log,
        FUZZ_WORK: work,
        ...(budget ? { FUZZ_TIME_S: String(Math.floor(left)) } : {}),
      },
    });
    seconds += (Date.now() - t0) / 1000;
    const records = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').filter(Boolean).map(JSON.parse) : [];
    const done = records.find((x) => x.loader === loader);
    const hang = records.find((x) => x.hang);
    if (done) for (const [k, v] of Object.entries(done.counts)) add(k, v);
    else if (hang) {
      const n = Number(/case (\d+) of seed/.exec(hang.case)?.[1]);
      add(hang.hang.startsWith('resident') ? 'memory' : 'hang');
      console.log(`  ${loader}: ${hang.hang}: ${hang.case.slice(0, 300)}`);
      if (!Number.isFinite(n)) break;
      if (n - 1 > seg.skip) todo.push({ skip: seg.skip, runs: n - 1 });
      if (n < seg.runs) todo.push({ skip: n, runs: seg.runs });
    } else {
      console.log(`  ${loader}: vitest exited ${r.status} without a record:\n${r.stderr.slice(-2000)}`);
      add('run failed');
    }
  }
  rmSync(work, { recursive: true, force: true });
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  results[loader] = { cases: total, seconds: Math.round(seconds), counts };
  console.log(
    `${loader.padEnd(24)} ${String(total).padStart(9)} cases in ${seconds.toFixed(0).padStart(5)} s: ${Object.entries(counts)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  );
  writeFileSync(out, `${JSON.stringify({ cases, seed, budget, cpu: cpus()[0]?.model, features: cpuFeatures(), results }, null, 2)}\n`);
}
rmSync(log, { force: true });
console.log(`wrote ${out}`);
