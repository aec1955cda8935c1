// Dispatch alternatives for routed experts, measured against the runtime's expert slices (experts.ts) on int4
// experts built here (random MatMulNBits blocks, the slices' exact node structure; no checkpoint, no model):
// slices at 64 and 256 experts, 256 experts in `If` groups (a group's slices run only when it has rows), and
// one session per group run from JS for the occupied groups only. Decode at batch 1 and 8, a 128-token
// prefill; best of interleaved rounds. Used by moe-dispatch.mjs; not a model bench.

import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRng } from '@mote/stats';
import { nbitsBlock } from '@mote/moe-runtime';
import { GraphBuilder, Session } from '@mote/tensor-core';

/** seeded random bytes: one random block table per weight shape, shared by every expert (distinct initializers) */
function noise(n, seed) {
  const rng = createRng(seed);
  return Uint8Array.from({ length: n }, () => rng.int(256));
}

/**
 * Compare the dispatch alternatives at hidden D, expert width I, top-K; prints one table and returns its rows.
 * Example: await compareDispatch({ D: 1024, I: 512, K: 8, threads: 1, clock: () => performance.now() / 1e3 })
 */
export async function compareDispatch({ D, I, K, threads, clock, slicesOnly = false }) {
  const blocks = { fc1: noise((2 * I * D) / 2, 7), fc2: noise((D * I) / 2, 11) }; // int4: two weights a byte
  const block = { fc1: nbitsBlock(D), fc2: nbitsBlock(I) }; // the runtime's blocks for these widths (quantize.ts)
  const scales = {
    fc1: new Uint8Array(new Float32Array((2 * I * D) / block.fc1).fill(0.01).buffer),
    fc2: new Uint8Array(new Float32Array((D * I) / block.fc2).fill(0.01).buffer),
  };
  // every expert's initializers point at the same page-aligned bytes of one file (external data, as the weight
  // cache's): graphs past protobuf's 2 GB, and onnxruntime prepacks each expert into its own copy
  const dir = mkdtempSync(join(tmpdir(), 'mote-dispatch-'));
  const parts = [
    ['fc1B', blocks.fc1],
    ['fc2B', blocks.fc2],
    ['fc1S', scales.fc1],
    ['fc2S', scales.fc2],
  ];
  const ref = {};
  const fd = openSync(join(dir, 'w.bin'), 'w');
  let offset = 0;
  for (const [key, bytes] of parts) {
    writeSync(fd, bytes, 0, bytes.length, offset);
    ref[key] = { location: 'w.bin', offset, length: bytes.length };
    offset = Math.ceil((offset + bytes.length) / 65536) * 65536;
  }
  closeSync(fd);
  /** x [m, k] @ expert e's `which` as MatMulNBits in builder b, initializers in root (the outer graph) */
  const proj = (b, root, x, e, which) => {
    const [k, n] = which === 'fc1' ? [D, 2 * I] : [I, D];
    root.useDomain('com.microsoft', 1);
    const bs = block[which];
    root.initExternal(`expert${e}_${which}_q4`, 'uint8', [n, k / bs, bs / 2], ref[`${which}B`]);
    root.initExternal(`expert${e}_${which}_scales`, 'float32', [n * (k / bs)], ref[`${which}S`]);
    const attrs = { K: k, N: n, bits: 4, block_size: bs, accuracy_level: 4 };
    return b.op1('MatMulNBits', [x, `expert${e}_${which}_q4`, `expert${e}_${which}_scales`], attrs, 'com.microsoft'); // [m, n]
  };
  /** experts [e0, e0+S) as slices on rows xs [m, D] grouped by expert, counts [S]: Split, MatMulNBits, Concat */
  const slices = (b, root, xs, counts, e0, S) => {
    const parts = b.op('Split', [xs, counts], { axis: 0 }, { outputs: S }); // S x [m_e, D]
    const h1 = b.concat(
      parts.map((p, j) => proj(b, root, p, e0 + j, 'fc1')),
      0,
    ); // [m, 2I]
    const [gate, up] = b.op('Split', [h1, b.constI64([I, I])], { axis: 1 }, { outputs: 2 });
    const act = b.mul(b.mul(gate, b.sigmoid(gate)), up); // [m, I]
    const actParts = b.op('Split', [act, counts], { axis: 0 }, { outputs: S });
    return b.concat(
      actParts.map((p, j) => proj(b, root, p, e0 + j, 'fc2')),
      0,
    ); // [m, D]
  };
  let graphs = 0;
  const graph = (E, body) => {
    const g = new GraphBuilder(`experts${E}`);
    g.input('xs', 'float32', ['M', D]);
    g.input('counts', 'int64', [E]);
    g.op1('Identity', [body(g)], {}, undefined, 'y');
    g.output('y', 'float32', ['M', D]);
    const file = join(dir, `graph${graphs++}.onnx`);
    writeFileSync(file, g.toBytes());
    return Session.create(file, { threads });
  };
  /** 256 experts in If groups of S: group g's slices run in the then-branch only when its rows > 0 */
  const ifGroups = (E, S) =>
    graph(E, (g) => {
      const G = E / S;
      const rows = g.op1('ReduceSum', [g.reshape('counts', [G, S]), g.constI64([1])], { keepdims: 0 }); // [G]
      const conds = g.op('Split', [g.op1('Greater', [rows, g.constI64([0], [])])], { axis: 0 }, { outputs: G }); // G x [1]
      const xg = g.op('Split', ['xs', rows], { axis: 0 }, { outputs: G }); // G x [m_g, D]
      const cg = g.op('Split', ['counts'], { axis: 0 }, { outputs: G }); // G x [S]
      const empty = g.init('empty', { dtype: 'float32', shape: [0, D], data: new Float32Array(0) });
      const ys = xg.map((x, k) => {
        const then = new GraphBuilder(`group${k}`, `group${k}/`);
        then.op1('Identity', [slices(then, g, x, cg[k], k * S, S)], {}, undefined, `group${k}_y`);
        then.output(`group${k}_y`, 'float32', ['m', D]);
        const skip = new GraphBuilder(`skip${k}`, `skip${k}/`);
        skip.op1('Identity', [empty], {}, undefined, `skip${k}_y`);
        skip.output(`skip${k}_y`, 'float32', [0, D]);
        return g.op1('If', [conds[k]], { then_branch: { graph: then }, else_branch: { graph: skip } });
      });
      return g.concat(ys, 0); // [M, D]
    });
  /** one session per group of S experts; run() feeds only the occupied groups, rows gathered and placed in JS */
  const sessionGroups = async (E, S) => {
    const ss = [];
    for (let k = 0; k < E / S; k++) ss.push(await graph(S, (g) => slices(g, g, 'xs', 'counts', 0, S)));
    return {
      async run({ xs, counts }) {
        const c = counts.data;
        const y = new Float32Array(xs.data.length); // [M, D]
        let row = 0;
        for (let k = 0; k < ss.length; k++) {
          let m = 0;
          for (let j = 0; j < S; j++) m += Number(c[k * S + j]);
          if (!m) continue;
          const part = { dtype: 'float32', shape: [m, D], data: xs.data.slice(row * D, (row + m) * D) };
          const out = await ss[k].run({ xs: part, counts: { dtype: 'int64', shape: [S], data: c.slice(k * S, (k + 1) * S) } });
          y.set(out.y.data, row * D);
          row += m;
        }
        return { y: { dtype: 'float32', shape: [row, D], data: y } };
      },
      release: () => Promise.all(ss.map((s) => s.release())),
    };
  };

  const rand = createRng(99).int;
  /** feeds of N rows each routed to K distinct random experts of E: rows grouped by expert */
  const feeds = (E, N) => {
    const counts = new BigInt64Array(E);
    for (let n = 0; n < N; n++) {
      const s = new Set();
      while (s.size < K) s.add(rand(E));
      for (const e of s) counts[e]++;
    }
    const M = N * K;
    const xs = Float32Array.from({ length: M * D }, (_, i) => ((i * 2654435761) % 2001) / 1000 - 1);
    return { xs: { dtype: 'float32', shape: [M, D], data: xs }, counts: { dtype: 'int64', shape: [E], data: counts } };
  };

  const variants = [
    { name: 'slices E=64 (runtime)', E: 64, make: () => graph(64, (g) => slices(g, g, 'xs', 'counts', 0, 64)) },
    { name: 'slices E=256 (runtime)', E: 256, make: () => graph(256, (g) => slices(g, g, 'xs', 'counts', 0, 256)) },
    { name: 'If groups of 8, E=256', E: 256, make: () => ifGroups(256, 8) },
    { name: 'If groups of 32, E=256', E: 256, make: () => ifGroups(256, 32) },
    { name: 'session per 8 experts, E=256', E: 256, make: () => sessionGroups(256, 8) },
  ].slice(0, slicesOnly ? 2 : undefined); // slicesOnly: the runtime's two (R1's widths: 256 experts are 6 GB a variant)
  for (const v of variants) {
    const t = performance.now();
    v.s = await v.make();
    process.stderr.write(`built ${v.name} in ${((performance.now() - t) / 1e3).toFixed(1)} s\n`);
  }
  const phases = [
    { phase: 'decode batch 1', N: 1, reps: 10, rounds: 30 },
    { phase: 'decode batch 8', N: 8, reps: 3, rounds: 15 },
    { phase: 'prefill 128', N: 128, reps: 1, rounds: 5 },
  ];
  const rows = [];
  for (const p of phases) {
    const best = variants.map(() => Infinity);
    for (let r = 0; r < p.rounds; r++) {
      for (const [i, v] of variants.entries()) {
        const fs = Array.from({ length: p.reps }, () => feeds(v.E, p.N));
        await v.s.run(fs[0]);
        const t = clock();
        for (const f of fs) await v.s.run(f);
        best[i] = Math.min(best[i], (clock() - t) / p.reps);
      }
    }
    process.stderr.write(`timed ${p.phase}\n`);
    for (const [i, v] of variants.entries()) {
      rows.push({
        phase: p.phase,
        dispatch: v.name,
        ms: (best[i] * 1e3).toFixed(3),
        'vs slices E=256': (best[i] / best[1]).toFixed(2),
        'vs slices E=64': (best[i] / best[0]).toFixed(2),
      });
    }
  }
  for (const v of variants) await v.s.release();
  rmSync(dir, { recursive: true, force: true });
  console.log(`dispatch alternatives, int4 experts D ${D}, I ${I}, top-${K} (ratios < 1 are faster):`);
  console.table(rows);
  return rows;
}
