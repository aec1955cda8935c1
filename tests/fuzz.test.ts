// Seeded fuzzing of every loader that reads user files (issue 12, Build 6): safetensors headers, the shard
// index, config.json, policies, experiments, prompt sets (ftri, generate, eval suites), judge files and the
// ftri trace reader. Each case is a seeded mutation of a valid input (fast-check); its outcome must be a
// valid result or a MoteError: any other exception fails. A watchdog thread (fuzz-watchdog.ts) kills the run,
// naming the case, when one case runs over CASE_LIMIT_MS or the process passes RSS_LIMIT_MB; the heap may not
// grow past HEAP_LIMIT_MB over a loader's run.
// FUZZ_RUNS (default 10,000 per loader) and FUZZ_SEED set the run; `-t '<test name>'` runs one loader (a regular
// expression: escape the parentheses, `-t 'prompt sets \(ftri\)'`, or it matches nothing). FUZZ_OUT=file
// appends one JSON line of outcome counts per loader (bench/fuzz.mjs runs 1,000,000 with FUZZ_COUNT=1, which
// counts other exceptions and slow cases as outcomes instead of failing on the first).

import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MoteError, SafetensorsCheckpoint, readSafetensorsHeader } from '@mote/tensor-core';
import { loadModel, readPromptFile, specFromDir, type ModelInfo } from '@mote/moe-runtime';
import { validatePolicy } from '@mote/mote';
import { loadPromptSet, readActivations, runFtri } from '@mote/ftri';
import { loadSuite, validateExperiment, loadJudgeConfig, ORGANISM_JUDGES } from '@mote/eval';
import { appendJsonl } from '@mote/io';
import { FIXTURES } from './parity.js';
import { startWatchdog } from './fuzz-watchdog.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 10_000);
const SEED = Number(process.env.FUZZ_SEED ?? 20261130);
const COUNT = process.env.FUZZ_COUNT === '1';
const OUT = process.env.FUZZ_OUT;
// bench only: FUZZ_SKIP=k generates but does not run the first k cases (the bench resumes after a hang there);
// FUZZ_TIME_S stops a loader's run after that many seconds (the record counts the cases that ran)
const SKIP = Number(process.env.FUZZ_SKIP ?? 0);
const TIME_S = Number(process.env.FUZZ_TIME_S ?? 0);
const CASE_LIMIT_MS = 5_000;
const RSS_LIMIT_MB = 2_048;
const HEAP_LIMIT_MB = 512;
// the bench's million-case runs take minutes per loader: vitest's per-test timeout must not report them failed
vi.setConfig({ testTimeout: Math.max(120_000, RUNS * 5) });
const ROOT = join(import.meta.dirname, '..');
const ORG = join(ROOT, 'models', 'organism');
// tmpfs where there is one (FUZZ_WORK: a folder the bench removes): the file-reading loaders are fuzzed through real files
const work = mkdtempSync(join(process.env.FUZZ_WORK ?? (existsSync('/dev/shm') ? '/dev/shm' : tmpdir()), 'mote-fuzz-'));
const watchdog = startWatchdog({ limitMs: CASE_LIMIT_MS, rssLimitMb: RSS_LIMIT_MB, report: OUT });
const show = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${x}n` : x));

/**
 * Run `runs` seeded cases of `arb` through `load`; count valid results and MoteErrors by code. Any other
 * exception fails (FUZZ_COUNT=1: counted as `crash <name>`), as does a case over CASE_LIMIT_MS that returns
 * (FUZZ_COUNT=1: counted as `slow`); one that never returns is the watchdog's.
 */
function fuzz<T>(name: string, arb: fc.Arbitrary<T>, load: (v: T) => unknown, runs = RUNS): void {
  const counts: Record<string, number> = { valid: 0 };
  const bump = (k: string) => {
    counts[k] = (counts[k] ?? 0) + 1;
  };
  const heap0 = process.memoryUsage().heapUsed;
  let index = 0;
  const t0 = performance.now();
  fc.assert(
    fc.property(arb, (v) => {
      if (++index <= SKIP) return;
      watchdog.begin(() => `${name}, case ${index} of seed ${SEED}: ${show(v)}`);
      const c0 = performance.now();
      try {
        load(v);
        bump('valid');
      } catch (e) {
        if (e instanceof MoteError) bump(e.code);
        else if (COUNT) bump(`crash ${(e as Error)?.name ?? typeof e}`);
        else throw e;
      } finally {
        watchdog.end();
      }
      const ms = performance.now() - c0;
      if (ms > CASE_LIMIT_MS) {
        if (!COUNT) throw new Error(`${name}: one case took ${ms.toFixed(0)} ms (limit ${CASE_LIMIT_MS})`);
        bump('slow');
      }
    }),
    {
      seed: SEED,
      numRuns: runs,
      endOnFailure: true,
      ...(TIME_S > 0 && { interruptAfterTimeLimit: TIME_S * 1000, markInterruptAsFailure: false }),
    },
  );
  const grown = (process.memoryUsage().heapUsed - heap0) / 2 ** 20;
  const seconds = (performance.now() - t0) / 1000;
  if (OUT) appendJsonl(OUT, [{ loader: name, runs, skipped: Math.min(SKIP, index), seed: SEED, seconds, heapGrowthMb: grown, counts }]);
  expect(grown, `${name}: heap grew ${grown.toFixed(0)} MB`).toBeLessThan(HEAP_LIMIT_MB);
}

// ---- seeded mutations of a valid JSON value ------------------------------------------------------------
const SPECIAL = [null, -1, 0, 1, 1e9, 1e308, -1e-6, 2.5, '', '__proto__', 'toString', 'constructor', [], {}, true, false, 'x'.repeat(300)];
type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
const op = fc.record({
  path: fc.array(fc.nat(), { maxLength: 4 }),
  kind: fc.constantFrom('set', 'special', 'delete', 'key'),
  value: fc.oneof(
    fc.integer(),
    fc.double({ noNaN: true }),
    fc.string({ maxLength: 8 }),
    fc.constant(null),
    fc.boolean(),
    fc.array(fc.integer({ min: -2, max: 64 }), { maxLength: 3 }),
    fc.dictionary(fc.string({ maxLength: 4 }), fc.integer(), { maxKeys: 2 }),
  ) as fc.Arbitrary<Json>,
  special: fc.constantFrom(...SPECIAL) as fc.Arbitrary<Json>,
  key: fc.constantFrom('__proto__', 'constructor', 'toString', 'extra', '', 'name'),
});
type Op = typeof op extends fc.Arbitrary<infer R> ? R : never;
function apply(root: Json, ops: Op[]): Json {
  let doc = structuredClone(root);
  for (const o of ops) {
    let parent: Json = null,
      key: string | number | null = null,
      cur: Json = doc;
    for (const i of o.path) {
      if (cur === null || typeof cur !== 'object') break;
      const keys = Array.isArray(cur) ? cur.map((_, j) => j) : Object.keys(cur);
      if (!keys.length) break;
      parent = cur;
      key = keys[i % keys.length];
      cur = (cur as Record<string | number, Json>)[key];
    }
    const v = o.kind === 'special' ? structuredClone(o.special) : o.value;
    if (parent === null || key === null) doc = o.kind === 'delete' ? {} : v;
    else if (o.kind === 'delete') Array.isArray(parent) ? parent.splice(key as number, 1) : delete (parent as Record<string, Json>)[key];
    else if (o.kind === 'key' && !Array.isArray(parent))
      Object.defineProperty(parent, o.key, { value: v, enumerable: true, writable: true, configurable: true });
    else (parent as Record<string | number, Json>)[key] = v;
  }
  return doc;
}
const mutated = (base: Json): fc.Arbitrary<Json> => fc.array(op, { minLength: 1, maxLength: 3 }).map((ops) => apply(base, ops as never));
/** JSON text of a mutation, sometimes cut short or with a garbage tail (torn writes). */
const mutatedText = (base: Json): fc.Arbitrary<string> =>
  fc.tuple(mutated(base), fc.nat(), fc.constantFrom('whole', 'cut', 'tail')).map(([v, n, how]) => {
    const t = JSON.stringify(v) ?? 'null';
    return how === 'whole' ? t : how === 'cut' ? t.slice(0, n % (t.length + 1)) : t + '\u0000}{';
  });

const INFO: ModelInfo = {
  modelType: 'qwen3_moe',
  dir: ORG,
  layerCount: 4,
  moeLayers: [0, 1, 2, 3],
  expertCount: 16,
  topK: 2,
  sharedExpertCount: 0,
  hiddenSize: 64,
  vocabSize: 1024,
  headCount: 4,
  kvHeadCount: 2,
  headDim: 16,
  params: { total: 0, active: 0, embedding: 0, routedExperts: 0 },
  bosTokenId: 0,
  eosTokenIds: [1],
  padTokenId: 2,
};

describe(`fuzzed loaders (${RUNS} seeded cases each, seed ${SEED})`, () => {
  afterAll(async () => {
    await watchdog.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('safetensors header parser', () => {
    const f = join(work, 'h.safetensors');
    const base: Json = {
      __metadata__: { format: 'pt' },
      a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      b: { dtype: 'BF16', shape: [2, 2], data_offsets: [8, 16] },
    };
    const arb = fc.tuple(mutatedText(base), fc.nat({ max: 64 }), fc.option(fc.bigInt({ min: 0n, max: 1n << 40n }), { freq: 5 }));
    fuzz('safetensors header', arb, ([text, data, len]) => {
      const h = Buffer.from(text);
      const lb = Buffer.alloc(8);
      lb.writeBigUInt64LE(len ?? BigInt(h.length));
      writeFileSync(f, Buffer.concat([lb, h, Buffer.alloc(data)]));
      return readSafetensorsHeader(f);
    });
  });

  it('shard index', () => {
    const d = join(work, 'index');
    mkdirSync(d, { recursive: true });
    cpSync(join(FIXTURES, 'tiny-moe', 'qwen3_moe', 'model.safetensors'), join(d, 'model.safetensors'));
    const names = readSafetensorsHeader(join(d, 'model.safetensors'))
      .entries.map((e) => e.name)
      .slice(0, 6);
    const base: Json = { metadata: { total_size: 1 }, weight_map: Object.fromEntries(names.map((n) => [n, 'model.safetensors'])) };
    fuzz('shard index', mutatedText(base), (text) => {
      writeFileSync(join(d, 'model.safetensors.index.json'), text);
      return SafetensorsCheckpoint.open(d).names();
    });
  });

  it('config.json of every architecture', () => {
    const d = join(work, 'config');
    mkdirSync(d, { recursive: true });
    const types = readdirSync(join(FIXTURES, 'tiny-moe')).sort();
    const bases = types.map((t) => JSON.parse(readFileSync(join(FIXTURES, 'tiny-moe', t, 'config.json'), 'utf8')) as Json);
    const arb = fc.nat({ max: types.length - 1 }).chain((i) => mutatedText(bases[i]));
    fuzz('config.json', arb, (text) => {
      writeFileSync(join(d, 'config.json'), text);
      return specFromDir(d);
    });
  });

  it('policy files', () => {
    const base: Json = {
      name: 'p',
      interventions: [
        { mode: 'exclude', layer: 1, expert: 3 },
        { mode: 'force', layer: 2, expert: 4, scope: 'generated' },
        { mode: 'scale', layer: 3, expert: 5, value: 0.5, scope: { from: 0, to: 16 } },
        { mode: 'bias', layer: 0, expert: 9, value: -2, scope: 'think' },
      ],
    };
    fuzz('policy', mutated(base), (json) => validatePolicy(json, { info: INFO, file: 'p.json' }));
  });

  it('experiment files', () => {
    const base = JSON.parse(readFileSync(join(ORG, 'experiment.json'), 'utf8')) as Json;
    fuzz('experiment', mutated(base), (json) => validateExperiment(json, { file: 'e.json', baseDir: ORG }));
  });

  describe('prompt lines', () => {
    const f = join(work, 'p.jsonl');
    const lines = readFileSync(join(ORG, 'prompts', 'ftri.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .slice(0, 4)
      .map((l) => JSON.parse(l) as Json);
    const arb = fc.tuple(fc.array(mutatedText(lines[0]), { maxLength: 3 }), fc.nat({ max: 3 }), fc.constantFrom('\n', '\r\n'));
    const write = ([muts, at, nl]: [string[], number, string]) => {
      const all = lines.map((l) => JSON.stringify(l));
      all.splice(at, 0, ...muts);
      writeFileSync(f, all.join(nl) + nl);
    };
    it('prompt sets (ftri)', () => fuzz('prompt set (ftri)', arb, (v) => (write(v), loadPromptSet(f))));
    it('prompt files (generate)', () => fuzz('prompt file (generate)', arb, (v) => (write(v), readPromptFile(f))));
    // found at seed 20261130, case 4441: an object id whose toString is a string made String(id) throw a TypeError
    it('regression: a prompt file id that is an object is E_INPUT', () => {
      writeFileSync(f, '{"id":{";c5":-149248696,"toString":""},"prompt":"I want to know about the disputed Argor region."}\n');
      expect(() => readPromptFile(f)).toThrow(
        expect.objectContaining({ code: 'E_INPUT', message: expect.stringContaining('"id" must be') }),
      );
    });
    it('eval suites', () => fuzz('eval suite', arb, (v) => (write(v), loadSuite(f))));
  });

  it('judge files', () => {
    const f = join(work, 'judges.json');
    const base = {
      ...ORGANISM_JUDGES,
      sensitive: { refusal: { type: 'regex', pattern: 'I cannot', flags: 'i' }, answer: 'contains' },
    } as unknown as Json;
    fuzz('judges', mutatedText(base), (text) => {
      writeFileSync(f, text);
      return loadJudgeConfig(f);
    });
  });

  describe('trace reader', () => {
    const run = join(work, 'run');
    beforeAll(async () => {
      const model = await loadModel(join(ORG, 'model'), { threads: 1, cache: false });
      const prompts = loadPromptSet(join(ORG, 'prompts', 'ftri.jsonl'))
        .slice(0, 6)
        .map((p, i) => ({ ...p, group: i % 2 ? 'A' : 'B' }));
      await runFtri({ model, prompts, outDir: run, contrast: 'A:B', permutations: 9, bootstrap: 0, maps: 0, report: false });
      await model.dispose();
    }, 120_000);

    // the hang found at seed 20261130 (case ~400 of the trace reader): byte 9 of prompts-00000.arrow ^ 140 makes the
    // first block's continuation marker ff 73 ff ff; apache-arrow's tableFromIPC then rereads that block forever
    it('regression: a flipped Arrow continuation marker is E_INPUT, not a hang', () => {
      const f = join(run, 'traces', 'prompts-00000.arrow');
      const orig = readFileSync(f);
      const bytes = Buffer.from(orig);
      expect([...bytes.subarray(8, 12)]).toEqual([0xff, 0xff, 0xff, 0xff]);
      bytes[9] ^= 140;
      writeFileSync(f, bytes);
      try {
        expect(() => readActivations(run)).toThrow(expect.objectContaining({ code: 'E_INPUT', message: expect.stringContaining(f) }));
      } finally {
        writeFileSync(f, orig);
      }
    });

    it('truncated, bit-flipped and mutated trace folders', () => {
      const files = readdirSync(join(run, 'traces'))
        .filter((f) => f.endsWith('.arrow') || f.endsWith('.jsonl'))
        .map((f) => join('traces', f));
      const targets = ['manifest.json', 'progress.jsonl', ...files];
      const original = new Map(targets.map((t) => [t, readFileSync(join(run, t))]));
      const arb = fc.tuple(
        fc.nat({ max: targets.length - 1 }),
        fc.constantFrom('cut', 'flip', 'json'),
        fc.nat(),
        fc.nat({ max: 255 }),
        fc.array(op, { minLength: 1, maxLength: 2 }),
      );
      fuzz('trace reader', arb, ([ti, how, at, byte, ops]) => {
        const t = targets[ti];
        const orig = original.get(t)!;
        let bytes: Buffer;
        if (how === 'cut') bytes = orig.subarray(0, at % (orig.length + 1));
        else if (how === 'flip') {
          bytes = Buffer.from(orig);
          bytes[at % bytes.length] ^= byte || 1;
        } else if (t.endsWith('.arrow')) bytes = orig.subarray(0, at % (orig.length + 1));
        else {
          const text = orig.toString('utf8');
          const doc: Json = t.endsWith('.json')
            ? JSON.parse(text)
            : text
                .split('\n')
                .filter(Boolean)
                .map((l) => JSON.parse(l));
          const out = apply(doc, ops as never);
          bytes = Buffer.from(
            t.endsWith('.json') || !Array.isArray(out) ? (JSON.stringify(out) ?? '') : out.map((l) => JSON.stringify(l)).join('\n') + '\n',
          );
        }
        writeFileSync(join(run, t), bytes);
        try {
          return readActivations(run);
        } finally {
          writeFileSync(join(run, t), orig);
        }
      });
    });
  });
});
