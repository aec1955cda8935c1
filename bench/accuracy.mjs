// Quantisation accuracy of int8 / int4 against f32 on the same token sequences (teacher forced): top-1
// agreement of the next-token argmax, mean KL(f32 || q) of the next-token distributions, and routing
// agreement (mean |topk_ids_f32 ∩ topk_ids_q| / K over tokens and MoE layers).

import { hookName } from '@mote/moe-runtime';

function logSoftmax(row) {
  let m = -Infinity;
  for (const v of row) if (v > m) m = v;
  let s = 0;
  for (const v of row) s += Math.exp(v - m);
  const l = m + Math.log(s);
  return Float64Array.from(row, (v) => v - l);
}

async function run(model, seqs) {
  const names = model.info.moeLayers.map((l) => hookName(l, 'topk_ids'));
  const out = [];
  for (let i = 0; i < seqs.length; i += 16) {
    const batch = seqs.slice(i, i + 16);
    const r = await model.runWithCache(batch, { names, logits: 'all' });
    out.push({ batch, logits: r.logits, routes: names.map((n) => r.cache.get(n).tensor) });
  }
  return out;
}

/** Compare `quant` (a loaded model) with `ref` (f32) over `seqs` (token id lists). */
export async function compareModels(ref, quant, seqs) {
  const a = await run(ref, seqs);
  const b = await run(quant, seqs);
  const V = ref.info.vocabSize;
  const K = ref.info.topK;
  let n = 0,
    agree = 0,
    kl = 0,
    routeHits = 0,
    routeN = 0;
  for (let c = 0; c < a.length; c++) {
    const { batch, logits: la } = a[c];
    const lb = b[c].logits;
    const T = la.shape[1];
    batch.forEach((ids, s) => {
      for (let t = 0; t < ids.length; t++) {
        const o = (s * T + t) * V;
        const ra = la.data.subarray(o, o + V),
          rb = lb.data.subarray(o, o + V);
        let ia = 0,
          ib = 0;
        for (let v = 1; v < V; v++) {
          if (ra[v] > ra[ia]) ia = v;
          if (rb[v] > rb[ib]) ib = v;
        }
        agree += ia === ib ? 1 : 0;
        const pa = logSoftmax(ra),
          pb = logSoftmax(rb);
        let k = 0;
        for (let v = 0; v < V; v++) k += Math.exp(pa[v]) * (pa[v] - pb[v]);
        kl += k;
        n++;
      }
    });
    a[c].routes.forEach((ta, l) => {
      const tb = b[c].routes[l];
      const rows = ta.shape[0];
      for (let r = 0; r < rows; r++) {
        const sa = new Set(ta.data.subarray(r * K, (r + 1) * K));
        for (const e of tb.data.subarray(r * K, (r + 1) * K)) if (sa.has(e)) routeHits++;
        routeN += K;
      }
    });
  }
  return { tokens: n, top1: agree / n, kl: kl / n, routing: routeHits / routeN };
}
