// Timing on a shared machine: every sample also records how many cores *other* processes (and the
// hypervisor) used meanwhile, from /proc/stat minus this process's own CPU time. A sample counts as
// clean when that foreign load stays under a fraction of a core; timings keep the best clean sample
// and say how contended the machine was. Linux only (elsewhere the foreign load reads 0).

import { readFileSync } from 'node:fs';

const HZ = 100; // USER_HZ of /proc/stat and /proc/self/stat

function busyTicks() {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return f.reduce((a, b) => a + b, 0) - f[3] - f[4]; // all but idle and iowait
  } catch {
    return 0;
  }
}
function selfTicks() {
  try {
    const s = readFileSync('/proc/self/stat', 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]); // utime + stime, all threads
  } catch {
    return 0;
  }
}

/** Run fn once; wall seconds and the foreign load in cores. */
export async function sample(fn) {
  const b0 = busyTicks(),
    s0 = selfTicks(),
    t0 = performance.now();
  const value = await fn();
  const wall = (performance.now() - t0) / 1000;
  const foreign = Math.max(0, (busyTicks() - b0 - (selfTicks() - s0)) / HZ / Math.max(wall, 1e-3));
  return { value, wall, foreign };
}

/**
 * Best of `reps` clean samples of fn (foreign load < `clean` cores), trying at most `maxTries` times;
 * falls back to the least contended sample. Returns { wall, foreign, tries, value }.
 */
export async function bestQuiet(fn, { reps = 3, clean = 0.15, maxTries = 12, minWall = 0 } = {}) {
  const all = [];
  let good = 0;
  for (let i = 0; i < maxTries && good < reps; i++) {
    const s = await sample(fn);
    all.push(s);
    if (s.foreign < clean && s.wall >= minWall) good++;
  }
  const cleanOnes = all.filter((s) => s.foreign < clean);
  const pool = cleanOnes.length ? cleanOnes : [all.reduce((a, b) => (b.foreign < a.foreign ? b : a))];
  const best = pool.reduce((a, b) => (b.wall < a.wall ? b : a));
  return { ...best, tries: all.length, cleanCount: cleanOnes.length };
}

/** Wait (up to maxS seconds) until other processes use less than `below` cores over a 1 s window. */
export async function waitQuiet(below = 0.3, maxS = 60) {
  for (let i = 0; i < maxS; i++) {
    const s = await sample(() => new Promise((r) => setTimeout(r, 1000)));
    if (s.foreign < below) return s.foreign;
  }
  return null;
}
