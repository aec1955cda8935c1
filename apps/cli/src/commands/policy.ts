// mote policy top | random | sweep | check: build intervention policies from an fTRI ranking, matched
// random baselines and dose-response sweeps (@mote/mote). Argument parsing and printing only.
import { join } from 'node:path';
import type { Command } from 'commander';
import { inspectModel, type ModelInfo } from '@mote/moe-runtime';
import { readRanking } from '@mote/ftri';
import {
  INTERVENTION_MODES,
  describePolicy,
  loadAvoid,
  loadPolicies,
  loadPolicy,
  parseCounts,
  parseMode,
  parseScope,
  policyExperts,
  randomPolicy,
  sweepPolicies,
  topNPolicy,
  writePolicy,
} from '@mote/mote';
import { example, intArg, numArg, optionalModelOption, outOption, seedOption } from '../options.js';

const infoOf = (dir?: string): ModelInfo | undefined => (dir ? inspectModel(dir) : undefined);

interface Common {
  mode: string;
  scope?: string;
  value?: number;
  perLayerCap?: number;
  model?: string;
  name?: string;
  out: string;
}

export function register(program: Command): void {
  const policy = program
    .command('policy')
    .description('build and check intervention policies (top-N from a ranking, random baselines, sweeps)');

  const top = policy
    .command('top')
    .description('the N best-ranked experts of an fTRI ranking.json, all with one mode')
    .requiredOption('-r, --ranking <file>', 'ranking.json written by `mote ftri`')
    .requiredOption('--n <n>', 'number of experts', intArg('--n', { min: 1 }))
    .option('--mode <mode>', INTERVENTION_MODES.join(' | '), 'exclude')
    .option('--scope <scope>', 'all | prompt | generated | think | FROM-TO')
    .option('--value <v>', 'factor for scale, offset for bias', numArg('--value'))
    .option('--per-layer-cap <k>', 'at most k experts from one layer', intArg('--per-layer-cap', { min: 1 }))
    .option('--name <name>', 'policy name (default topN-mode)');
  optionalModelOption(top, 'validate against this checkpoint (layers, experts, top-k; force caps at top-k per layer)');
  outOption(top, 'policy JSON to write');
  example(top, 'mote policy top -r runs/ftri/ranking.json --n 10 --mode exclude -o policies/top10-exclude.json');
  top.action((o: Common & { ranking: string; n: number }) => {
    const p = topNPolicy(readRanking(o.ranking), {
      n: o.n,
      mode: parseMode(o.mode),
      scope: parseScope(o.scope),
      value: o.value,
      perLayerCap: o.perLayerCap,
      info: infoOf(o.model),
      name: o.name,
    });
    writePolicy(o.out, p);
    console.log(`${describePolicy(p)}\nwrote ${o.out}`);
  });

  const random = policy
    .command('random')
    .description('a seeded random baseline: N experts uniformly, or matched per layer to --like, optionally avoiding experts')
    .requiredOption('-m, --model <dir>', 'checkpoint whose layers and experts are drawn from (reads config.json only)')
    .option('--n <n>', 'number of experts (default: as many as --like has)', intArg('--n', { min: 1 }))
    .option('--like <file>', 'match this policy: same number of experts per layer, same mode/scope/value')
    .option('--avoid <file>', "never draw these experts: a policy's, or the top N of a ranking.json")
    .option('--mode <mode>', `${INTERVENTION_MODES.join(' | ')} (default: --like's, else exclude)`)
    .option('--scope <scope>', 'all | prompt | generated | think | FROM-TO')
    .option('--value <v>', 'factor for scale, offset for bias', numArg('--value'))
    .option('--name <name>', 'policy name (default randomN-mode-sSEED)');
  seedOption(random, 'random seed of the draw');
  outOption(random, 'policy JSON to write');
  example(
    random,
    'mote policy random -m models/organism/model --like policies/top10-exclude.json --avoid runs/ftri/ranking.json -s 1 -o policies/random1.json',
  );
  random.action((o: Partial<Common> & { model: string; out: string; n?: number; seed: number; like?: string; avoid?: string }) => {
    const info = inspectModel(o.model);
    const like = o.like ? loadPolicy(o.like, info) : undefined;
    const avoid = o.avoid ? loadAvoid(o.avoid, info, o.n ?? (like ? policyExperts(like).length : undefined)) : undefined;
    const p = randomPolicy({
      info,
      n: o.n,
      seed: o.seed,
      like,
      avoid,
      mode: o.mode ? parseMode(o.mode) : undefined,
      scope: parseScope(o.scope),
      value: o.value,
      name: o.name,
    });
    writePolicy(o.out, p);
    console.log(`${describePolicy(p)}\nwrote ${o.out}`);
  });

  const sweep = policy
    .command('sweep')
    .description('top-N policies for several N (dose-response), one file per N')
    .requiredOption('-r, --ranking <file>', 'ranking.json written by `mote ftri`')
    .requiredOption('--ns <list>', 'comma-separated N, e.g. 1,2,5,10,20', parseCounts)
    .option('--mode <mode>', INTERVENTION_MODES.join(' | '), 'exclude')
    .option('--scope <scope>', 'all | prompt | generated | think | FROM-TO')
    .option('--value <v>', 'factor for scale, offset for bias', numArg('--value'))
    .option('--per-layer-cap <k>', 'at most k experts from one layer', intArg('--per-layer-cap', { min: 1 }));
  optionalModelOption(sweep, 'validate against this checkpoint');
  outOption(sweep, 'folder for topN-mode.json files (pass it to `mote eval -p`)');
  example(
    sweep,
    'mote policy sweep -r runs/ftri/ranking.json --ns 1,2,5,10 -o policies/sweep',
    'mote eval -m models/organism/model --suite suite.jsonl -p policies/sweep -o runs/eval',
  );
  sweep.action((o: Common & { ranking: string; ns: number[] }) => {
    const ps = sweepPolicies(readRanking(o.ranking), {
      ns: o.ns,
      mode: parseMode(o.mode),
      scope: parseScope(o.scope),
      value: o.value,
      perLayerCap: o.perLayerCap,
      info: infoOf(o.model),
    });
    for (const p of ps) {
      writePolicy(join(o.out, `${p.name}.json`), p);
      console.log(describePolicy(p));
    }
    console.log(`wrote ${ps.length} policies to ${o.out}`);
  });

  const check = policy
    .command('check <files>')
    .description('validate policy files: a file, a folder of them or a comma list (against a checkpoint with --model)');
  optionalModelOption(check, 'checkpoint to check layers, experts and top-k against');
  example(check, 'mote policy check policies/sweep -m models/organism/model');
  check.action((files: string, o: { model?: string }) => {
    for (const p of loadPolicies([files], infoOf(o.model))) console.log(`ok  ${describePolicy(p)}`);
  });
}
