// Readers of a trace folder's parts: dense prompt-level activations (what rank contrasts) and the token rows
// of chosen prompts (what the token maps draw), both from the Arrow files. Not the writers or the log
// (store.ts, trace-files.ts). Shapes: P prompts, L MoE layers, E experts, F = L*E.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MoteError } from '@mote/tensor-core';
import { readArrowFile } from './arrow-file.js';
import type { Activations } from './contrast-types.js';
import { FILES, readManifest, readMetas, readProgress, type Manifest, type ProgressEntry, type PromptMeta } from './store.js';
import { FLAG_ANSWER, FLAG_GENERATED, FLAG_THINK } from './trace.js';

/**
 * Dense prompt-level activations of every traced prompt (prompt-set order), from the Arrow aggregate parts.
 * Memory: 8 bytes x traced prompts x MoE layers x experts.
 */
export function readActivations(dir: string): {
  activations: Activations;
  metas: PromptMeta[];
  manifest: Manifest;
  parts: ProgressEntry[];
} {
  try {
    return readActivationsOf(dir);
  } catch (e) {
    if (e instanceof MoteError) throw e;
    // a truncated or corrupt file of the folder (torn copy, full disk): never a raw stack trace
    throw new MoteError(
      'E_INPUT',
      `the trace folder ${dir} is truncated or corrupt (${(e as Error).message}); fix: rerun \`mote ftri\` into a new --out folder`,
      { file: dir },
    );
  }
}

function readActivationsOf(dir: string): ReturnType<typeof readActivations> {
  const manifest = readManifest(dir);
  const parts = readProgress(dir, false);
  const metas = readMetas(dir, parts);
  const layers = manifest.model.moe_layers,
    E = manifest.model.expert_count,
    F = layers.length * E;
  const layerPos = new Map(layers.map((l, i) => [l, i]));
  const rowOf = new Map<string, number>();
  metas.forEach((m, r) => rowOf.set(m.id, r));
  const P = metas.length;
  const counts = new Float32Array(P * F),
    weights = new Float32Array(P * F);
  const tokens = Float64Array.from(metas, (m) => m.n_tokens);
  for (const p of parts) {
    const f = p.files.find((x) => x.startsWith('prompts-') && x.endsWith('.arrow'));
    if (!f)
      throw new MoteError(
        'E_INPUT',
        `${dir}: part ${p.part} has no Arrow aggregate file; rank needs traces written with the arrow format`,
        { file: join(dir, FILES.traces) },
      );
    const t = readArrowFile(readFileSync(join(dir, FILES.traces, f)), join(dir, FILES.traces, f));
    const pid = t.getChild('prompt_id')!,
      lay = t.getChild('layer')!.toArray() as Int32Array,
      ex = t.getChild('expert')!.toArray() as Int32Array;
    const c = t.getChild('count')!.toArray() as Int32Array,
      w = t.getChild('weight')!.toArray() as Float32Array;
    for (let i = 0; i < t.numRows; i++) {
      const r = rowOf.get(pid.get(i) as string);
      const li = layerPos.get(lay[i]);
      if (r === undefined || li === undefined) continue;
      counts[r * F + li * E + ex[i]] = c[i];
      weights[r * F + li * E + ex[i]] = w[i];
    }
  }
  return { activations: { promptIds: metas.map((m) => m.id), layers, expertCount: E, counts, weights, tokens }, metas, manifest, parts };
}

/** Token rows of the given prompts (from the Arrow token parts that hold them), sorted by pos then layer. */
export function readPromptTokens(
  dir: string,
  parts: ProgressEntry[],
  ids: string[],
): Map<string, Array<{ pos: number; token: string; layer: number; flags: number; ids: number[]; weights: number[] }>> {
  const want = new Set(ids);
  const out = new Map<string, Array<{ pos: number; token: string; layer: number; flags: number; ids: number[]; weights: number[] }>>();
  for (const id of ids) out.set(id, []);
  for (const p of parts) {
    if (!p.ids.some((id) => want.has(id))) continue;
    const f = p.files.find((x) => x.startsWith('tokens-') && x.endsWith('.arrow'));
    if (!f) continue;
    const t = readArrowFile(readFileSync(join(dir, FILES.traces, f)), join(dir, FILES.traces, f));
    const pid = t.getChild('prompt_id')!,
      pos = t.getChild('pos')!.toArray() as Int32Array,
      lay = t.getChild('layer')!.toArray() as Int32Array;
    const tok = t.getChild('token')!,
      gen = t.getChild('generated')!,
      th = t.getChild('in_think')!,
      an = t.getChild('in_answer')!;
    const ki = t.getChild('topk_ids')!,
      kw = t.getChild('topk_weights')!;
    for (let i = 0; i < t.numRows; i++) {
      const id = pid.get(i) as string;
      if (!want.has(id)) continue;
      out.get(id)!.push({
        pos: pos[i],
        token: tok.get(i) as string,
        layer: lay[i],
        flags: (gen.get(i) ? FLAG_GENERATED : 0) | (th.get(i) ? FLAG_THINK : 0) | (an.get(i) ? FLAG_ANSWER : 0),
        ids: Array.from(ki.get(i)!.toArray() as Int32Array),
        weights: Array.from(kw.get(i)!.toArray() as Float32Array),
      });
    }
  }
  for (const rows of out.values()) rows.sort((a, b) => a.pos - b.pos || a.layer - b.layer);
  return out;
}
