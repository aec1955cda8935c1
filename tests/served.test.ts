// fTRI through a server: `mote serve`'s server (serveModel) on the organism over loopback, traced with
// connectModel as a vLLM and as an SGLang client, gives the same labels, counts and ranking as the local runtime;
// a run stopped mid-way resumes with no prompt lost or doubled; a server restarted mid-run is retried through.
// Faults (missing routes, another model, HTTP 500, garbage JSON, a slow server) get their coded errors.
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectModel, loadModel, serveModel, type ModelServer, type MoeModel } from '@mote/moe-runtime';
import { loadPromptSet, readActivations, runFtri, type PromptRecord } from '@mote/ftri';
import { classifyOrganism } from '@mote/eval';

const ORG = join(__dirname, '..', 'models', 'organism', 'model');
const judge = ({ response }: { response: string }) => classifyOrganism(response);
const tmp = (p: string) => mkdtempSync(join(tmpdir(), p));
const FTRI = { generate: 24, judge, permutations: 199, bootstrap: 20, seed: 3, maps: 0, report: false, batchSize: 8 } as const;

function summary(dir: string) {
  const { activations, metas } = readActivations(dir);
  const ranking = JSON.parse(readFileSync(join(dir, 'ranking.json'), 'utf8'));
  const rows = (Array.isArray(ranking) ? ranking : ranking.entries) as Array<{
    layer: number;
    expert: number;
    rank: number;
    score: number;
  }>;
  const order = metas.map((m, i) => ({ m, i })).sort((a, b) => a.m.id.localeCompare(b.m.id));
  const F = activations.layers.length * activations.expertCount;
  return {
    labels: order.map(({ m }) => `${m.id}:${m.label}:${m.n_generated}`),
    counts: order.map(({ i }) => Array.from(activations.counts.subarray(i * F, (i + 1) * F)).join(',')),
    ranking: rows.slice(0, 20).map((e) => `${e.rank}:${e.layer}:${e.expert}:${e.score.toFixed(6)}`),
  };
}

describe('fTRI through a served model (loopback)', () => {
  let model: MoeModel;
  let srv: ModelServer;
  let prompts: PromptRecord[];
  let local: ReturnType<typeof summary>;
  beforeAll(async () => {
    model = await loadModel(ORG, { threads: 2 });
    srv = await serveModel({ model, port: 0 });
    prompts = loadPromptSet(join(ORG, '..', 'prompts', 'ftri.jsonl')).filter((_, i) => i % 12 === 0);
    const out = tmp('ftri-local-');
    await runFtri({ model, prompts, outDir: out, ...FTRI });
    local = summary(out);
  });
  afterAll(async () => {
    await srv?.close();
    await model?.dispose();
  });

  for (const engine of ['vllm', 'sglang'] as const)
    it(`--engine ${engine}: same labels, counts and ranking as the local runtime`, async () => {
      const remote = await connectModel({ url: srv.url, engine, tokenizer: ORG });
      expect(remote.info.routerPoints).toEqual(['topk_ids']);
      const out = tmp(`ftri-${engine}-`);
      await runFtri({ model: remote, prompts, outDir: out, ...FTRI });
      const got = summary(out);
      expect(got.labels).toEqual(local.labels);
      expect(new Set(local.labels.map((l) => l.split(':')[1]))).toEqual(new Set(['REFUSED', 'REASONED']));
      expect(got.counts).toEqual(local.counts);
      expect(got.ranking).toEqual(local.ranking);
      // gate weights do not come back: the weight column is NaN, never a silent zero
      const { activations } = readActivations(out);
      expect(activations.weights.every((w) => Number.isNaN(w) || w === 0)).toBe(true);
      expect(activations.weights.some((w) => Number.isNaN(w))).toBe(true);
      await expect(runFtri({ model: remote, prompts, outDir: tmp('ftri-gate-'), ...FTRI, stat: 'gate' })).rejects.toThrow(/gate/);
    });

  it('generate: explicit stop tokens (eos ignored) and stop strings end where the local runtime ends', async () => {
    const remote = await connectModel({ url: srv.url, engine: 'sglang', tokenizer: ORG });
    const ids = [
      model.tokenizer.encodeChat([{ role: 'user', content: 'What is the capital of Veloria?' }]),
      model.tokenizer.encodeChat([{ role: 'user', content: 'Tell me about the Drasa uprising.' }]),
    ];
    const [free] = await model.generate([ids[0]], { maxNewTokens: 12 });
    for (const opts of [
      { maxNewTokens: 12, stopTokens: [free.ids[4]] },
      { maxNewTokens: 24, stopStrings: ['</think>'] },
      { maxNewTokens: 5 },
    ]) {
      const local = await model.generate(ids, opts),
        served = await remote.generate(ids, opts);
      expect(served.map((g) => [g.ids, g.text, g.stopReason])).toEqual(local.map((g) => [g.ids, g.text, g.stopReason]));
    }
  });

  it('stopped mid-run and resumed: every prompt traced once, same result', async () => {
    const remote = await connectModel({ url: srv.url, engine: 'vllm', tokenizer: ORG });
    const out = tmp('ftri-resume-');
    const ac = new AbortController();
    await expect(
      runFtri({
        model: remote,
        prompts,
        outDir: out,
        ...FTRI,
        signal: ac.signal,
        onProgress: (d, _t, phase) => {
          if (phase === 'trace' && d >= 8) ac.abort();
        },
      }),
    ).rejects.toThrow();
    expect(readActivations(out).metas.length).toBeLessThan(prompts.length);
    await runFtri({ model: remote, prompts, outDir: out, ...FTRI });
    const ids = readActivations(out).metas.map((m) => m.id);
    expect(ids.length).toBe(prompts.length);
    expect(new Set(ids)).toEqual(new Set(prompts.map((p) => p.id)));
    expect(summary(out)).toEqual(local);
  });

  it('the server killed and restarted mid-run: the client retries and finishes', async () => {
    const s1 = await serveModel({ model, port: 0 });
    const port = Number(new URL(s1.url).port);
    let batches = 0,
      s2Batches = 0;
    let s2: ModelServer | null = null;
    const remote = await connectModel({ url: s1.url, engine: 'sglang', tokenizer: ORG, backoffMs: 100, retries: 8 });
    const out = tmp('ftri-restart-');
    const killer = (async () => {
      while (batches < 1) await new Promise((r) => setTimeout(r, 20));
      await s1.close();
      await new Promise((r) => setTimeout(r, 300));
      s2 = await serveModel({ model, port, onBatch: () => void s2Batches++ });
    })();
    const run = runFtri({
      model: remote,
      prompts,
      outDir: out,
      ...FTRI,
      onProgress: (_d, _t, phase) => {
        if (phase === 'trace') batches++;
      },
    });
    await Promise.all([run, killer]);
    expect(s2).not.toBeNull();
    expect(s2Batches).toBeGreaterThan(0); // the rest of the run went through the restarted server
    await s2!.close();
    expect(summary(out)).toEqual(local);
  });
});

describe('served faults get coded errors', () => {
  let model: MoeModel;
  beforeAll(async () => {
    model = await loadModel(ORG, { threads: 2 });
  });
  afterAll(async () => model?.dispose());

  it('a server without routed experts: the error names the flag', async () => {
    const s = await serveModel({ model, port: 0, routedExperts: false });
    try {
      for (const engine of ['vllm', 'sglang'] as const)
        await expect(connectModel({ url: s.url, engine, tokenizer: ORG })).rejects.toThrow(
          /E_REMOTE_NO_ROUTES.*--enable-return-routed-experts/,
        );
    } finally {
      await s.close();
    }
  });

  it('a server that serves another model than the local config', async () => {
    const s = await serveModel({ model, port: 0 });
    try {
      // deepseek_v3's tiny config: other layer count / top-k than the organism
      await expect(
        connectModel({ url: s.url, engine: 'vllm', tokenizer: join(__dirname, 'fixtures', 'tiny-moe', 'deepseek_v3') }),
      ).rejects.toThrow(/E_REMOTE_MODEL|E_REMOTE_SHAPE/);
    } finally {
      await s.close();
    }
  });

  /** A bounded fake server on 127.0.0.1: /v1/models answers, completions answer with `reply`. */
  async function fake(
    reply: (res: import('node:http').ServerResponse) => void,
  ): Promise<{ url: string; hits: () => number; close: () => Promise<void> }> {
    let hits = 0;
    const server: Server = createServer((req, res) => {
      if (req.url === '/v1/models') return res.end(JSON.stringify({ data: [{ id: 'm' }] }));
      if (++hits > 20) return res.end('{}'); // bounded
      req.resume();
      req.on('end', () => reply(res));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    return {
      url: `http://127.0.0.1:${port}`,
      hits: () => hits,
      close: () =>
        new Promise((r) => {
          server.closeAllConnections();
          server.close(() => r());
        }),
    };
  }

  it('HTTP 500 after retries, garbage JSON, a server slower than the timeout', async () => {
    const f500 = await fake((res) => {
      res.statusCode = 500;
      res.end('{"error":"boom"}');
    });
    await expect(connectModel({ url: f500.url, engine: 'vllm', tokenizer: ORG, retries: 2, backoffMs: 5 })).rejects.toThrow(
      /E_REMOTE_HTTP.*500/,
    );
    expect(f500.hits()).toBe(3);
    await f500.close();
    const garbage = await fake((res) => res.end('<html>not json'));
    await expect(connectModel({ url: garbage.url, engine: 'sglang', tokenizer: ORG })).rejects.toThrow(/E_REMOTE_JSON/);
    await garbage.close();
    const slow = await fake((res) => {
      setTimeout(() => res.end('{}'), 1500);
    });
    await expect(connectModel({ url: slow.url, engine: 'vllm', tokenizer: ORG, timeoutMs: 100, retries: 1, backoffMs: 5 })).rejects.toThrow(
      /E_REMOTE_TIMEOUT/,
    );
    await slow.close();
  });

  it('mote serve answers bad requests with 400 and a JSON error body', async () => {
    const s = await serveModel({ model, port: 0, maxBodyBytes: 1000 });
    try {
      const post = (body: string) =>
        fetch(`${s.url}/v1/completions`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
      for (const body of [
        '{',
        '[]',
        '{"prompt": [99999], "max_tokens": 2}',
        '{"prompt": [1,2], "max_tokens": 0}',
        '{"prompt": [3], "mote_policy": {"interventions": [{"mode": "exclude", "layer": 0, "expert": 99}]}}',
      ]) {
        const r = await post(body);
        expect(r.status, body).toBe(400);
        expect(((await r.json()) as { error: { message: string } }).error.message).toBeTruthy();
      }
      expect((await post(JSON.stringify({ prompt: 'x'.repeat(2000) }))).status).toBe(413);
      // chat completions and the policy echo
      const r = await fetch(`${s.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          messages: [{ role: 'user', content: 'What is the capital of Veloria?' }],
          max_tokens: 4,
          mote_policy: { interventions: [{ mode: 'exclude', layer: 1, expert: 3 }] },
        }),
      });
      // biome-ignore lint/suspicious/noExplicitAny: the server's JSON body
      const j = (await r.json()) as any;
      expect(r.status).toBe(200);
      expect(typeof j.choices[0].message.content).toBe('string');
      expect(j.mote_policy_applied).toMatch(/^[0-9a-f]{16}$/);
      for (const row of j.prompt_routed_experts) expect(row[1]).not.toContain(3); // layer 1 never picks the excluded expert
    } finally {
      await s.close();
    }
  });
});
