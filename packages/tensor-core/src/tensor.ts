// Tensor: a dtype, a shape and a typed array in row-major order. Plain data, no autograd, no views.

export type DType = 'float32' | 'int32' | 'int64' | 'uint8' | 'bool';
export type TypedData = Float32Array | Int32Array | BigInt64Array | Uint8Array;

export interface Tensor<D extends TypedData = TypedData> {
  dtype: DType;
  shape: number[];
  data: D;
}

export type F32Tensor = Tensor<Float32Array>;
export type I32Tensor = Tensor<Int32Array>;

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

export function f32(shape: number[], data?: Float32Array | number[]): F32Tensor {
  const d = data === undefined ? new Float32Array(numel(shape)) : data instanceof Float32Array ? data : Float32Array.from(data);
  if (d.length !== numel(shape)) throw new Error(`f32: data length ${d.length} does not match shape [${shape}]`);
  return { dtype: 'float32', shape, data: d };
}

export function i32(shape: number[], data?: Int32Array | number[]): I32Tensor {
  const d = data === undefined ? new Int32Array(numel(shape)) : data instanceof Int32Array ? data : Int32Array.from(data);
  if (d.length !== numel(shape)) throw new Error(`i32: data length ${d.length} does not match shape [${shape}]`);
  return { dtype: 'int32', shape, data: d };
}

/** Row `r` of a 2-D tensor as a subarray view (no copy). */
export function row<D extends TypedData>(t: Tensor<D>, r: number): D {
  const w = t.shape[t.shape.length - 1];
  return t.data.subarray(r * w, (r + 1) * w) as D;
}

/** Nested JS arrays of a tensor (for JSON output and tests). */
export function toNested(t: Tensor): unknown {
  const data = Array.from(t.data as ArrayLike<number | bigint>, (v) => (typeof v === 'bigint' ? Number(v) : v));
  const rec = (dim: number, off: number): unknown => {
    if (dim === t.shape.length) return data[off];
    const stride = numel(t.shape.slice(dim + 1));
    return Array.from({ length: t.shape[dim] }, (_, i) => rec(dim + 1, off + i * stride));
  };
  return t.shape.length === 0 ? data[0] : rec(0, 0);
}
