#!/usr/bin/env node
// Publishability check (run by hand or in a release job, not in `pnpm test`: it installs external
// dependencies from the npm registry): `pnpm pack` each built package, install the tarballs into a scratch
// project outside the workspace (the @mote packages only from those tarballs), and run each package's
// README example there. Examples that need run folders made by earlier steps are marked import-only.
// Usage: pnpm build && node scripts/pack-test.mjs [package ...]

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import ts from 'typescript';

const root = resolve(dirname(new URL(import.meta.url).pathname), '..');
/** Packages in dependency order; `run: false` = the README example needs a run folder, so only import it. */
const PACKAGES = [
  { name: 'tensor-core', run: true },
  { name: 'stats', run: true },
  { name: 'moe-runtime', run: true },
  { name: 'ftri', run: false },
  { name: 'mote', run: false },
  { name: 'eval', run: false },
];
const only = process.argv.slice(2);
const scratch = mkdtempSync(join(tmpdir(), 'mote-pack-'));
const tarDir = join(scratch, 'tarballs');
mkdirSync(tarDir);
const sh = (cmd, args, cwd, extra = {}) =>
  execFileSync(cmd, args, {
    cwd,
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
    env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', ...extra },
  });

// 1. pack every package (pnpm rewrites workspace:* to the version)
const tarballs = {};
for (const p of PACKAGES) {
  sh('pnpm', ['pack', '--pack-destination', tarDir], join(root, 'packages', p.name));
  const file = readdirSync(tarDir).find((f) => f.startsWith(`mote-${p.name}-`));
  tarballs[`@mote/${p.name}`] = join(tarDir, file);
  const list = sh('tar', ['-tzf', tarballs[`@mote/${p.name}`]], tarDir);
  for (const must of ['package/LICENSE', 'package/README.md', 'package/dist/index.js', 'package/dist/index.js.map']) {
    if (!list.includes(must)) throw new Error(`@mote/${p.name}: ${must} is missing from the packed tarball`);
  }
}

// 2. a scratch project outside the workspace; @mote/* resolve to the tarballs (overrides pin transitive ones)
const app = join(scratch, 'app');
mkdirSync(app);
const deps = Object.fromEntries(Object.entries(tarballs).map(([n, f]) => [n, `file:${f}`]));
writeFileSync(
  join(app, 'package.json'),
  JSON.stringify({ name: 'scratch', private: true, type: 'module', dependencies: deps, overrides: deps }, null, 2),
);
symlinkSync(join(root, 'models'), join(app, 'models'));
console.error(`pack-test: installing ${Object.keys(tarballs).length} tarballs into ${app}`);
sh('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline'], app);

// 3. each README's first ```ts block, types stripped by the TypeScript compiler, run in the scratch project
let failed = 0;
for (const p of PACKAGES.filter((x) => !only.length || only.includes(x.name))) {
  const readme = readFileSync(join(root, 'packages', p.name, 'README.md'), 'utf8');
  const block = readme.match(/```ts\n([\s\S]*?)```/)?.[1];
  if (!block) throw new Error(`@mote/${p.name}: README has no \`\`\`ts example`);
  let code = ts.transpileModule(block, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
  if (!p.run) {
    const imports = code.match(/^import[\s\S]*?;$/gm) ?? [];
    code = `${imports.join('\n')}\nconsole.log('imported', ${JSON.stringify(p.name)});\n`;
  }
  const file = join(app, `example-${p.name}.mjs`);
  writeFileSync(file, code);
  try {
    const out = sh('node', [file], app);
    console.log(
      `ok   @mote/${p.name} (${p.run ? 'README example ran' : 'README imports resolved'})\n${out
        .trim()
        .split('\n')
        .slice(-3)
        .map((l) => `     ${l.slice(0, 120)}`)
        .join('\n')}`,
    );
  } catch (e) {
    failed++;
    console.log(`FAIL @mote/${p.name}: ${e.message.split('\n')[0]}`);
  }
}
console.log(`pack-test: scratch project ${app}`);
process.exit(failed ? 1 : 0);
