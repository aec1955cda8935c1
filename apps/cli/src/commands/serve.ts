// mote serve: the local runtime behind vLLM's / SGLang's completions protocol with routed experts and a
// per-request mote_policy (@mote/moe-runtime serveModel). Argument parsing and printing only.
import type { Command } from 'commander';
import { loadModel, serveModel } from '@mote/moe-runtime';
import { dtypeOption, example, intArg, loadDtype, modelOption, threadsOption, type DtypeArg } from '../options.js';

interface Opts {
  model: string;
  host: string;
  port: number;
  dtype: DtypeArg;
  threads?: number;
  name?: string;
  maxBatch: number;
  routedExperts: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command('serve')
    .description(
      "serve a checkpoint over HTTP (POST /v1/completions, /v1/chat/completions) with routed experts in vLLM's and SGLang's fields and a per-request mote_policy",
    )
    .option('--host <addr>', 'address to bind (another than loopback exposes the model to the network)', '127.0.0.1')
    .option('--port <n>', 'port (0 = any free port)', intArg('--port', { max: 65535 }), 8000)
    .option('--name <id>', 'model id listed in /v1/models (default: the folder name)')
    .option('--max-batch <n>', 'most requests decoded together', intArg('--max-batch', { min: 1 }), 16)
    .option('--no-routed-experts', 'behave like a server started without --enable-return-routed-experts');
  for (const add of [modelOption, threadsOption, dtypeOption]) add(cmd);
  example(cmd, 'mote serve -m models/organism/model --port 8000');
  cmd.action(async (o: Opts) => {
    const model = await loadModel(o.model, { threads: o.threads, dtype: loadDtype(o.dtype) });
    const s = await serveModel({ model, host: o.host, port: o.port, name: o.name, maxBatch: o.maxBatch, routedExperts: o.routedExperts });
    process.stdout.write(
      `mote serve: listening on ${s.url} (model ${o.model}${o.routedExperts ? ', routed experts on' : ''}); Ctrl-C stops\n`,
    );
    await new Promise<void>((resolve) => s.server.once('close', () => resolve()));
  });
}
