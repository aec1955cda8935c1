// Weight error of gpt-oss's MXFP4 experts requantised to MatMulNBits 4-bit blocks (requantMxfp4), on one
// synthetic expert of gpt-oss-20b's shape (gate_up [5760, 2880], down [2880, 2880], normal random weights
// with heavy-ish tails): against the MXFP4 values themselves (what f32 expands to), and beside the error
// MXFP4 and q4_0 (mote's int4 of a bf16 checkpoint) make against the original float32.
// Usage: node bench/mxfp4.mjs

import { dequantMxfp4, dequantizeNBits, quantMxfp4, quantizeNBits } from '@mote/tensor-core';
import { requantMxfp4 } from '@mote/moe-runtime';

let s = 7;
const u = () => {
  s ^= s << 13;
  s >>>= 0;
  s ^= s >>> 17;
  s ^= s << 5;
  s >>>= 0;
  return (s + 1) / 4294967297;
};
/** student-t-like weights (normal / sqrt(chi2/5 approximated)): a few large values per block, as trained weights have */
function weights(n) {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const z = Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
    const w = 0.5 + u(); // per-weight scale mixture
    out[i] = 0.02 * z * w;
  }
  return out;
}
function stats(ref, got) {
  let max = 0,
    sum = 0,
    sq = 0,
    ref2 = 0;
  for (let i = 0; i < ref.length; i++) {
    const e = Math.abs(got[i] - ref[i]);
    max = Math.max(max, e);
    sum += e;
    sq += e * e;
    ref2 += ref[i] * ref[i];
  }
  return { max: max.toExponential(2), mean: (sum / ref.length).toExponential(2), relRms: Math.sqrt(sq / ref2).toFixed(4) };
}
const rows = [];
for (const [name, n, k] of [
  ['gate_up', 5760, 2880],
  ['down', 2880, 2880],
]) {
  const w = weights(n * k); // [out, in]
  const mx = quantMxfp4(w);
  const mxv = dequantMxfp4(mx.blocks, mx.scales);
  const r4 = dequantizeNBits(requantMxfp4(mx.blocks, mx.scales, 4, n));
  const r8 = dequantizeNBits(requantMxfp4(mx.blocks, mx.scales, 8, n));
  const q4 = dequantizeNBits(quantizeNBits(w, n, k, 4));
  rows.push({ tensor: name, comparison: 'MXFP4 -> int4 vs MXFP4 values', ...stats(mxv, r4) });
  rows.push({
    tensor: name,
    comparison: 'q4_0 of the MXFP4 values vs MXFP4 values',
    ...stats(mxv, dequantizeNBits(quantizeNBits(mxv, n, k, 4))),
  });
  rows.push({ tensor: name, comparison: 'MXFP4 -> int8 vs MXFP4 values', ...stats(mxv, r8) });
  rows.push({ tensor: name, comparison: 'MXFP4 vs float32 source', ...stats(w, mxv) });
  rows.push({ tensor: name, comparison: 'MXFP4 -> int4 vs float32 source', ...stats(w, r4) });
  rows.push({ tensor: name, comparison: 'q4_0 (int4 of bf16) vs float32 source', ...stats(w, q4) });
}
console.table(rows);
