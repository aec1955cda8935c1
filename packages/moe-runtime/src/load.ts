// loadModel(dir): config.json -> architecture -> ModelSpec, checkpoint weights, tokenizer; validates
// everything a forward pass will rely on before building any graph.

import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { assertRegularFile, MoteError, type F32Tensor } from '@mote/tensor-core';
import { Weights } from './graphs.js';
import { ConfigReader, type ModelSpec, type RawConfig } from './spec.js';
import { ARCHITECTURES, CONFIG_FIELDS } from './models/index.js';
import { checkConfigFields } from './config-fields.js';
import type { ModelInfo } from './types.js';
import { paramCount as paramCountOf } from './params.js';

export function readConfig(dir: string): { raw: RawConfig; file: string } {
  const file = join(resolve(dir), 'config.json');
  if (!existsSync(file)) {
    throw new MoteError(
      'E_CONFIG_MISSING',
      `config.json not found in ${resolve(dir)}; point --model at a Hugging Face checkpoint folder (config.json, *.safetensors, tokenizer.json)`,
      { file },
    );
  }
  assertRegularFile(file, 'E_CONFIG_INVALID', 'config');
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new MoteError('E_CONFIG_INVALID', `${file} is not valid JSON: ${(e as Error).message}`, { file });
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new MoteError(
      'E_CONFIG_INVALID',
      `${file} holds ${JSON.stringify(raw)?.slice(0, 40)}, not a JSON object of config fields; fix: restore the checkpoint's config.json`,
      { file },
    );
  }
  return { raw: raw as RawConfig, file };
}

/** The ModelSpec of a checkpoint folder (reads config.json only, no weights). */
export function specFromDir(dir: string): ModelSpec {
  const { raw, file } = readConfig(dir);
  const type = raw.model_type;
  // own keys only: model_type "__proto__" or "toString" must not find Object.prototype's members
  const build = typeof type === 'string' && Object.hasOwn(ARCHITECTURES, type) ? ARCHITECTURES[type] : undefined;
  if (!build) {
    throw new MoteError(
      'E_ARCH_UNKNOWN',
      `model_type ${JSON.stringify(type)} in ${file} is not supported; supported: ${Object.keys(ARCHITECTURES).sort().join(', ')}`,
      { file, field: 'model_type' },
    );
  }
  if (Object.hasOwn(CONFIG_FIELDS, type as string)) checkConfigFields(raw, CONFIG_FIELDS[type as string], file, type as string);
  const spec = build(new ConfigReader(raw, file, type as string));
  const bad = (field: string, v: unknown, want: string) => {
    throw new MoteError('E_CONFIG_INVALID', `${field} must be ${want} in ${file} of ${type}, got ${JSON.stringify(v)}; fix config.json`, {
      file,
      field,
    });
  };
  if (spec.moeLayers.length > 0) {
    if (!(spec.expertCount > 0)) bad('num_experts', spec.expertCount, '> 0');
    if (!(spec.topK >= 1 && spec.topK <= spec.expertCount))
      bad('num_experts_per_tok', spec.topK, `between 1 and the expert count ${spec.expertCount}`);
  }
  return spec;
}

/**
 * Refuse a config whose sizes the weight files cannot hold (e.g. moe_intermediate_size 1e9), before any
 * buffer is allocated: the parameters it implies at 4 bits each (the smallest stored width, MXFP4) must fit
 * in the checkpoint's tensor bytes. Exact shapes are checked tensor by tensor as they are read.
 */
export function checkSizesFit(spec: ModelSpec, weightBytes: number, dir: string): void {
  const params = paramCountOf(spec).total;
  if (params * 0.4 > weightBytes + 1e6) {
    throw new MoteError(
      'E_CONFIG_INVALID',
      `config.json of ${spec.modelType} in ${resolve(dir)} implies ${params.toExponential(3)} parameters but the weight files hold only ${weightBytes} bytes of tensors; a size in config.json (hidden_size, intermediate sizes, expert or layer counts, vocab_size) is wrong; fix config.json`,
      { file: spec.file },
    );
  }
}

/** Parameter counts and the public summary of a spec (no weights needed). */
export function modelInfo(spec: ModelSpec, dir: string, paramCount: (s: ModelSpec) => ModelInfo['params']): ModelInfo {
  return {
    modelType: spec.modelType,
    dir: resolve(dir),
    layerCount: spec.layerCount,
    moeLayers: spec.moeLayers,
    expertCount: spec.expertCount,
    topK: spec.topK,
    sharedExpertCount: spec.sharedExpertCount,
    hiddenSize: spec.hidden,
    vocabSize: spec.vocab,
    headCount: spec.heads,
    kvHeadCount: spec.kvHeads,
    headDim: spec.headDim,
    params: paramCount(spec),
    bosTokenId: spec.bosTokenId,
    eosTokenIds: spec.eosTokenIds,
    padTokenId: spec.padTokenId,
  };
}

/** Architecture summary and parameter counts of a checkpoint folder, from config.json alone. */
export function inspectModel(dir: string): ModelInfo & { spec: ModelSpec } {
  const spec = specFromDir(dir);
  return { ...modelInfo(spec, dir, paramCountOf), spec };
}

/**
 * Checkpoint weights that refuse NaN / Inf: every tensor read while building graphs (so once, at cache
 * build time; cached loads read no checkpoint tensor) is scanned, and a non-finite value is
 * E_NONFINITE naming the tensor, the first bad index and value.
 * @example new CheckedWeights(SafetensorsCheckpoint.open(dir), dir).get('lm_head.weight')
 */
export class CheckedWeights extends Weights {
  override get(name: string, shape?: number[]): F32Tensor {
    const t = super.get(name, shape);
    const d = t.data;
    for (let i = 0; i < d.length; i++) {
      const x = d[i];
      if (x - x !== 0) {
        throw new MoteError(
          'E_NONFINITE',
          `tensor ${name} of the checkpoint in ${this.file} holds ${x} at flat index ${i} (of ${d.length}); ` +
            'the weights are corrupt: re-download or re-export the checkpoint',
          { file: this.file, field: name },
        );
      }
    }
    return t;
  }
}
