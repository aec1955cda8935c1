// Where a forward pass spends its time: wall time of every session.run() by session (layer attention,
// layer MoE, lm_head) for a 128-token prefill and for greedy decode steps, and the rest (JS: routing,
// feeds, embeddings, sampling). Usage: node bench/profile.mjs DIR [f32|int8|int4] [threads]

import { Session } from '@mote/tensor-core';
import { loadModel } from '@mote/moe-runtime';

export async function profileModel(model, { prompt = 128, decode = 16 } = {}) {
  const ids = Array.from({ length: prompt }, (_, i) => 3 + ((i * 7919) % 1000));
  await model.generate([ids], { maxNewTokens: 2, stopTokens: [] }); // warm-up
  const rowsOf = () => [...Session.timings].map(([label, v]) => ({ session: label.replace(/ of .*$/, ''), calls: v.calls, ms: v.ms }));
  const sum = (rows) => rows.reduce((a, r) => a + r.ms, 0);
  Session.timings = new Map();
  const t = performance.now();
  await model.forward([ids], { logits: 'last' });
  const pWall = performance.now() - t;
  const pRows = rowsOf();
  // decode: timings restart when the prefill's token arrives
  let t0 = 0;
  await model.generate([ids], {
    maxNewTokens: decode + 1,
    stopTokens: [],
    onToken: () => {
      if (!t0) {
        t0 = performance.now();
        Session.timings = new Map();
      }
    },
  });
  const dWall = performance.now() - t0;
  const dRows = rowsOf();
  Session.timings = null;
  return {
    prefill: { wall: pWall, rows: pRows, other: pWall - sum(pRows) },
    decode: { wall: dWall, rows: dRows, other: dWall - sum(dRows), steps: decode },
  };
}

export function printProfile(p) {
  const fmt = (x) => x.toFixed(2);
  console.log(`prefill ${fmt(p.prefill.wall)} ms (run() ${fmt(p.prefill.wall - p.prefill.other)}, other ${fmt(p.prefill.other)})`);
  console.table(
    p.prefill.rows.map((r) => ({ session: r.session, calls: r.calls, ms: fmt(r.ms), '%': fmt((100 * r.ms) / p.prefill.wall) })),
  );
  const s = p.decode.steps;
  console.log(
    `decode ${fmt(p.decode.wall / s)} ms/token (run() ${fmt((p.decode.wall - p.decode.other) / s)}, other ${fmt(p.decode.other / s)})`,
  );
  console.table(p.decode.rows.map((r) => ({ session: r.session, 'ms/token': fmt(r.ms / s), '%': fmt((100 * r.ms) / p.decode.wall) })));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [dir, dtype = 'f32', threads = '2'] = process.argv.slice(2);
  const t = performance.now();
  const model = await loadModel(dir, { dtype, threads: Number(threads) });
  console.log(`load ${((performance.now() - t) / 1000).toFixed(1)} s (cache ${model.cache?.hit ? 'hit' : 'miss'})`);
  printProfile(await profileModel(model));
  await model.dispose();
}
