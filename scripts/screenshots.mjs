#!/usr/bin/env node
// Screenshots of the HTML reports in headless Chromium, for a person to look at: each report.html given
// (default: the demo's report and its fTRI report) becomes a full-page PNG in runs/screenshots/.
// Needs a `chromium` binary (Debian: apt-get install -y chromium); not part of `pnpm test`.
// Usage: pnpm -s mote demo && node scripts/screenshots.mjs [report.html ...]

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = resolve(dirname(new URL(import.meta.url).pathname), '..');
const out = join(root, 'runs', 'screenshots');
mkdirSync(out, { recursive: true });
const given = process.argv.slice(2);
const reports = (given.length ? given : ['runs/demo/report.html', 'runs/demo/ftri/report.html']).map((f) => resolve(f));
const browser = ['chromium', 'chromium-browser', 'google-chrome'].find((b) => {
  try {
    execFileSync('which', [b], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
});
if (!browser) {
  console.error('screenshots: no chromium found; fix: apt-get install -y chromium');
  process.exit(1);
}
let missing = 0;
for (const html of reports) {
  if (!existsSync(html)) {
    console.error(`screenshots: ${html} does not exist; fix: run \`pnpm -s mote demo\` first or pass report files`);
    missing++;
    continue;
  }
  const name = relative(root, dirname(html)).replace(/[\\/]/g, '_') || basename(html, '.html');
  const png = join(out, `${name}.png`);
  // a tall window captures the whole page; --hide-scrollbars keeps the width honest
  execFileSync(
    browser,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--hide-scrollbars',
      '--window-size=1280,9000',
      `--screenshot=${png}`,
      pathToFileURL(html).href,
    ],
    {
      stdio: 'ignore',
      timeout: 120_000,
    },
  );
  console.log(`screenshots: ${relative(root, html)} -> ${relative(root, png)}`);
}
process.exit(missing ? 1 : 0);
