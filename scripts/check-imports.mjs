#!/usr/bin/env node
// Import discipline check (CI): no import cycles between the source files of a package (type imports
// included), and packages import only packages below them in the layering of the root README.
// Reads import/export specifiers with a regex over src/**/*.ts (tests excluded); exits 1 on a violation.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const root = resolve(dirname(new URL(import.meta.url).pathname), '..');
/**
 * Type-only edges still allowed to close a cycle, each with the change that removes it. Remove an entry
 * when that change lands; the check fails if an entry is no longer type-only. None left today.
 * @type {Map<string, string>}
 */
const ALLOWED_TYPE_EDGES = new Map();
/** Bottom to top: a package may import only packages listed before it. */
export const LAYERS = ['tensor-core', 'stats', 'io', 'moe-runtime', 'ftri', 'mote', 'eval', 'cli'];

function walk(dir) {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) return walk(p);
    return /\.ts$/.test(n) && !/\.test\.ts$/.test(n) && !/\.d\.ts$/.test(n) ? [p] : [];
  });
}

const SPEC = /(?:^|\n)\s*(import|export)(\s+type)?\s[^'";]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
/** [specifier, typeOnly] per import or re-export of a file. */
function importsOf(file) {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(SPEC)].map((m) => [m[3] ?? m[4], Boolean(m[2])]);
}

const problems = [];
const pkgDirs = [
  ...readdirSync(join(root, 'packages')).map((n) => ({ name: n, dir: join(root, 'packages', n) })),
  ...readdirSync(join(root, 'apps')).map((n) => ({ name: n, dir: join(root, 'apps', n) })),
].filter((p) => statSync(join(p.dir, 'src'), { throwIfNoEntry: false })?.isDirectory());

for (const { name, dir } of pkgDirs) {
  const files = walk(join(dir, 'src'));
  const graph = new Map();
  for (const f of files) {
    const deps = [];
    for (const [spec, typeOnly] of importsOf(f)) {
      if (spec.startsWith('.')) {
        const target = resolve(dirname(f), spec.replace(/\.js$/, '.ts'));
        const candidates = [target, target.replace(/\.ts$/, '/index.ts')];
        const hit = candidates.find((c) => files.includes(c));
        const edge = `${relative(root, f)} -> ${relative(root, hit ?? target)}`;
        if (ALLOWED_TYPE_EDGES.has(edge)) {
          if (!typeOnly) problems.push(`${edge} is allowed in ALLOWED_TYPE_EDGES only as a type import`);
          continue;
        }
        if (hit) deps.push(hit);
      } else if (spec.startsWith('@mote/')) {
        const dep = spec.slice('@mote/'.length).split('/')[0];
        const me = LAYERS.indexOf(name),
          them = LAYERS.indexOf(dep);
        if (me < 0 || them < 0)
          problems.push(
            `${relative(root, f)}: package ${name} or @mote/${dep} is missing from LAYERS in scripts/check-imports.mjs (and the root README)`,
          );
        else if (them >= me)
          problems.push(`${relative(root, f)}: @mote/${name} imports @mote/${dep}, which is not below it (layers: ${LAYERS.join(' < ')})`);
      }
    }
    graph.set(f, deps);
  }
  // cycles: depth-first search with colours
  const colour = new Map();
  const stack = [];
  const visit = (f) => {
    colour.set(f, 1);
    stack.push(f);
    for (const d of graph.get(f) ?? []) {
      if (colour.get(d) === 1) {
        const cyc = stack
          .slice(stack.indexOf(d))
          .concat(d)
          .map((x) => relative(join(dir, 'src'), x));
        problems.push(`${name}: import cycle ${cyc.join(' -> ')}`);
      } else if (!colour.get(d)) visit(d);
    }
    stack.pop();
    colour.set(f, 2);
  };
  for (const f of files) if (!colour.get(f)) visit(f);
}

if (problems.length) {
  console.error(`check-imports: ${problems.length} problem(s)\n${problems.map((p) => `  ${p}`).join('\n')}`);
  process.exit(1);
}
console.log(`check-imports: ${pkgDirs.length} packages, no cycles, layering ${LAYERS.join(' < ')}`);
for (const [edge, why] of ALLOWED_TYPE_EDGES) console.log(`  allowed type-only edge ${edge}: ${why}`);
