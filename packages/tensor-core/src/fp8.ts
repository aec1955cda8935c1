// Block-scaled low-precision weight formats of released checkpoints, dequantised to float32 on load:
// FP8 E4M3 with 128x128 `weight_scale_inv` blocks (DeepSeek-V3/R1) and MXFP4 (gpt-oss: FP4 e2m1 values
// in 32-element blocks with an e8m0 power-of-two scale). Pure functions on bytes plus checkpoint readers;
// no model names. Shapes: R rows (out features), C columns (in features), G 32-element blocks per row.

import { MoteError } from './errors.js';
import { F8_E4M3_TABLE, f32ToF8e4m3 } from './dtype.js';
import type { SafetensorsCheckpoint } from './safetensors.js';
import { numel, type F32Tensor } from './tensor.js';

/** DeepSeek's `quantization_config.weight_block_size`. */
export const FP8_BLOCK: readonly [number, number] = [128, 128];

/**
 * W[i, j] = fp8(W[i, j]) * scaleInv[floor(i / br), floor(j / bc)] for W [R, C] stored as E4M3 bytes and
 * scaleInv [ceil(R / br), ceil(C / bc)] (edge blocks may be partial).
 */
export function dequantFp8Blocks(
  bytes: Uint8Array,
  shape: [number, number],
  scaleInv: Float32Array,
  block: readonly [number, number] = FP8_BLOCK,
): Float32Array {
  const [R, C] = shape;
  const [br, bc] = block;
  const sc = Math.ceil(C / bc);
  if (bytes.length !== R * C || scaleInv.length !== Math.ceil(R / br) * sc) {
    throw new Error(
      `dequantFp8Blocks: ${bytes.length} bytes and ${scaleInv.length} scales do not fit [${R}, ${C}] with ${br}x${bc} blocks`,
    );
  }
  const out = new Float32Array(R * C); // [R, C]
  for (let i = 0; i < R; i++) {
    const srow = Math.floor(i / br) * sc;
    for (let j = 0; j < C; j++) out[i * C + j] = F8_E4M3_TABLE[bytes[i * C + j]] * scaleInv[srow + Math.floor(j / bc)];
  }
  return out;
}

/** Quantise W [R, C] the way DeepSeek's kernels do: per block scale = amax / 448, bytes = E4M3(W / scale). */
export function quantFp8Blocks(
  w: Float32Array,
  shape: [number, number],
  block: readonly [number, number] = FP8_BLOCK,
): { bytes: Uint8Array; scaleInv: Float32Array; scaleShape: [number, number] } {
  const [R, C] = shape;
  const [br, bc] = block;
  const sr = Math.ceil(R / br);
  const sc = Math.ceil(C / bc);
  const scaleInv = new Float32Array(sr * sc); // [sr, sc]
  for (let i = 0; i < R; i++)
    for (let j = 0; j < C; j++) {
      const s = Math.floor(i / br) * sc + Math.floor(j / bc);
      scaleInv[s] = Math.max(scaleInv[s], Math.abs(w[i * C + j]) / 448);
    }
  for (let s = 0; s < scaleInv.length; s++) if (scaleInv[s] === 0) scaleInv[s] = 1;
  const bytes = new Uint8Array(R * C); // [R, C]
  for (let i = 0; i < R; i++)
    for (let j = 0; j < C; j++) bytes[i * C + j] = f32ToF8e4m3(w[i * C + j] / scaleInv[Math.floor(i / br) * sc + Math.floor(j / bc)]);
  return { bytes, scaleInv, scaleShape: [sr, sc] };
}

/**
 * One weight as float32: F8_E4M3 with a `<name>_scale_inv` tensor is block-dequantised (128x128 blocks,
 * as every released fp8 checkpoint); everything else goes through readF32 (f32/bf16/f16).
 */
export function readScaledF32(ckpt: SafetensorsCheckpoint, name: string, expectShape?: number[]): F32Tensor {
  const scaleName = `${name}_scale_inv`;
  if (!ckpt.has(scaleName)) return ckpt.readF32(name, expectShape);
  const e = ckpt.entry(name);
  const s = ckpt.entry(scaleName);
  if (expectShape && (expectShape.length !== e.shape.length || expectShape.some((d, i) => d !== e.shape[i]))) {
    throw new MoteError(
      'E_SHAPE',
      `tensor ${name} in ${e.file} has shape [${e.shape}] but the config implies [${expectShape}]; the checkpoint and config.json disagree`,
      { file: e.file, field: name },
    );
  }
  if (e.dtype !== 'F8_E4M3') {
    throw new MoteError(
      'E_DTYPE',
      `tensor ${name} in ${e.file} has a ${scaleName} block scale but dtype ${e.dtype}; block scales go with F8_E4M3 weights, remove the scale or re-export the checkpoint`,
      { file: e.file, field: `${name}.dtype` },
    );
  }
  if (e.shape.length !== 2 || s.shape.length !== 2 || s.shape[0] < 1 || s.shape[1] < 1) {
    throw new MoteError(
      'E_SHAPE',
      `${name} [${e.shape}] with ${scaleName} [${s.shape}] in ${e.file}: fp8 block scales need a 2-D weight and a 2-D scale`,
      { file: e.file, field: scaleName },
    );
  }
  const [R, C] = e.shape as [number, number];
  const [br, bc] = FP8_BLOCK;
  if (Math.ceil(R / br) !== s.shape[0] || Math.ceil(C / bc) !== s.shape[1]) {
    throw new MoteError(
      'E_SHAPE',
      `${scaleName} in ${e.file} has shape [${s.shape}] but the weight [${e.shape}] in ${br}x${bc} blocks (weight_block_size) needs [${Math.ceil(R / br)}, ${Math.ceil(C / bc)}]; the checkpoint is corrupt or uses another block size`,
      { file: e.file, field: scaleName },
    );
  }
  const scale = ckpt.readF32(scaleName).data;
  return { dtype: 'float32', shape: [R, C], data: dequantFp8Blocks(ckpt.readBytes(name), [R, C], scale) };
}

// ---- MXFP4 ------------------------------------------------------------------------------------------

/** FP4 e2m1 code -> value (bit 3 sign, 2 exponent bits, 1 mantissa bit). */
export const FP4_E2M1_VALUES = Float32Array.from([0, 0.5, 1, 1.5, 2, 3, 4, 6, -0, -0.5, -1, -1.5, -2, -3, -4, -6]);

/**
 * MXFP4 -> float32: blocks [..., G, 16] uint8 (two FP4 codes per byte, low nibble first) and scales
 * [..., G] uint8 (e8m0: 2^(s - 127)) give [..., G * 32].
 */
export function dequantMxfp4(blocks: Uint8Array, scales: Uint8Array): Float32Array {
  const G = scales.length;
  if (blocks.length !== G * 16) throw new Error(`dequantMxfp4: ${blocks.length} block bytes do not fit ${G} scales x 16`);
  const out = new Float32Array(G * 32);
  for (let g = 0; g < G; g++) {
    const m = 2 ** (scales[g] - 127);
    for (let b = 0; b < 16; b++) {
      const v = blocks[g * 16 + b];
      out[g * 32 + 2 * b] = FP4_E2M1_VALUES[v & 0x0f] * m;
      out[g * 32 + 2 * b + 1] = FP4_E2M1_VALUES[v >> 4] * m;
    }
  }
  return out;
}

/** float32 [G * 32] -> MXFP4 (scale = smallest power of two with amax / scale <= 6, codes rounded to nearest). */
export function quantMxfp4(x: Float32Array): { blocks: Uint8Array; scales: Uint8Array } {
  if (x.length % 32 !== 0) throw new Error(`quantMxfp4: length ${x.length} is not a multiple of 32`);
  const G = x.length / 32;
  const blocks = new Uint8Array(G * 16);
  const scales = new Uint8Array(G);
  const code = (v: number) => {
    let best = 0;
    for (let c = 1; c < 16; c++) if (Math.abs(FP4_E2M1_VALUES[c] - v) < Math.abs(FP4_E2M1_VALUES[best] - v)) best = c;
    return best;
  };
  for (let g = 0; g < G; g++) {
    let amax = 0;
    for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(x[g * 32 + i]));
    const e = amax === 0 ? 0 : Math.max(-127, Math.min(127, Math.ceil(Math.log2(amax / 6))));
    scales[g] = e + 127;
    const m = 2 ** e;
    for (let b = 0; b < 16; b++) blocks[g * 16 + b] = code(x[g * 32 + 2 * b] / m) | (code(x[g * 32 + 2 * b + 1] / m) << 4);
  }
  return { blocks, scales };
}

/** Read `<prefix>_blocks` [..., G, 16] + `<prefix>_scales` [..., G] as float32 [..., G * 32]. */
export function readMxfp4F32(ckpt: SafetensorsCheckpoint, prefix: string, expectShape?: number[]): F32Tensor {
  const b = ckpt.entry(`${prefix}_blocks`);
  const s = ckpt.entry(`${prefix}_scales`);
  const lead = b.shape.slice(0, -1);
  if (
    b.dtype !== 'U8' ||
    s.dtype !== 'U8' ||
    b.shape[b.shape.length - 1] !== 16 ||
    lead.length !== s.shape.length ||
    lead.some((d, i) => d !== s.shape[i])
  ) {
    throw new MoteError(
      'E_SHAPE',
      `MXFP4 tensors ${prefix}_blocks [${b.shape}] ${b.dtype} and ${prefix}_scales [${s.shape}] ${s.dtype} in ${b.file} do not fit: blocks must be U8 [..., G, 16] and scales U8 [..., G]`,
      { file: b.file, field: `${prefix}_blocks` },
    );
  }
  const shape = [...s.shape.slice(0, -1), s.shape[s.shape.length - 1] * 32];
  if (expectShape && (expectShape.length !== shape.length || expectShape.some((d, i) => d !== shape[i]))) {
    throw new MoteError(
      'E_SHAPE',
      `MXFP4 tensor ${prefix} in ${b.file} unpacks to [${shape}] but the config implies [${expectShape}]; the checkpoint and config.json disagree`,
      { file: b.file, field: `${prefix}_blocks` },
    );
  }
  const data = dequantMxfp4(ckpt.readBytes(`${prefix}_blocks`), ckpt.readBytes(`${prefix}_scales`));
  if (data.length !== numel(shape)) throw new Error(`readMxfp4F32: ${prefix} unpacked ${data.length} values for [${shape}]`);
  return { dtype: 'float32', shape, data };
}
