// planModel (`mote plan`): from config.json alone, what a model costs — weight bytes, KV bytes per token, FLOPs
// and bytes per decoded token — whether this machine can run it with mote's CPU runtime, and otherwise the
// vLLM / SGLang commands for an 8-GPU node (routed experts on) and the mote commands to run against them.
// Estimates, not measurements: every assumption (bandwidth, FLOPS, utilisation) is printed beside its number.

import { existsSync, statSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, resolve } from 'node:path';
import { MoteError } from '@mote/tensor-core';
import { inspectModel, readConfig } from './load.js';
import { ROUTES_FLAG } from './served.js';

export const PLAN_DTYPES = { f32: 4, bf16: 2, fp8: 1, int8: 34 / 32, int4: 18 / 32 } as const;
export type PlanDtype = keyof typeof PLAN_DTYPES;

/** One GPU of the node the serve commands are sized for. */
export const PLAN_GPU = { name: 'H200', memGB: 141, hbmTBs: 4.8, denseTflops: { bf16: 989, fp8: 1979 } } as const;

export interface PlanOptions {
  /** a checkpoint folder or its config.json */
  model: string;
  /** weights in mote's CPU runtime (default f32, what loadModel uses) */
  dtype?: PlanDtype;
  /** tokens per sequence (prompt + generated) for KV sizing and timing (default 4096) */
  context?: number;
  /** prompts of the planned run (default 1000) */
  prompts?: number;
  /** tokens per prompt processed (prompt + generated) for the time estimate (default 320: 64 prompt + 256 generated) */
  tokensPerPrompt?: number;
  /** this machine (default: os.totalmem / cpus, memory bandwidth 20 GB/s, 50 GFLOPS per core) */
  machine?: { memBytes?: number; cores?: number; bandwidthGBs?: number; gflopsPerCore?: number };
}

export interface Plan {
  model: string;
  modelType: string;
  params: { total: number; active: number };
  moe: { layers: number; experts: number; topK: number };
  dtype: PlanDtype;
  checkpointDtype: PlanDtype;
  weightBytes: number;
  checkpointWeightBytes: number;
  kvBytesPerToken: number;
  /** the KV layout behind kvBytesPerToken */
  kvLayout: string;
  flopsPerToken: number;
  /** weights read + KV read per decoded token at `context` */
  bytesPerDecodedToken: number;
  context: number;
  machine: { memBytes: number; cores: number; bandwidthGBs: number; gflopsPerCore: number };
  cpu: { fits: boolean; needBytes: number; secondsPerDecodedToken: number; hoursPerThousandPrompts: number; verdict: string };
  gpu: {
    gpus: number;
    fitsOneNode: boolean;
    nodeBytes: number;
    needBytes: number;
    tokensPerSecond: number;
    hoursPerThousandPrompts: number;
    assumption: string;
  };
  commands: { vllm: string; sglang: string; mote: string[] } | null;
}

/**
 * Plan a model from its config.
 * @example
 *   const p = planModel({ model: 'tests/fixtures/deepseek-r1/config.json' });
 *   console.log(p.cpu.verdict); // the CPU path is out of reach: ...
 */
export function planModel(o: PlanOptions): Plan {
  const path = resolve(o.model);
  const dir = existsSync(path) && statSync(path).isFile() ? dirname(path) : path;
  const m = inspectModel(dir);
  const s = m.spec;
  const dtype = o.dtype ?? 'f32';
  if (!(dtype in PLAN_DTYPES))
    throw new MoteError('E_INPUT', `dtype "${dtype}" is not one of ${Object.keys(PLAN_DTYPES).join(', ')}`, { field: 'dtype' });
  const context = o.context ?? 4096;
  const prompts = o.prompts ?? 1000;
  const perPrompt = o.tokensPerPrompt ?? 320;
  const machine = {
    memBytes: o.machine?.memBytes ?? totalmem(),
    cores: o.machine?.cores ?? cpus().length,
    bandwidthGBs: o.machine?.bandwidthGBs ?? 20,
    gflopsPerCore: o.machine?.gflopsPerCore ?? 50,
  };
  const fp8 = (readConfig(dir).raw.quantization_config as { quant_method?: string } | undefined)?.quant_method === 'fp8';
  const checkpointDtype: PlanDtype = fp8 ? 'fp8' : 'bf16';
  const { total, active } = m.params;
  const weightBytes = total * PLAN_DTYPES[dtype];
  const checkpointWeightBytes = total * PLAN_DTYPES[checkpointDtype];

  // KV per token: MLA caches the latent (kv_lora_rank + rope dims) in vLLM/SGLang; mote expands K/V per head
  const L = s.layerCount;
  let kvBytesPerToken: number, kvLayout: string;
  const mla = s.attention.mla;
  if (mla) {
    const mote = L * s.heads * (mla.qkNopeDim + mla.qkRopeDim + mla.vDim) * 4;
    kvBytesPerToken = L * (mla.kvLoraRank + mla.qkRopeDim) * 2;
    kvLayout = `MLA latent ${mla.kvLoraRank}+${mla.qkRopeDim} x ${L} layers in bf16 (vLLM/SGLang); mote's CPU runtime expands K/V: ${fmtBytes(mote)}/token in f32`;
  } else {
    kvBytesPerToken = 2 * L * s.kvHeads * s.headDim * 2;
    kvLayout = `K+V ${s.kvHeads} heads x ${s.headDim} x ${L} layers in bf16`;
  }
  const attnFlops = 4 * L * s.heads * s.headDim * context; // QK^T and AV against the cache
  const flopsPerToken = 2 * active + attnFlops;
  const bytesPerDecodedToken = active * PLAN_DTYPES[dtype] + kvBytesPerToken * context;

  // CPU: weights + one sequence's cache must fit in memory; decode is bandwidth-bound, prefill compute-bound
  const needBytes = weightBytes * 1.05 + kvBytesPerToken * context;
  const fits = needBytes <= machine.memBytes * 0.9;
  const secondsPerDecodedToken = bytesPerDecodedToken / (machine.bandwidthGBs * 1e9);
  const cpuHours =
    (prompts * perPrompt * Math.max(secondsPerDecodedToken, flopsPerToken / (machine.cores * machine.gflopsPerCore * 1e9))) / 3600;
  const verdict = fits
    ? `runs on this machine: ${fmtBytes(needBytes)} of ${fmtBytes(machine.memBytes)} memory`
    : `the CPU path is out of reach: ${fmtBytes(needBytes)} of weights and cache against ${fmtBytes(machine.memBytes)} of memory on this machine; serve it on GPUs and run mote with --server`;

  // GPU node: checkpoint weights + 10% + a KV budget for 64 sequences at `context`
  const gpuNeed = checkpointWeightBytes * 1.1 + kvBytesPerToken * context * 64;
  const gpus = Math.max(1, Math.ceil(gpuNeed / (PLAN_GPU.memGB * 1e9 * 0.9)));
  const nodeBytes = 8 * PLAN_GPU.memGB * 1e9;
  const mfu = 0.1;
  const nodeFlops = 8 * PLAN_GPU.denseTflops[fp8 ? 'fp8' : 'bf16'] * 1e12 * mfu;
  const tokensPerSecond = nodeFlops / flopsPerToken;
  const gpuHours = (prompts * perPrompt) / tokensPerSecond / 3600;
  const assumption = `8 x ${PLAN_GPU.name} (${PLAN_GPU.memGB} GB, ${PLAN_GPU.denseTflops[fp8 ? 'fp8' : 'bf16']} dense ${fp8 ? 'FP8' : 'BF16'} TFLOPS each) at ${mfu * 100}% utilisation, batched`;

  const big = !fits;
  const commands = big
    ? {
        vllm: `vllm serve ${dir} --tensor-parallel-size 8 --enable-expert-parallel ${ROUTES_FLAG} --max-model-len ${context} --trust-remote-code --port 8000`,
        sglang: `python -m sglang.launch_server --model-path ${dir} --tp 8 --ep-size 8 ${ROUTES_FLAG} --context-length ${context} --trust-remote-code --port 30000`,
        mote: [
          `mote ftri --model ${dir} --server http://127.0.0.1:8000 --engine vllm --prompts PROMPTS.jsonl --label refusal --generate 256 --out runs/ftri`,
          `mote policy top --ranking runs/ftri/ranking.json --n 10 --mode exclude --model ${dir} --out top10-off.json`,
          `mote export --model ${dir} --policy top10-off.json --out ${dir}-top10-off`,
          `mote eval --model ${dir} --server http://127.0.0.1:8000 --engine vllm --suite SUITE.jsonl --out runs/eval-base`,
        ],
      }
    : null;
  return {
    model: dir,
    modelType: s.modelType,
    params: { total, active },
    moe: { layers: s.moeLayers.length, experts: s.expertCount, topK: s.topK },
    dtype,
    checkpointDtype,
    weightBytes,
    checkpointWeightBytes,
    kvBytesPerToken,
    kvLayout,
    flopsPerToken,
    bytesPerDecodedToken,
    context,
    machine,
    cpu: { fits, needBytes, secondsPerDecodedToken, hoursPerThousandPrompts: (cpuHours * 1000) / prompts, verdict },
    gpu: {
      gpus,
      fitsOneNode: gpuNeed <= nodeBytes * 0.9,
      nodeBytes,
      needBytes: gpuNeed,
      tokensPerSecond,
      hoursPerThousandPrompts: (gpuHours * 1000) / prompts,
      assumption,
    },
    commands,
  };
}

/** Plan as the lines `mote plan` prints. */
export function formatPlan(p: Plan): string {
  const n = (x: number) =>
    x >= 1e12
      ? `${(x / 1e12).toFixed(1)} T`
      : x >= 1e9
        ? `${(x / 1e9).toFixed(1)} G`
        : x >= 1e6
          ? `${(x / 1e6).toFixed(1)} M`
          : `${x.toFixed(0)} `;
  const lines = [
    `${p.model} (${p.modelType}): ${n(p.params.total)}params, ${n(p.params.active)}active per token; ${p.moe.layers} MoE layers x ${p.moe.experts} experts, top-${p.moe.topK}`,
    `weights            ${fmtBytes(p.weightBytes)} in ${p.dtype} (mote CPU runtime); ${fmtBytes(p.checkpointWeightBytes)} in the checkpoint's ${p.checkpointDtype}`,
    `KV cache           ${fmtBytes(p.kvBytesPerToken)}/token (${p.kvLayout})`,
    `per decoded token  ${n(p.flopsPerToken)}FLOP, ${fmtBytes(p.bytesPerDecodedToken)} read (${p.dtype} active weights + KV at ${p.context} tokens)`,
    `this machine       ${p.machine.cores} cores, ${fmtBytes(p.machine.memBytes)}, assumed ${p.machine.bandwidthGBs} GB/s: ${p.cpu.verdict}`,
    p.cpu.fits
      ? `CPU estimate       ${p.cpu.secondsPerDecodedToken.toFixed(3)} s/token single stream; ${dur(p.cpu.hoursPerThousandPrompts)} per 1,000 prompts`
      : `CPU estimate       (${(p.cpu.secondsPerDecodedToken).toFixed(1)} s/token if it fitted)`,
    `GPU node           ${p.gpu.gpus} x ${PLAN_GPU.name} needed for weights + KV of 64 sequences (${fmtBytes(p.gpu.needBytes)}); one 8-GPU node ${p.gpu.fitsOneNode ? 'holds it' : 'is not enough'}`,
    `GPU estimate       ${p.gpu.tokensPerSecond.toFixed(0)} tokens/s; ${dur(p.gpu.hoursPerThousandPrompts)} per 1,000 prompts (${p.gpu.assumption})`,
  ];
  if (p.commands)
    lines.push(
      '',
      'serve (one node, routed experts on):',
      `  ${p.commands.vllm}`,
      `  ${p.commands.sglang}`,
      '',
      'then:',
      ...p.commands.mote.map((c) => `  ${c}`),
    );
  return lines.join('\n') + '\n';
}

const dur = (h: number): string =>
  h >= 1 ? `${h.toFixed(1)} h` : h * 60 >= 1 ? `${(h * 60).toFixed(1)} min` : `${(h * 3600).toFixed(0)} s`;

export function fmtBytes(b: number): string {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (b >= 1024 && i < u.length - 1) (b /= 1024), i++;
  return `${b.toFixed(b >= 100 || i === 0 ? 0 : 1)} ${u[i]}`;
}
