// exportPolicy (`mote export`): write a MoTE policy into a copy of a checkpoint through the routers' selection
// bias, so that any engine (vLLM, SGLang, transformers) serves the policy unchanged. Only where the result is
// exact: deepseek_v3 exclude / force / bias(b) through e_score_correction_bias, gpt_oss exclude through the
// router bias, scope "all". Everything else is refused with the reason and what works instead.
//
// Why the values are exact (E experts, K top-k, p = sigmoid score in [0, 1], c = correction bias):
// - deepseek_v3 selects on s_e = p_e + c_e (weights use p only). With M = 2^24 and |c| < 2^20:
//   exclude writes c_e - M, so s_e <= 1 + 2^20 - 2^24 < -2^20 < min(0, min c) <= every other s and every
//   group-masked 0: never chosen, never in a group's top-2 while the group keeps two experts (checked).
//   force writes c_e + M, so s_e >= 2^24 - 2^20 > 1 + 2^20 >= every other s: always chosen, as long as at
//   most K are forced (checked) and the group step cannot drop its group, which holds only when every group is
//   kept (topk_group = n_group): with fewer, the boost raises the group's score and displaces another group,
//   where mote's force keeps the group choice and replaces the lowest choice — refused.
//   bias(b) writes c_e + b: the same s up to f32 rounding of (p + c) + b vs p + (c + b).
//   Float32 rounding of c +- M (ulp 2 at 2^24; bf16 storage ulp 2^17) keeps every bound above.
// - gpt_oss selects top-k on raw logits z_e = x.w_e + b_e, weights = softmax over the chosen z (bias included):
//   exclude writes b_e = -1e30: z_e = -1e30 in float32 for any |x.w_e| < 1e29, below every other finite logit,
//   so e is never among the K chosen, and were it chosen its weight exp(-1e30 - max) is exactly 0 in f32.
//   force and bias would change the softmax weights: refused.

import { copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { f32Bytes, f32ToBf16Bytes, MoteError, SafetensorsCheckpoint, writeSafetensors } from '@mote/tensor-core';
import { inspectModel, validatePolicy, type Policy } from '@mote/moe-runtime';

/** |correction bias| bound and the exclude/force offset for sigmoid routers (see the proof above). */
export const EXPORT_SIGMOID_OFFSET = 2 ** 24;
/** the router bias gpt-oss's exclude writes */
export const EXPORT_LOGIT_EXCLUDE = -1e30;
/** the new shard that holds every changed tensor */
export const EXPORT_SHARD = 'mote-policy.safetensors';

export interface ExportOptions {
  /** source checkpoint folder */
  model: string;
  policy: Policy;
  /** new folder (must not exist or be empty) */
  out: string;
  /** copy unchanged shards instead of linking them (relative symlinks) */
  copy?: boolean;
}

export interface ExportResult {
  out: string;
  /** tensors written to EXPORT_SHARD */
  changed: string[];
  /** shards rewritten without the changed tensors (they held one) */
  rewritten: string[];
  /** shards linked or copied as they are */
  linked: string[];
}

const USE_SERVE =
  'serve the original checkpoint with `mote serve --model DIR` and send the policy per request (mote_policy), or run it locally';

/**
 * Write `policy` into a copy of the checkpoint at `out`.
 * @example
 *   const policy = loadPolicy('top10-off.json');
 *   exportPolicy({ model: 'DeepSeek-R1', policy, out: 'DeepSeek-R1-top10-off' });
 *   // then: vllm serve DeepSeek-R1-top10-off --enable-return-routed-experts ...
 */
export function exportPolicy(o: ExportOptions): ExportResult {
  const src = resolve(o.model),
    out = resolve(o.out);
  const m = inspectModel(src);
  const spec = m.spec;
  validatePolicy(o.policy, { info: m, file: 'policy' });
  const refuse = (msg: string): never => {
    throw new MoteError('E_EXPORT', `mote export: ${msg}; ${USE_SERVE}`, { field: 'policy' });
  };
  const sigmoid = spec.router.scoring === 'sigmoid' && !!spec.weights.layer(spec.moeLayers[0]).correctionBias;
  const logitBias = spec.router.scoring === 'topk_softmax' && !!spec.weights.layer(spec.moeLayers[0]).routerBias;
  if (!sigmoid && !logitBias)
    refuse(
      `${spec.modelType}'s router has no selection bias (only deepseek_v3's e_score_correction_bias and gpt_oss's router bias can carry a policy exactly)`,
    );
  const groups =
    spec.router.groups && spec.router.groups.count > 1 && spec.router.groups.topkGroup < spec.router.groups.count
      ? spec.router.groups
      : null;

  // per layer: the offsets to write, checked against what stays exact
  const byLayer = new Map<number, Array<{ expert: number; mode: 'exclude' | 'force' | 'bias'; value: number }>>();
  o.policy.interventions.forEach((iv, i) => {
    const where = `interventions[${i}] (${iv.mode} layer ${iv.layer} expert ${iv.expert})`;
    if (iv.scope !== undefined && iv.scope !== 'all')
      refuse(
        `${where}: scope ${JSON.stringify(iv.scope)} depends on the token, a checkpoint holds one router for all tokens (only scope "all" can be exported)`,
      );
    if (iv.mode === 'drop' || iv.mode === 'scale')
      refuse(`${where}: ${iv.mode} changes applied weights after selection; a selection bias can only change which experts are chosen`);
    if (logitBias && iv.mode !== 'exclude')
      refuse(`${where}: gpt_oss's router bias also enters the softmax weights of the chosen experts, so only exclude is exact there`);
    if (sigmoid && iv.mode === 'force' && groups)
      refuse(
        `${where}: with group-limited routing (n_group ${groups.count}, topk_group ${groups.topkGroup}) a forced expert's bias raises its group's score, so its group is always kept and displaces another group; mote's force keeps the group choice`,
      );
    const list = byLayer.get(iv.layer) ?? [];
    list.push({ expert: iv.expert, mode: iv.mode as 'exclude' | 'force' | 'bias', value: iv.value ?? 0 });
    byLayer.set(iv.layer, list);
  });
  for (const [layer, list] of byLayer) {
    const ex = new Set(list.filter((x) => x.mode === 'exclude').map((x) => x.expert));
    const fo = new Set(list.filter((x) => x.mode === 'force').map((x) => x.expert));
    for (const e of ex) if (fo.has(e)) refuse(`layer ${layer} expert ${e} is both excluded and forced`);
    if (fo.size > spec.topK) refuse(`layer ${layer} forces ${fo.size} experts but top-k is ${spec.topK}`);
    if (spec.expertCount - ex.size < spec.topK)
      refuse(`layer ${layer} excludes ${ex.size} of ${spec.expertCount} experts, leaving fewer than top-k ${spec.topK}`);
    if (groups) {
      const per = spec.expertCount / groups.count;
      for (let g = 0; g < groups.count; g++) {
        const left = per - [...ex].filter((e) => Math.floor(e / per) === g).length;
        if (left < Math.min(2, per))
          refuse(
            `layer ${layer} excludes all but ${left} experts of group ${g}: its group score (sum of the top 2) would then depend on the excluded value`,
          );
      }
    }
  }

  // new values of the touched bias tensors
  const ckpt = SafetensorsCheckpoint.open(src);
  try {
    const changed = new Map<string, { dtype: string; shape: number[]; bytes: Uint8Array }>();
    for (const [layer, list] of [...byLayer].sort((a, b) => a[0] - b[0])) {
      const lw = spec.weights.layer(layer);
      const name = (sigmoid ? lw.correctionBias : lw.routerBias)!;
      const entry = ckpt.entry(name);
      if (entry.dtype !== 'F32' && entry.dtype !== 'BF16') refuse(`${name} is ${entry.dtype}; export writes F32 or BF16 bias vectors`);
      const v = Float64Array.from(ckpt.readF32(name, [spec.expertCount]).data); // [E]
      if (sigmoid) {
        const big = v.reduce((s, x) => Math.max(s, Math.abs(x)), 0);
        if (big >= 2 ** 20) refuse(`${name} holds |bias| ${big} >= 2^20, outside the range the exact offsets are proven for`);
      }
      for (const x of list) {
        if (logitBias) v[x.expert] = EXPORT_LOGIT_EXCLUDE;
        else v[x.expert] += x.mode === 'exclude' ? -EXPORT_SIGMOID_OFFSET : x.mode === 'force' ? EXPORT_SIGMOID_OFFSET : x.value;
      }
      const f = Float32Array.from(v);
      changed.set(name, {
        dtype: entry.dtype,
        shape: entry.shape,
        bytes: entry.dtype === 'F32' ? new Uint8Array(f32Bytes(f)) : f32ToBf16Bytes(f),
      });
    }

    // the folder: files copied, shards linked / copied / rewritten, one new shard, the index
    if (existsSync(out) && readdirSync(out).length)
      throw new MoteError('E_IO', `mote export: ${out} exists and is not empty; pick a new --out folder`, { file: out });
    mkdirSync(out, { recursive: true });
    const shardOf = new Map<string, string>(); // tensor -> shard file name
    for (const n of ckpt.names()) shardOf.set(n, basename(ckpt.entry(n).file));
    const shards = [...new Set(shardOf.values())].sort();
    const touched = new Set([...changed.keys()].map((n) => shardOf.get(n)!));
    const rewritten: string[] = [],
      linked: string[] = [];
    for (const shard of shards) {
      const from = join(src, shard),
        to = join(out, shard);
      if (touched.has(shard)) {
        const names = ckpt.names().filter((n) => shardOf.get(n) === shard && !changed.has(n));
        writeSafetensors(
          to,
          names.map((n) => ({ name: n, dtype: ckpt.entry(n).dtype, shape: ckpt.entry(n).shape, bytes: () => ckpt.readBytes(n) })),
        );
        rewritten.push(shard);
      } else {
        if (o.copy) copyFileSync(from, to);
        else symlinkSync(relative(out, from), to);
        linked.push(shard);
      }
    }
    writeSafetensors(
      join(out, EXPORT_SHARD),
      [...changed].map(([name, t]) => ({ name, ...t })),
      { format: 'pt', mote_policy: o.policy.name ?? 'policy' },
    );
    const weightMap: Record<string, string> = {};
    for (const [n, s] of [...shardOf].sort((a, b) => a[0].localeCompare(b[0]))) weightMap[n] = changed.has(n) ? EXPORT_SHARD : s;
    const indexFile = join(src, 'model.safetensors.index.json');
    const index = existsSync(indexFile) ? JSON.parse(readFileSync(indexFile, 'utf8')) : { metadata: {} };
    writeFileSync(join(out, 'model.safetensors.index.json'), JSON.stringify({ ...index, weight_map: weightMap }, null, 2) + '\n');
    for (const f of readdirSync(src)) {
      if (f.endsWith('.safetensors') || f === 'model.safetensors.index.json' || !lstatSync(join(src, f)).isFile()) continue;
      copyFileSync(join(src, f), join(out, f));
    }
    writeFileSync(join(out, 'mote-policy.json'), JSON.stringify(o.policy, null, 2) + '\n');
    writeFileSync(join(out, 'MOTE-EXPORT.md'), readme(src, o.policy, spec.modelType, [...changed.keys()], rewritten, linked, !!o.copy));
    return { out, changed: [...changed.keys()], rewritten, linked };
  } finally {
    ckpt.close();
  }
}

function readme(
  src: string,
  policy: Policy,
  type: string,
  changed: string[],
  rewritten: string[],
  linked: string[],
  copy: boolean,
): string {
  const n = policy.interventions.length;
  return `# ${basename(src)} with the MoTE policy "${policy.name ?? 'policy'}"

Written by \`mote export\` from \`${src}\` (${type}). The policy (${n} intervention${n === 1 ? '' : 's'}, mote-policy.json) is
carried by the routers' selection bias, so any engine that loads this folder serves it:
${type === 'gpt_oss' ? `excluded experts have router bias ${EXPORT_LOGIT_EXCLUDE}.` : `e_score_correction_bias is offset by -2^24 (exclude), +2^24 (force) or b (bias).`}

- changed tensors, in \`${EXPORT_SHARD}\`: ${changed.join(', ')}
- shards rewritten without them: ${rewritten.join(', ') || 'none'}
- shards ${copy ? 'copied' : 'linked (relative symlinks to the source folder)'}: ${linked.length}
- \`model.safetensors.index.json\` maps every tensor to its shard.

Serve it with routed experts, e.g. \`vllm serve ${'<this folder>'} --enable-return-routed-experts\`.
`;
}
