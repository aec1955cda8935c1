// The docs' example scripts (docs/examples/*.mjs) run with node against the organism, importing the built
// packages (@mote/moe-runtime, @mote/ftri dist) as a user would. turbo builds them first (cached when unchanged).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');
const run = (script: string, ...args: string[]) =>
  execFileSync(process.execPath, [join(ROOT, 'docs', 'examples', script), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });

describe('docs/examples against the built packages', () => {
  beforeAll(() => {
    execFileSync('pnpm', ['exec', 'turbo', 'run', 'build', '--filter=@mote/ftri...', '--output-logs=errors-only'], {
      cwd: ROOT,
      stdio: 'pipe',
      timeout: 600_000,
    });
  }, 600_000);

  it('refusal-attribution.mjs ranks experts by direct logit attribution and compares with fTRI in the report', () => {
    const out = mkdtempSync(join(tmpdir(), 'mote-docs-attr-'));
    const text = run('refusal-attribution.mjs', join(ROOT, 'models', 'organism'), out);
    expect(text).toMatch(/^attribution top 6: (L\dE\d+ ){5}L\dE\d+$/m);
    expect(text).toMatch(/^fTRI diff top 6: .* \| overlap [0-6]\/6, Spearman -?\d\.\d{3} over 64 experts$/m);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html).toContain('Agreement with other rankings');
    expect(existsSync(join(out, 'ranking.json'))).toBe(true);
  }, 300_000);

  it('logit-lens.mjs reads every layer and every chosen expert', () => {
    const text = run('logit-lens.mjs');
    // the organism's last layer predicts its refusal's first token (what it generates)
    expect(text).toMatch(/^blocks\.3\.resid_post: refusal token rank 1,/m);
    expect(text.match(/^layer \d expert \d+ \(weight/gm)).toHaveLength(4 * 2);
  }, 300_000);

  it('patching.mjs sweeps layers and ablates experts', () => {
    const text = run('patching.mjs');
    // patching the last layer's residual of the last token restores the clean prediction entirely
    expect(text).toMatch(/^blocks\.3\.resid_post: logit diff \S+, recovered 100%$/m);
    expect(text.match(/^ {2}expert \d+: logit diff/gm)).toHaveLength(3);
  }, 300_000);
});
