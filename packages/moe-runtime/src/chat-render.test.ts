// Chat templates that exhaust memory: the renderer process dies (V8 aborts it at its heap limit), the caller gets
// E_LIMIT and lives on, and the next render works. The time limit and output limit are in tests/runtime-limits.

import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isMoteError } from '@mote/tensor-core';
import { boundedRenderer } from './chat-render.js';
import { syncWorker } from './sync-worker.js';

const ORGANISM = join(import.meta.dirname, '..', '..', '..', 'models', 'organism', 'model');
const HUGE = '{% for i in range(1000000000) %}{% endfor %}'; // jinja's range() builds the whole list first

function codeOf(f: () => unknown): string {
  try {
    f();
    return 'ok';
  } catch (e) {
    if (!isMoteError(e)) throw e;
    return `${e.code} ${e.message}`;
  }
}

describe('chat template memory limit', () => {
  it('a template that builds a list of 1e9 items is E_LIMIT (out of memory), and the process survives', () => {
    const render = boundedRenderer(ORGANISM, HUGE, { ms: 60_000, heapMb: 64 });
    const msgs = [{ role: 'user', content: 'hi' }];
    expect(codeOf(() => render(msgs, {}))).toMatch(
      /^E_LIMIT .*ran out of memory .*limited to 64 MB, ended with (signal SIGABRT|exit code)/,
    );
    // the process is alive and a later render starts a new renderer (which dies the same way)
    expect(codeOf(() => render(msgs, {}))).toMatch(/^E_LIMIT .*ran out of memory/);
    const fine = boundedRenderer(ORGANISM, '{% for m in messages %}[{{ m.content }}]{% endfor %}', { heapMb: 64 });
    expect(fine(msgs, {})).toBe('[hi]');
  }, 120_000);

  it('syncWorker: a reply, a throw as { error }, and a request over the time limit', () => {
    const w = syncWorker('return (x) => { if (x === "throw") throw new Error("bad"); if (x === "spin") for (;;); return x * 2; };', {});
    expect(w.call(21, 10_000)).toEqual({ reply: 42 });
    expect(w.call('throw', 10_000)).toEqual({ reply: { error: 'bad' } });
    expect(w.call('spin', 300)).toEqual({ timedOut: true });
    expect(w.call(2, 10_000)).toEqual({ reply: 4 }); // a new worker
    w.close();
  });
});
