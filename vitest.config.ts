import { defineConfig } from 'vitest/config';
import { fileURLToPath } from 'node:url';

const src = (p: string) => fileURLToPath(new URL(`./packages/${p}/src/index.ts`, import.meta.url));

export default defineConfig({
  resolve: {
    alias: {
      '@mote/tensor-core': src('tensor-core'),
      '@mote/stats': src('stats'),
      '@mote/io': src('io'),
      '@mote/moe-runtime': src('moe-runtime'),
      '@mote/ftri': src('ftri'),
      '@mote/mote': src('mote'),
      '@mote/eval': src('eval'),
    },
  },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'apps/*/src/**/*.test.ts', 'tests/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
