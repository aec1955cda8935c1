// The one onnxruntime-node session wrapper of the repo (the only file that imports onnxruntime-node).
// Sessions run on the CPU provider; tensors cross the boundary as mote Tensors without copies.

import * as ort from 'onnxruntime-node';
import { MoteError } from './errors.js';
import type { Tensor, DType, TypedData } from './tensor.js';

export interface SessionOptions {
  /** intra-op threads (default: onnxruntime's choice = all cores) */
  threads?: number;
  /** graph optimisation level (default 'all') */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /** let idle pool threads keep spinning after a run (default off: mote runs many sessions in turn;
   *  threads always spin within a run, between its ops, and park when it ends) */
  spinning?: boolean;
  /** a label for error messages (e.g. "layer 3 attention of qwen3_moe") */
  label?: string;
  /** onnxruntime session config entries, e.g. { session: { intra_op: { allow_spinning: '0' } } } */
  extra?: Record<string, unknown>;
}

export class Session {
  /** when set, every run() adds its wall time under its label (profiling: bench/run.mjs) */
  static timings: Map<string, { calls: number; ms: number }> | null = null;

  private constructor(
    private readonly s: ort.InferenceSession,
    readonly label: string,
  ) {}

  /** Create a session from ModelProto bytes or an .onnx file path (external data resolves next to it). */
  static async create(model: Uint8Array | string, opts: SessionOptions = {}): Promise<Session> {
    const o: ort.InferenceSession.SessionOptions = {
      executionProviders: ['cpu'],
      graphOptimizationLevel: opts.optimization ?? 'all',
      interOpNumThreads: 1,
      executionMode: 'sequential',
      // many small sessions run one after another: pool threads spin between the ops of a run (no wake-up
      // latency per op) and stop spinning when the run ends, so they never steal the next session's cores
      // (OLMoE-width int4 decode 57 -> 67 tok/s, organism eval-dev generation 1.45 -> 1.25 s, bench/run.mjs)
      extra: { session: { intra_op: { allow_spinning: '1' }, force_spinning_stop: opts.spinning ? '0' : '1' } },
    };
    if (opts.threads) o.intraOpNumThreads = opts.threads;
    if (opts.extra) o.extra = mergeDeep(o.extra as Record<string, unknown>, opts.extra);
    const label = opts.label ?? (typeof model === 'string' ? model : 'graph');
    try {
      const s = typeof model === 'string' ? await ort.InferenceSession.create(model, o) : await ort.InferenceSession.create(model, o);
      return new Session(s, label);
    } catch (e) {
      throw new MoteError('E_RUNTIME', `onnxruntime could not create the session for ${label}: ${(e as Error).message}`);
    }
  }

  get inputNames(): readonly string[] {
    return this.s.inputNames;
  }
  get outputNames(): readonly string[] {
    return this.s.outputNames;
  }

  async run(feeds: Record<string, Tensor>, outputs?: string[]): Promise<Record<string, Tensor>> {
    const f: Record<string, ort.Tensor> = {};
    for (const [k, t] of Object.entries(feeds)) f[k] = new ort.Tensor(t.dtype as ort.Tensor.Type, t.data as ort.Tensor.DataType, t.shape);
    let r: ort.InferenceSession.OnnxValueMapType;
    const t0 = Session.timings ? performance.now() : 0;
    try {
      r = outputs ? await this.s.run(f, outputs) : await this.s.run(f);
    } catch (e) {
      throw new MoteError('E_RUNTIME', `onnxruntime failed running ${this.label}: ${(e as Error).message}`);
    }
    if (Session.timings) {
      const e = Session.timings.get(this.label) ?? { calls: 0, ms: 0 };
      e.calls++;
      e.ms += performance.now() - t0;
      Session.timings.set(this.label, e);
    }
    const out: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(r)) {
      const t = v as ort.Tensor;
      out[k] = { dtype: t.type as DType, shape: t.dims.slice(), data: t.data as TypedData };
    }
    return out;
  }

  async release(): Promise<void> {
    await this.s.release();
  }
}

/** b's entries over a's, objects merged key by key (session config entries nest by dotted key). */
function mergeDeep(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const av = out[k];
    out[k] =
      v && av && typeof v === 'object' && typeof av === 'object'
        ? mergeDeep(av as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}
