// The architecture registry: HF model_type -> spec builder. One file per architecture.

import type { ConfigReader, ModelSpec } from '../spec.js';
import type { ConfigFieldTable } from '../config-fields.js';
import { qwen3Moe, fields as qwen3MoeFields } from './qwen3_moe.js';
import { qwen2Moe, fields as qwen2MoeFields } from './qwen2_moe.js';
import { mixtral, fields as mixtralFields } from './mixtral.js';
import { olmoe, fields as olmoeFields } from './olmoe.js';
import { deepseekV3, fields as deepseekV3Fields } from './deepseek_v3.js';
import { deepseekV2, fields as deepseekV2Fields } from './deepseek_v2.js';
import { gptOss, fields as gptOssFields } from './gpt_oss.js';

export type SpecBuilder = (c: ConfigReader) => ModelSpec;

export const ARCHITECTURES: Record<string, SpecBuilder> = {
  qwen3_moe: qwen3Moe,
  qwen2_moe: qwen2Moe,
  mixtral,
  olmoe,
  deepseek_v3: deepseekV3,
  deepseek_v2: deepseekV2,
  gpt_oss: gptOss,
};

/** Per model_type: what mote does with each config field HF's modelling code reads (see config-fields.ts). */
export const CONFIG_FIELDS: Record<string, ConfigFieldTable> = {
  qwen3_moe: qwen3MoeFields,
  qwen2_moe: qwen2MoeFields,
  mixtral: mixtralFields,
  olmoe: olmoeFields,
  deepseek_v3: deepseekV3Fields,
  deepseek_v2: deepseekV2Fields,
  gpt_oss: gptOssFields,
};

/** Register another architecture (users extending mote). */
export function registerArchitecture(modelType: string, build: SpecBuilder, fields?: ConfigFieldTable): void {
  ARCHITECTURES[modelType] = build;
  if (fields) CONFIG_FIELDS[modelType] = fields;
}
