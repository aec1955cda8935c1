// A graph pass run before quantisation: MatMuls that read the same input with constant float32 weights
// of the same width (q/k/v projections, an MLP's gate and up) become one MatMul over the concatenated
// weights and a Split — one weight stream and one kernel launch instead of two or three, which is what a
// decoded token (M = 1) pays for. Exact: every output column is the same dot product as before.
// Shapes: K inputs, N_i outputs of member i.

import type { GraphBuilder, Init, NodeSpec } from '@mote/tensor-core';

/** initializers never fused (they stay float32 and are read alone) */
const KEEP = new Set(['router', 'shared_gate']);

/** Name of a fused initializer: its members joined by '+' (quantize.ts reads the first member's class). */
export const fusedMembers = (name: string): string[] => name.split('+');

export function fuseSiblingMatMuls(g: GraphBuilder, sameClass: (a: string, b: string) => boolean = () => true): number {
  const { nodes, inits } = g.parts();
  const byName = new Map(inits.map((i) => [i.name, i]));
  const uses = new Map<string, number>();
  for (const n of nodes) for (const i of n.inputs) uses.set(i, (uses.get(i) ?? 0) + 1);
  const weightOf = (n: NodeSpec): Init | null => {
    if (n.op !== 'MatMul' || n.domain !== '') return null;
    const b = byName.get(n.inputs[1]);
    return b?.raw && b.elem === 'float32' && b.dims.length === 2 && !KEEP.has(b.name) && uses.get(b.name) === 1 ? b : null;
  };
  const groups = new Map<string, NodeSpec[]>();
  for (const n of nodes) {
    const b = weightOf(n);
    if (!b) continue;
    const key = `${n.inputs[0]}|${b.dims[0]}`;
    groups.set(key, [...(groups.get(key) ?? []), n]);
  }
  let fused = 0;
  for (const members of groups.values()) {
    const ws = members.map((n) => byName.get(n.inputs[1])!);
    if (members.length < 2 || ws.some((w) => !sameClass(w.name, ws[0].name))) continue;
    const K = ws[0].dims[0];
    const widths = ws.map((w) => w.dims[1]);
    const N = widths.reduce((a, b) => a + b, 0);
    const data = new Float32Array(K * N); // [K, N]: member columns side by side
    let col = 0;
    for (const w of ws) {
      const n = w.dims[1];
      const src = new Float32Array(w.raw!.buffer, w.raw!.byteOffset, K * n);
      for (let k = 0; k < K; k++) data.set(src.subarray(k * n, (k + 1) * n), k * N + col);
      col += n;
    }
    const name = ws.map((w) => w.name).join('+');
    const outs = members.map((n) => n.outputs[0]);
    const drop = new Set(ws.map((w) => w.name));
    for (let i = inits.length - 1; i >= 0; i--) if (drop.has(inits[i].name)) inits.splice(i, 1);
    inits.push({ name, elem: 'float32', dims: [K, N], raw: new Uint8Array(data.buffer) });
    const splitName = `${name}_widths`;
    inits.push({
      name: splitName,
      elem: 'int64',
      dims: [widths.length],
      raw: new Uint8Array(BigInt64Array.from(widths.map(BigInt)).buffer),
    });
    const at = nodes.indexOf(members[0]);
    const y = `${name}_y`;
    nodes.splice(
      at,
      1,
      { op: 'MatMul', domain: '', inputs: [members[0].inputs[0], name], outputs: [y], attrs: {}, name: `${members[0].name}_fused` },
      { op: 'Split', domain: '', inputs: [y, splitName], outputs: outs, attrs: { axis: -1 }, name: `${members[0].name}_split` },
    );
    for (const m of members.slice(1)) nodes.splice(nodes.indexOf(m), 1);
    fused++;
  }
  return fused;
}
