// JSON over HTTP for a served model: GET / POST with a per-request timeout and retries with exponential
// backoff on 429, 5xx, timeouts and connection resets, each failure a coded E_REMOTE_* error. Not the model
// facade (remote.ts) nor the completion protocol (served.ts).

import { MoteError } from '@mote/tensor-core';

/** The client's settings (ConnectOptions of connectModel hold them). */
export interface HttpOptions {
  concurrency?: number;
  timeoutMs?: number;
  retries?: number;
  backoffMs?: number;
  onRequest?: (r: { promptTokens: number; generatedTokens: number }) => void;
}

const RETRY_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'EAI_AGAIN']);

/** JSON over HTTP with a timeout, retries with exponential backoff on 429 / 5xx / timeouts / resets. */
export class Http {
  readonly concurrency: number;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoffMs: number;
  constructor(
    readonly base: URL,
    private readonly o: HttpOptions,
  ) {
    this.concurrency = Math.max(1, o.concurrency ?? 16);
    this.timeoutMs = o.timeoutMs ?? 600_000;
    this.retries = o.retries ?? 6;
    this.backoffMs = o.backoffMs ?? 500;
  }
  get(path: string): Promise<unknown> {
    return this.call('GET', path);
  }
  async post(path: string, body: unknown): Promise<unknown> {
    const r = await this.call('POST', path, body);
    const b = body as { prompt?: unknown[] };
    const gen = (r as { choices?: Array<{ token_ids?: unknown[] }> })?.choices?.[0]?.token_ids?.length ?? 0;
    this.o.onRequest?.({ promptTokens: Array.isArray(b.prompt) ? b.prompt.length : 0, generatedTokens: gen });
    return r;
  }
  private async call(method: string, path: string, body?: unknown): Promise<unknown> {
    const url = new URL(path, this.base).href;
    let last: MoteError | null = null;
    for (let attempt = 0; attempt <= this.retries; attempt++) {
      if (attempt) await new Promise((r) => setTimeout(r, Math.min(this.backoffMs * 2 ** (attempt - 1), 8000)));
      let res: Response;
      try {
        res = await fetch(url, {
          method,
          signal: AbortSignal.timeout(this.timeoutMs),
          ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
        });
      } catch (e) {
        const err = e as Error & { cause?: { code?: string } };
        if (err.name === 'TimeoutError' || err.name === 'AbortError') {
          last = new MoteError(
            'E_REMOTE_TIMEOUT',
            `${method} ${url} took longer than the timeout of ${this.timeoutMs} ms (${attempt + 1} tries); raise --timeout or check the server's load`,
            { field: 'timeout' },
          );
          continue;
        }
        const code = err.cause?.code ?? '';
        if (RETRY_CODES.has(code) || /other side closed|socket/i.test(String(err.cause ?? err.message))) {
          last = new MoteError(
            'E_REMOTE_CONNECT',
            `${method} ${url} failed (${code || err.message}) after ${attempt + 1} tries; is the server running and reachable?`,
            { field: 'url' },
          );
          continue;
        }
        throw new MoteError('E_REMOTE_CONNECT', `${method} ${url} failed: ${err.message}${code ? ` (${code})` : ''}`, { field: 'url' });
      }
      let text: string;
      try {
        text = await res.text();
      } catch (e) {
        last = new MoteError(
          'E_REMOTE_CONNECT',
          `${method} ${url}: the connection broke while reading the response (${(e as Error).message})`,
          { field: 'url' },
        );
        continue;
      }
      if (res.status === 429 || res.status >= 500) {
        last = new MoteError('E_REMOTE_HTTP', `${method} ${url} answered HTTP ${res.status} ${truncate(text)} (${attempt + 1} tries)`, {
          field: 'status',
        });
        continue;
      }
      if (res.status >= 400)
        throw new MoteError('E_REMOTE_HTTP', `${method} ${url} answered HTTP ${res.status}: ${truncate(text)}`, { field: 'status' });
      try {
        return JSON.parse(text);
      } catch {
        throw new MoteError(
          'E_REMOTE_JSON',
          `${method} ${url} answered HTTP ${res.status} with a body that is not JSON: ${truncate(text)}`,
          { field: 'body' },
        );
      }
    }
    throw last!;
  }
}

const truncate = (s: string): string => (s.length > 200 ? s.slice(0, 199) + '…' : s);
