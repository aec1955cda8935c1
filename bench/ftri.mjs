// fTRI throughput on the organism: tracing overhead over a plain forward (same batches, interleaved
// rounds in alternating order, best of 4) and 1,000 prompts traced end to end in prompt scope (traces, ranking, maps, report).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '@mote/moe-runtime';
import { BatchTracer, loadPromptSet, runFtri } from '@mote/ftri';

export async function ftriBench(organismDir, threads, count = 1000, batch = 32) {
  const model = await loadModel(join(organismDir, 'model'), { threads });
  const base = [
    ...loadPromptSet(join(organismDir, 'prompts', 'ftri.jsonl')),
    ...loadPromptSet(join(organismDir, 'prompts', 'eval-dev.jsonl')),
  ];
  const prompts = Array.from({ length: count }, (_, i) => ({ ...base[i % base.length], id: `p${i}` }));
  const ids = prompts.map((p) => model.tokenizer.encodeChat([{ role: 'user', content: p.prompt }]));
  const tracer = new BatchTracer(model.info, { scope: 'prompt' });
  // time spent inside the tracing hooks themselves: the overhead without onnxruntime's run-to-run noise
  let hookMs = 0;
  const hooks = Object.fromEntries(
    Object.entries(tracer.hooks).map(([name, h]) => [
      name,
      (t, ctx) => {
        const t0 = performance.now();
        const r = h(t, ctx);
        hookMs += performance.now() - t0;
        return r;
      },
    ]),
  );
  const pass = async (traced) => {
    const t = performance.now();
    for (let s = 0; s < ids.length; s += batch) {
      const b = ids.slice(s, s + batch);
      if (traced) tracer.begin(b.map((_, j) => s + j));
      await model.forward(b, { logits: 'none', hooks: traced ? hooks : undefined });
      if (traced) tracer.end();
    }
    return (performance.now() - t) / 1000;
  };
  let plain = Infinity;
  let traced = Infinity;
  let hookS = Infinity;
  for (let r = 0; r < 4; r++) {
    // alternate the order so neither side always runs first (GC, caches)
    for (const t of r % 2 ? [true, false] : [false, true]) {
      hookMs = 0;
      const s = await pass(t);
      if (t) (traced = Math.min(traced, s)), (hookS = Math.min(hookS, hookMs / 1000));
      else plain = Math.min(plain, s);
    }
  }
  const out = mkdtempSync(join(tmpdir(), 'mote-ftri-bench-'));
  const t = performance.now();
  await runFtri({ model, prompts, outDir: out, scope: 'prompt', contrast: 'sensitive:rest', batchSize: batch });
  const e2e = (performance.now() - t) / 1000;
  rmSync(out, { recursive: true, force: true });
  await model.dispose();
  const tokens = ids.reduce((a, x) => a + x.length, 0);
  return {
    prompts: count,
    tokens,
    plainS: plain,
    tracedS: traced,
    overhead: traced / plain - 1,
    hookS,
    hookShare: hookS / plain,
    endToEndS: e2e,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const root = join(import.meta.dirname, '..');
  const r = await ftriBench(join(root, 'models', 'organism'), Number(process.env.MOTE_BENCH_THREADS ?? 2));
  console.log(JSON.stringify(r, null, 1));
}
