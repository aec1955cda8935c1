// mote policy top | random | sweep | check: build intervention policies from an fTRI ranking, matched
// random baselines and dose-response sweeps (@mote/mote). Argument parsing and printing only.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { MoteError } from '@mote/tensor-core';
import { inspectModel, type InterventionMode, type ModelInfo, type Policy, type TokenScope } from '@mote/moe-runtime';
import { readRanking } from '@mote/ftri';
import { INTERVENTION_MODES, loadPolicy, policyExperts, randomPolicy, sweepPolicies, topNPolicy, writePolicy } from '@mote/mote';

export function parseScope(s: string | undefined): TokenScope | undefined {
  if (s === undefined) return undefined;
  if (['all', 'prompt', 'generated', 'think'].includes(s)) return s as TokenScope;
  const m = /^(\d+)[-:](\d+)$/.exec(s);
  if (m && Number(m[1]) < Number(m[2])) return { from: Number(m[1]), to: Number(m[2]) };
  throw new MoteError('E_INPUT', `--scope "${s}" is not a token scope; fix: use all, prompt, generated, think or a position range FROM-TO (half-open), e.g. 0-16`, { field: '--scope' });
}
export function parseMode(s: string): InterventionMode {
  if (!(INTERVENTION_MODES as readonly string[]).includes(s)) throw new MoteError('E_INPUT', `--mode "${s}" is not an intervention mode; fix: use one of ${INTERVENTION_MODES.join(', ')}`, { field: '--mode' });
  return s as InterventionMode;
}
export const intArg = (name: string, min = 0) => (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new MoteError('E_INPUT', `${name} must be an integer >= ${min}, got "${v}"`, { field: name });
  return n;
};
export const numArg = (name: string) => (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new MoteError('E_INPUT', `${name} must be a number, got "${v}"`, { field: name });
  return n;
};
export function parseNs(s: string): number[] {
  const ns = s.split(',').map((x) => x.trim()).filter(Boolean).map(Number);
  if (!ns.length || ns.some((n) => !Number.isInteger(n) || n < 1)) throw new MoteError('E_INPUT', `--ns "${s}" must be comma-separated whole numbers >= 1, e.g. 1,2,5,10,20`, { field: '--ns' });
  return ns;
}

function describe(p: Policy): string {
  const byLayer = new Map<number, number[]>();
  for (const e of policyExperts(p)) byLayer.set(e.layer, [...(byLayer.get(e.layer) ?? []), e.expert]);
  return `${p.name}: ${p.interventions.length} interventions (${p.interventions[0]?.mode ?? '-'}) — ${[...byLayer].map(([l, es]) => `L${l}: ${es.join(',')}`).join('  ')}`;
}
const infoOf = (dir?: string): ModelInfo | undefined => (dir ? inspectModel(dir) : undefined);

interface Common { mode: string; scope?: string; value?: number; perLayerCap?: number; model?: string; name?: string; out: string }

export function register(program: Command): void {
  const policy = program.command('policy').description('build and check intervention policies (top-N from a ranking, random baselines, sweeps)');

  policy
    .command('top')
    .description('the N best-ranked experts of an fTRI ranking.json, all with one mode')
    .requiredOption('--ranking <file>', 'ranking.json written by `mote ftri`')
    .requiredOption('--n <n>', 'number of experts', intArg('--n', 1))
    .option('--mode <mode>', INTERVENTION_MODES.join(' | '), 'exclude')
    .option('--scope <scope>', 'all | prompt | generated | think | FROM-TO')
    .option('--value <v>', 'factor for scale, offset for bias', numArg('--value'))
    .option('--per-layer-cap <k>', 'at most k experts from one layer', intArg('--per-layer-cap', 1))
    .option('--model <dir>', 'validate against this checkpoint (layers, experts, top-k; force caps at top-k per layer)')
    .option('--name <name>', 'policy name (default topN-mode)')
    .requiredOption('--out <file>', 'policy JSON to write')
    .action((o: Common & { ranking: string; n: number }) => {
      const p = topNPolicy(readRanking(o.ranking), { n: o.n, mode: parseMode(o.mode), scope: parseScope(o.scope), value: o.value, perLayerCap: o.perLayerCap, info: infoOf(o.model), name: o.name });
      writePolicy(o.out, p);
      console.log(`${describe(p)}\nwrote ${o.out}`);
    });

  policy
    .command('random')
    .description('a seeded random baseline: N experts uniformly, or matched per layer to --like, optionally avoiding experts')
    .requiredOption('--model <dir>', 'checkpoint whose layers and experts are drawn from (reads config.json only)')
    .option('--n <n>', 'number of experts (default: as many as --like has)', intArg('--n', 1))
    .requiredOption('--seed <s>', 'random seed', intArg('--seed'))
    .option('--like <file>', 'match this policy: same number of experts per layer, same mode/scope/value')
    .option('--avoid <file>', "never draw these experts: a policy's, or the top N of a ranking.json")
    .option('--mode <mode>', `${INTERVENTION_MODES.join(' | ')} (default: --like's, else exclude)`)
    .option('--scope <scope>', 'all | prompt | generated | think | FROM-TO')
    .option('--value <v>', 'factor for scale, offset for bias', numArg('--value'))
    .option('--name <name>', 'policy name (default randomN-mode-sSEED)')
    .requiredOption('--out <file>', 'policy JSON to write')
    .action((o: Partial<Common> & { model: string; out: string; n?: number; seed: number; like?: string; avoid?: string }) => {
      const info = inspectModel(o.model);
      const like = o.like ? loadPolicy(o.like, info) : undefined;
      let avoid: Policy | { layer: number; expert: number }[] | undefined;
      if (o.avoid) {
        let json: unknown;
        try {
          json = JSON.parse(readFileSync(o.avoid, 'utf8'));
        } catch (e) {
          throw new MoteError('E_INPUT', `--avoid ${o.avoid} is not a readable JSON file (${(e as Error).message}); give a policy JSON or a ranking.json`, { file: o.avoid, field: '--avoid' });
        }
        const n = o.n ?? (like ? policyExperts(like).length : undefined);
        if (Array.isArray(json)) {
          if (n === undefined) throw new MoteError('E_INPUT', '--avoid with a ranking avoids its top N: give --n or --like', { field: '--avoid' });
          avoid = [...readRanking(o.avoid)].sort((a, b) => a.rank - b.rank).slice(0, n);
        } else avoid = loadPolicy(o.avoid, info);
      }
      const p = randomPolicy({ info, n: o.n, seed: o.seed, like, avoid, mode: o.mode ? parseMode(o.mode) : undefined, scope: parseScope(o.scope), value: o.value, name: o.name });
      writePolicy(o.out, p);
      console.log(`${describe(p)}\nwrote ${o.out}`);
    });

  policy
    .command('sweep')
    .description('top-N policies for several N (dose-response), one file per N')
    .requiredOption('--ranking <file>', 'ranking.json written by `mote ftri`')
    .requiredOption('--ns <list>', 'comma-separated N, e.g. 1,2,5,10,20', parseNs)
    .option('--mode <mode>', INTERVENTION_MODES.join(' | '), 'exclude')
    .option('--scope <scope>', 'all | prompt | generated | think | FROM-TO')
    .option('--value <v>', 'factor for scale, offset for bias', numArg('--value'))
    .option('--per-layer-cap <k>', 'at most k experts from one layer', intArg('--per-layer-cap', 1))
    .option('--model <dir>', 'validate against this checkpoint')
    .requiredOption('--out <dir>', 'folder for topN-mode.json files')
    .action((o: Common & { ranking: string; ns: number[] }) => {
      const ps = sweepPolicies(readRanking(o.ranking), { ns: o.ns, mode: parseMode(o.mode), scope: parseScope(o.scope), value: o.value, perLayerCap: o.perLayerCap, info: infoOf(o.model) });
      for (const p of ps) {
        writePolicy(join(o.out, `${p.name}.json`), p);
        console.log(describe(p));
      }
      console.log(`wrote ${ps.length} policies to ${o.out}`);
    });

  policy
    .command('check <file>')
    .description('validate a policy file (against a checkpoint with --model)')
    .option('--model <dir>', 'checkpoint to check layers, experts and top-k against')
    .action((file: string, o: { model?: string }) => {
      const p = loadPolicy(file, infoOf(o.model));
      console.log(`ok  ${describe(p)}`);
    });
}
