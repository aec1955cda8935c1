// Kill-and-resume bench: each writing command of the CLI (generate, ftri, eval, run, demo) on small prompt
// subsets of the organism, SIGKILLed at >= 20 seeded random points, rerun until done; every finished run is
// compared byte for byte with an uninterrupted one (tests/kill-resume.mjs; the CI test does 3 kills).
// Then two concurrent runs per command. Needs `pnpm build`. Usage: node bench/kill-resume.mjs [kills] [cmd...]

import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { COMMANDS, killTrial, ROOT, secondRunRefused, writeInputs } from '../tests/kill-resume.mjs';

const kills = Number(process.argv[2] ?? 20);
const names = process.argv.slice(3).length ? process.argv.slice(3) : Object.keys(COMMANDS);
const flags = (readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:\s*(.*)$/m)?.[1] ?? '')
  .split(' ')
  .filter((f) => /^(avx|avx2|avx512f|fma|f16c|amx_tile)$/.test(f));
console.log(`cpu: ${cpus()[0]?.model} x${cpus().length}; ${flags.join(' ')}; node ${process.version}`);
const dir = mkdtempSync(join(tmpdir(), 'mote-kill-bench-'));
writeInputs(dir);
writeInputs(join(dir, 'long'), true);

const rows = [];
for (const [i, name] of names.entries()) {
  const t = await killTrial(name, dir, { kills, seed: 1000 + i });
  const second = await secondRunRefused(name, dir, join(dir, `${name}-twice${COMMANDS[name].file ? '.jsonl' : ''}`));
  const locked = second.code === 2 && /\[E_LOCKED\]/.test(second.stderr) && second.stderr.includes(`pid ${second.firstPid} `);
  const midRun = t.log.filter((k) => k.records > k.from).length;
  const row = {
    command: name,
    kills: t.kills,
    killsAfterNewRecords: midRun,
    finishesCompared: t.checks,
    identical: true,
    records: t.total,
    referenceSeconds: t.refSeconds,
    killedRunsSeconds: t.seconds,
    ratio: t.refSeconds ? t.seconds / t.refSeconds : null,
    secondRunLocked: locked,
    secondRunSeconds: second.secondSeconds,
    log: t.log,
  };
  rows.push(row);
  console.log(
    `${name.padEnd(9)} kills ${t.kills} (${midRun} after new records) · ${t.checks} finishes byte-identical · ${t.total} records · ` +
      `reference ${t.refSeconds?.toFixed(1)} s, all kills+reruns ${t.seconds.toFixed(1)} s (x${row.ratio?.toFixed(1)}) · second run ${locked ? 'E_LOCKED' : 'NOT LOCKED'} in ${second.secondSeconds.toFixed(1)} s`,
  );
}
mkdirSync(join(ROOT, 'bench-out'), { recursive: true });
writeFileSync(
  join(ROOT, 'bench-out', 'kill-resume.json'),
  JSON.stringify({ cpu: cpus()[0]?.model, cores: cpus().length, flags, kills, rows }, null, 1) + '\n',
);
console.log(`wrote bench-out/kill-resume.json`);
