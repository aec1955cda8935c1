// The architecture registry: HF model_type -> spec builder. One file per architecture.

import type { ConfigReader, ModelSpec } from '../spec.js';
import { qwen3Moe } from './qwen3_moe.js';
import { qwen2Moe } from './qwen2_moe.js';
import { mixtral } from './mixtral.js';
import { olmoe } from './olmoe.js';
import { deepseekV3 } from './deepseek_v3.js';
import { deepseekV2 } from './deepseek_v2.js';
import { gptOss } from './gpt_oss.js';

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

/** Register another architecture (users extending mote). */
export function registerArchitecture(modelType: string, build: SpecBuilder): void {
  ARCHITECTURES[modelType] = build;
}
