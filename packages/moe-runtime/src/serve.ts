// serveModel: a loaded MoeModel behind node:http speaking the subset of vLLM's and SGLang's OpenAI-compatible
// protocols that routed-expert capture uses (completions, chat completions, /v1/models), plus a per-request
// `mote_policy`. Concurrent requests with the same settings are decoded together. Not a general server: no
// streaming, no n > 1, no logprobs.
// Shapes: P prompt tokens, G generated tokens, L MoE layers, K top-k.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import { isMoteError, MoteError } from '@mote/tensor-core';
import { hookName } from './types.js';
import type { MoeModel } from './moe-model.js';
import type { ChatMessage, GenerateResult, HookMap, Policy, TokenInfo } from './types.js';
import { validatePolicy } from './policy.js';
import { int32Base64, ROUTES_FLAG } from './served.js';

export interface ServeOptions {
  model: MoeModel;
  /** default 127.0.0.1; another address must be asked for explicitly */
  host?: string;
  /** default 8000; 0 picks a free port */
  port?: number;
  /** the id listed in /v1/models (default: the model folder's name) */
  name?: string;
  /** return routed experts (vLLM fields always, SGLang's on request); false behaves like a server started
   *  without --enable-return-routed-experts (default true) */
  routedExperts?: boolean;
  /** largest request body in bytes (default 4 MiB) */
  maxBodyBytes?: number;
  /** most sequences decoded together (default 16) */
  maxBatch?: number;
  /** most new tokens a request may ask for (default 4096) */
  maxTokens?: number;
  /** called after each decoded batch */
  onBatch?: (b: { sequences: number; seconds: number }) => void;
}

export interface ModelServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

interface Job {
  ids: number[];
  maxNew: number;
  temperature: number;
  topP?: number;
  topK?: number;
  seed?: number;
  stop: number[];
  policy: Policy | null;
  key: string;
  resolve: (r: { gen: GenerateResult; routes: Int32Array; rows: number }) => void;
  reject: (e: unknown) => void;
}

class BadRequest extends Error {
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

/**
 * Serve a model over HTTP on 127.0.0.1.
 * @example
 *   const model = await loadModel('models/organism/model');
 *   const s = await serveModel({ model, port: 0 });
 *   console.log(s.url); // http://127.0.0.1:PORT — then: mote ftri --server URL --engine vllm ...
 */
export async function serveModel(o: ServeOptions): Promise<ModelServer> {
  const { model } = o;
  const info = model.info;
  const name = o.name ?? basename(info.dir);
  const routed = o.routedExperts ?? true;
  const maxBody = o.maxBodyBytes ?? 4 << 20;
  const maxBatch = Math.max(1, o.maxBatch ?? 16);
  const maxTokens = o.maxTokens ?? 4096;
  const L = info.moeLayers.length,
    K = info.topK;
  const queue: Job[] = [];
  let busy = false;
  let timer: NodeJS.Timeout | null = null;

  const schedule = () => {
    if (!busy && !timer && queue.length) timer = setTimeout(() => ((timer = null), void pump()), 2);
  };
  const pump = async () => {
    if (busy || !queue.length) return;
    busy = true;
    const key = queue[0].key;
    const jobs: Job[] = [];
    for (let i = 0; i < queue.length && jobs.length < maxBatch; )
      if (queue[i].key === key) jobs.push(...queue.splice(i, 1));
      else i++;
    const t0 = performance.now();
    try {
      // capture: each sequence's topk_ids by position, [P + maxNew, L, K]
      const routes = jobs.map((j) => new Int32Array((j.ids.length + j.maxNew) * L * K));
      const hooks: HookMap = {};
      info.moeLayers.forEach((layer, l) => {
        hooks[hookName(layer, 'topk_ids')] = (t, ctx) => {
          const d = t.data as Int32Array;
          ctx.tokens.forEach((tk: TokenInfo, i: number) => routes[tk.seq].set(d.subarray(i * K, (i + 1) * K), (tk.pos * L + l) * K));
        };
      });
      const j0 = jobs[0];
      const gens = await model.generate(
        jobs.map((j) => j.ids),
        {
          hooks,
          maxNewTokens: j0.maxNew,
          temperature: j0.temperature,
          topP: j0.topP,
          topK: j0.topK,
          seed: j0.seed,
          stopTokens: j0.stop,
          policy: j0.policy,
          batchSize: jobs.length,
        },
      );
      jobs.forEach((j, s) => {
        const rows = j.ids.length + Math.max(gens[s].ids.length - 1, 0);
        j.resolve({ gen: gens[s], routes: routes[s].subarray(0, rows * L * K), rows });
      });
      o.onBatch?.({ sequences: jobs.length, seconds: (performance.now() - t0) / 1000 });
    } catch (e) {
      for (const j of jobs) j.reject(e);
    } finally {
      busy = false;
      setImmediate(schedule); // let requests that arrived during the batch be read first
    }
  };

  const parseJob = (body: Record<string, unknown>, ids: number[]): Omit<Job, 'resolve' | 'reject'> => {
    const num = (k: string): number | undefined => {
      const v = body[k];
      if (v === undefined || v === null) return undefined;
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new BadRequest(`"${k}" must be a number, got ${JSON.stringify(v)}`);
      return v;
    };
    if (body.n !== undefined && body.n !== 1) throw new BadRequest('"n" must be 1 (mote serve returns one choice)');
    if (body.stream) throw new BadRequest('"stream" is not supported by mote serve; send stream: false');
    const maxNew = num('max_tokens') ?? num('max_completion_tokens') ?? 16;
    if (!Number.isInteger(maxNew) || maxNew < 1 || maxNew > maxTokens)
      throw new BadRequest(`"max_tokens" must be an integer in 1..${maxTokens}, got ${maxNew}`);
    const stopIds = body.stop_token_ids ?? [];
    if (!Array.isArray(stopIds) || stopIds.some((x) => !Number.isInteger(x)))
      throw new BadRequest('"stop_token_ids" must be an array of integers');
    const stop = body.ignore_eos ? (stopIds as number[]) : [...new Set([...info.eosTokenIds, ...(stopIds as number[])])];
    let policy: Policy | null = null;
    if (body.mote_policy !== undefined && body.mote_policy !== null) {
      policy = body.mote_policy as Policy;
      try {
        validatePolicy(policy, { info, file: 'mote_policy' });
      } catch (e) {
        throw new BadRequest(isMoteError(e) ? e.message : String(e));
      }
    }
    const temperature = num('temperature') ?? 0;
    const topK = num('top_k');
    const job = {
      ids,
      maxNew,
      temperature,
      topP: num('top_p'),
      topK: topK !== undefined && topK > 0 ? topK : undefined,
      seed: num('seed'),
      stop,
      policy,
    };
    return { ...job, key: JSON.stringify([maxNew, temperature, job.topP, job.topK, job.seed, stop, policy]) };
  };

  const checkIds = (ids: unknown, field: string): number[] => {
    if (!Array.isArray(ids) || !ids.length) throw new BadRequest(`"${field}" must be a non-empty array of token ids or a string`);
    for (const x of ids)
      if (!Number.isInteger(x) || x < 0 || x >= info.vocabSize)
        throw new BadRequest(`"${field}" holds ${JSON.stringify(x)}, not a token id in 0..${info.vocabSize - 1}`);
    return ids as number[];
  };

  const run = (job: Omit<Job, 'resolve' | 'reject'>) =>
    new Promise<{ gen: GenerateResult; routes: Int32Array; rows: number }>((resolve, reject) => {
      queue.push({ ...job, resolve, reject });
      schedule();
    });

  const respond = async (path: string, body: Record<string, unknown>): Promise<unknown> => {
    const chat = path === '/v1/chat/completions';
    let ids: number[];
    if (chat) {
      if (!Array.isArray(body.messages) || !body.messages.every((m) => m && typeof m.role === 'string' && typeof m.content === 'string'))
        throw new BadRequest('"messages" must be an array of {role, content} with string content');
      ids = model.tokenizer.encodeChat(body.messages as ChatMessage[], { addGenerationPrompt: true });
    } else if (typeof body.prompt === 'string') {
      if (!body.prompt) throw new BadRequest('"prompt" is empty');
      ids = model.tokenizer.encode(body.prompt, { addSpecialTokens: body.add_special_tokens !== false });
    } else ids = checkIds(body.prompt, 'prompt');
    const job = parseJob(body, ids);
    const { gen, routes, rows } = await run(job);
    const P = ids.length;
    const text = model.tokenizer.decode(
      gen.stopReason === 'stop_token' && body.skip_special_tokens !== false ? gen.ids.slice(0, -1) : gen.ids,
      { skipSpecialTokens: body.skip_special_tokens !== false },
    );
    const finish = gen.stopReason === 'max_new_tokens' ? 'length' : 'stop';
    const toNested = (from: number, to: number): number[][][] => {
      const out: number[][][] = [];
      for (let r = from; r < to; r++)
        out.push(Array.from({ length: L }, (_, l) => Array.from(routes.subarray((r * L + l) * K, (r * L + l + 1) * K))));
      return out;
    };
    const choice: Record<string, unknown> = chat
      ? { index: 0, message: { role: 'assistant', content: text }, finish_reason: finish }
      : { index: 0, text, finish_reason: finish };
    if (body.return_token_ids) (choice.token_ids = gen.ids), (choice.prompt_token_ids = ids);
    const res: Record<string, unknown> = {
      id: `${chat ? 'chatcmpl' : 'cmpl'}-${createHash('sha256').update(`${Date.now()}:${Math.random()}`).digest('hex').slice(0, 16)}`,
      object: chat ? 'chat.completion' : 'text_completion',
      created: Math.floor(Date.now() / 1000),
      model: name,
      choices: [choice],
      usage: { prompt_tokens: P, completion_tokens: gen.ids.length, total_tokens: P + gen.ids.length },
    };
    if (routed) {
      // vLLM: prompt rows at the response level, generated rows per choice; SGLang: all rows, base64 int32
      res.prompt_routed_experts = toNested(0, P);
      choice.routed_experts = toNested(P, rows);
      if (body.return_routed_experts) res.sglext = { routed_experts: int32Base64(routes) };
    }
    if (job.policy) res.mote_policy_applied = createHash('sha256').update(JSON.stringify(job.policy)).digest('hex').slice(0, 16);
    return res;
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const send = (status: number, obj: unknown) => {
      const s = JSON.stringify(obj);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(s) });
      res.end(s);
    };
    const fail = (status: number, message: string) =>
      send(status, {
        error: {
          message,
          type: status === 400 ? 'BadRequestError' : status === 413 ? 'RequestTooLarge' : 'InternalServerError',
          param: null,
          code: status,
        },
      });
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && (path === '/health' || path === '/v1/health')) return send(200, { status: 'ok' });
    if (req.method === 'GET' && path === '/v1/models')
      return send(200, {
        object: 'list',
        data: [{ id: name, object: 'model', owned_by: 'mote', root: info.dir, routed_experts: routed ? ROUTES_FLAG : null }],
      });
    if (req.method !== 'POST' || (path !== '/v1/completions' && path !== '/v1/chat/completions'))
      return fail(
        404,
        `no route ${req.method} ${path}; mote serve answers POST /v1/completions, POST /v1/chat/completions, GET /v1/models`,
      );
    const chunks: Buffer[] = [];
    let size = 0,
      tooBig = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > maxBody) tooBig = true;
      else chunks.push(c);
    });
    req.on('end', () => {
      if (tooBig) return fail(413, `request body of ${size} bytes is over the limit of ${maxBody} bytes`);
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch (e) {
        return fail(400, `the request body is not JSON: ${(e as Error).message}`);
      }
      if (typeof body !== 'object' || body === null || Array.isArray(body)) return fail(400, 'the request body must be a JSON object');
      respond(path, body as Record<string, unknown>).then(
        (r) => send(200, r),
        (e) =>
          e instanceof BadRequest
            ? fail(e.status, e.message)
            : isMoteError(e) && (e.code === 'E_POLICY' || e.code === 'E_TOKEN_RANGE')
              ? fail(400, e.message)
              : fail(500, (e as Error).message),
      );
    });
  });
  server.requestTimeout = 0; // long generations are fine; the client owns its timeout
  const host = o.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) =>
      reject(
        new MoteError('E_IO', `cannot listen on ${host}:${o.port ?? 8000}: ${(e as Error).message}; pick another --port`, {
          field: 'port',
        }),
      ),
    );
    server.listen(o.port ?? 8000, host, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : (o.port ?? 8000);
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
