// GraphBuilder's subgraph attributes: an If whose branches are builders reads outer values by name and runs
// in onnxruntime; a branch's fresh names never collide with the outer graph's.

import { describe, expect, it } from 'vitest';
import { GraphBuilder } from './onnx.js';
import { Session } from './ort.js';

describe('GraphBuilder subgraphs', () => {
  it('writes If branches that read outer values and initializers, and runs the chosen one', async () => {
    const g = new GraphBuilder('if');
    g.input('x', 'float32', [2]);
    g.input('cond', 'bool', [1]);
    const two = g.constF32([2, 2]); // an outer initializer, used only inside a branch
    const then = new GraphBuilder('then', 'then/');
    then.op1('Mul', ['x', two], {}, undefined, 'then_y');
    then.output('then_y', 'float32', [2]);
    const other = new GraphBuilder('else', 'else/');
    other.op1('Neg', ['x'], {}, undefined, 'else_y');
    other.output('else_y', 'float32', [2]);
    g.op1('If', ['cond'], { then_branch: { graph: then }, else_branch: { graph: other } }, undefined, 'y');
    g.output('y', 'float32', [2]);
    const s = await Session.create(g.toBytes(), { threads: 1 });
    const x = { dtype: 'float32' as const, shape: [2], data: Float32Array.from([1.5, -3]) };
    const run = async (c: number) => (await s.run({ x, cond: { dtype: 'bool', shape: [1], data: Uint8Array.from([c]) } })).y.data;
    expect(Array.from((await run(1)) as Float32Array)).toEqual([3, -6]);
    expect(Array.from((await run(0)) as Float32Array)).toEqual([-1.5, 3]);
    await s.release();
  });

  it('prefixes the fresh names of a builder that has a name prefix', () => {
    const outer = new GraphBuilder('outer');
    const inner = new GraphBuilder('inner', 'inner/');
    expect(outer.fresh('t')).toBe('t_0');
    expect(inner.fresh('t')).toBe('inner/t_0');
  });
});
