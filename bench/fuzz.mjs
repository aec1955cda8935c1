// node bench/fuzz.mjs [cases]: the loader fuzzers of tests/fuzz.test.ts with many more seeded cases
// (default 1,000,000 per loader; the trace reader, which rewrites a run folder per case, gets a tenth).
// Prints the machine, the seed and per loader the counts of valid results and of each MoteError code;
// writes bench-out/fuzz.json. Any other exception, a case over the hang guard or heap growth fails the run.

import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const cases = Number(process.argv[2] ?? 1_000_000);
const seed = Number(process.env.FUZZ_SEED ?? 20261130);
const out = join(ROOT, 'bench-out', 'fuzz.json');
mkdirSync(dirname(out), { recursive: true });
console.log(`fuzz: ${cases} cases per loader, seed ${seed}; ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}`);
const t0 = Date.now();
const r = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'vitest', 'vitest.mjs'), 'run', 'tests/fuzz.test.ts'], {
  cwd: ROOT,
  stdio: 'inherit',
  env: { ...process.env, FUZZ_RUNS: String(cases), FUZZ_TRACE_RUNS: String(Math.ceil(cases / 10)), FUZZ_SEED: String(seed), FUZZ_OUT: out },
});
const res = JSON.parse(readFileSync(out, 'utf8'));
for (const [name, counts] of Object.entries(res.outcomes)) {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  console.log(
    `${name.padEnd(24)} ${String(total).padStart(9)} cases: ${Object.entries(counts)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  );
}
console.log(`${((Date.now() - t0) / 1000).toFixed(0)} s; wrote ${out}`);
process.exit(r.status ?? 1);
