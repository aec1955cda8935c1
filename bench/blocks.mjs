// Weight error of MatMulNBits quantisation against the block size (`node bench/blocks.mjs`): int4 and int8
// rows of K = 2048 (OLMoE's and Qwen3's hidden width) at blocks of 32 (llama.cpp's q4_0 / q8_0), 64 and 128
// (what the runtime uses at these widths, nbitsBlock), on Gaussian rows and on heavy-tailed Student-t(3) rows
// (outliers, which a wider block's one scale has to cover). Relative RMS error ||W - dequant(W)|| / ||W||.
// Random weights, not a model: model-level agreement is bench/accuracy.mjs.

import { createRng } from '@mote/stats';
import { dequantizeNBits, quantizeNBits } from '@mote/tensor-core';

const [N, K] = [256, 2048];
const { normal } = createRng(7);
const rows = {
  gaussian: normal,
  'student-t(3)': () => normal() / Math.sqrt((normal() ** 2 + normal() ** 2 + normal() ** 2) / 3),
};
const table = [];
for (const [name, draw] of Object.entries(rows)) {
  const w = Float32Array.from({ length: N * K }, draw);
  let norm = 0;
  for (const v of w) norm += v * v;
  const row = { rows: name };
  for (const bits of [4, 8]) {
    for (const block of [32, 64, 128]) {
      const d = dequantizeNBits(quantizeNBits(w, N, K, bits, block));
      let err = 0;
      for (let i = 0; i < w.length; i++) err += (w[i] - d[i]) ** 2;
      row[`int${bits} block ${block}`] = `${(100 * Math.sqrt(err / norm)).toFixed(2)}%`;
    }
  }
  table.push(row);
}
console.log(`relative RMS weight error, ${N} rows x K ${K}, symmetric levels with an fp16-exact scale per block:`);
console.table(table);
