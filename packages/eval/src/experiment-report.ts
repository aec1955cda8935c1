// The experiment report: the table of top-N switch-off against baseline and matched random baselines,
// forced-on results, dose-response / random-histogram / per-category plots, the fTRI top ranking, and
// how it was computed. Markdown + one self-contained HTML via report.ts.

import type { ModelInfo } from '@mote/moe-runtime';
import { writeReport, rateCI, diffCIText, STATS_NOTE, type Block, type WrittenReport } from './report.js';
import { doseResponseSpec, histogramSpec, categoryBarsSpec, pct, fmtP, type RatePoint, type BarPoint } from './plots.js';
import type { ExperimentAnalysis, RankedRow } from './analysis.js';
import { wilson } from '@mote/stats';

const num = (x: unknown, d = 3) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(d) : '–');

export async function writeExperimentReport(
  outDir: string,
  a: ExperimentAnalysis,
  ctx: { timings?: Record<string, number>; model?: ModelInfo; previousRuns?: number } = {},
): Promise<WrittenReport> {
  const { target, control, capability } = a.categories;
  const B = a.behaviour?.name ?? 'refusal'; // e.g. "refusal" or "ZH thinking"
  const Bcap = B[0].toUpperCase() + B.slice(1);
  const th = a.criteriaThresholds ?? { cut: 0.5, capabilityDrop: 0.05, alpha: 0.05, randomShare: 0.5 };
  const blocks: Block[] = [];
  if (a.description) blocks.push({ p: a.description });
  blocks.push({ h: 1, text: 'Result' });
  blocks.push({ list: a.criteria.map((c) => `**${c.status.toLowerCase()}** — ${c.text}`) });
  const info = ctx.model;
  blocks.push({
    list: [
      `model: \`${a.model}\`${info ? ` (${info.modelType}, ${info.moeLayers.length} MoE layers x ${info.expertCount} experts, top-${info.topK})` : ''}`,
      `suite: \`${a.suite.file ?? a.suite.name}\` — ${Object.entries(a.suite.counts)
        .map(([c, n]) => `${n} ${c}`)
        .join(
          ', ',
        )}; target category \`${target}\`${control ? `, control \`${control}\`` : ''}${capability ? `, capability \`${capability}\`` : ''}`,
      `generation: ${a.generation.temperature > 0 ? `sampling T=${a.generation.temperature}, seed ${a.generation.seed}` : 'greedy'}, at most ${a.generation.maxNewTokens} new tokens, stop at eos, batches of ${a.generation.batchSize}`,
      `fTRI: prompts \`${a.ftri.prompts}\`, contrast \`${a.ftri.contrast}\`, judge ${JSON.stringify(a.ftri.judge)}`,
      `random baselines: ${a.random.draws} draws per N and mode (${a.random.modes.join(', ')}), ${a.random.match === 'like' ? 'same number of experts per layer as the fTRI policy' : 'uniform over all MoE layers'}${a.random.avoid ? ", never the fTRI policy's own experts" : ''}; evaluated on ${Object.entries(
        a.random.itemsByCategory,
      )
        .map(([c, n]) => `${n} ${c}`)
        .join(' + ')} items (budget: the empirical p-value needs only the target items; capability of random policies on a subset)`,
      ...(ctx.timings
        ? [
            `wall time: ${Object.entries(ctx.timings)
              .filter(([k]) => k !== 'report')
              .map(([k, v]) => `${k} ${v.toFixed(1)} s`)
              .join(
                ', ',
              )} (before writing this report)${ctx.previousRuns ? ` (this invocation; resumed over ${ctx.previousRuns} earlier one(s))` : ''}`,
          ]
        : []),
    ],
  });

  // --- the main table
  blocks.push({ h: 1, text: `Switching off the top-N fTRI experts` });
  blocks.push({
    p:
      `${Bcap} rate on \`${target}\` prompts per policy, with its paired change against the baseline and McNemar's exact test; ` +
      `the matched random baselines' mean cut (2.5–97.5% range over draws) on the same items and the empirical p-value (1 + #{random cut ≥ fTRI cut}) / (1 + draws)` +
      `${control ? `; ${B} on \`${control}\`` : ''}${capability ? `; exact-match accuracy on \`${capability}\` and its paired change` : ''}.`,
  });
  const head = [
    'policy',
    'N',
    `${target} ${B} [95% CI]`,
    'Δ vs baseline [95% CI]',
    'McNemar p',
    'random cut: mean [2.5, 97.5%]',
    'empirical p',
    ...(control ? [`${control} ${B} [95% CI]`] : []),
    ...(capability ? [`${capability} accuracy [95% CI]`, 'Δ accuracy [95% CI]'] : []),
  ];
  const baseRow = [
    'baseline',
    '0',
    rateCI(a.baseline.target.rate, a.baseline.target.ci),
    '–',
    '–',
    '–',
    '–',
    ...(control ? [a.baseline.control ? rateCI(a.baseline.control.rate, a.baseline.control.ci) : '–'] : []),
    ...(capability ? [a.baseline.capability ? rateCI(a.baseline.capability.rate, a.baseline.capability.ci) : '–', '–'] : []),
  ];
  const row = (r: RankedRow) => [
    r.name,
    String(r.n),
    rateCI(r.target.rate, r.target.ci),
    diffCIText(r.targetDiff.diff, r.targetDiff.ci),
    fmtP(r.mcnemarP),
    r.random ? `${pct(r.random.cut.mean)} [${pct(r.random.cut.q025)}, ${pct(r.random.cut.q975)}] (fTRI ${pct(r.random.observedCut)})` : '–',
    r.random ? `${fmtP(r.random.empiricalP)} (${r.random.draws})` : '–',
    ...(control ? [r.control ? rateCI(r.control.rate, r.control.ci) : '–'] : []),
    ...(capability
      ? [
          r.capability ? rateCI(r.capability.rate, r.capability.ci) : '–',
          r.capabilityDiff ? diffCIText(r.capabilityDiff.diff, r.capabilityDiff.ci) : '–',
        ]
      : []),
  ];
  blocks.push({ table: { head, rows: [baseRow, ...a.ranked.map(row)] } });

  const withRandomCap = a.ranked.filter((r) => r.random?.capability);
  if (withRandomCap.length) {
    blocks.push({ h: 2, text: `Capability of random baselines (${withRandomCap[0].random!.capability!.items} ${capability} items)` });
    blocks.push({
      table: {
        head: ['policy', 'N', 'baseline acc.', 'fTRI policy acc.', 'random acc.: mean [min, max]'],
        rows: withRandomCap.map((r) => {
          const c = r.random!.capability!;
          return [r.name, String(r.n), pct(c.baseline), pct(c.observed), `${pct(c.randomMean)} [${pct(c.randomMin)}, ${pct(c.randomMax)}]`];
        }),
      },
    });
  }

  // --- forced on
  if (a.force.length) {
    const cats = [...new Set(a.force.flatMap((f) => Object.keys(f.categories)))];
    blocks.push({ h: 1, text: 'Forcing the top-N fTRI experts on' });
    blocks.push({
      p: `The top-N experts forced into the chosen top-k on every token (at most top-k per layer, so N counts the highest-ranked experts that fit). ${Bcap} rate per category, paired change against the baseline, McNemar's exact p.`,
    });
    blocks.push({
      table: {
        head: [
          'policy',
          'N',
          ...cats.flatMap((c) => [`${c} ${B} [95% CI]`, `Δ [95% CI]`, 'McNemar p']),
          ...(cats.some((c) => a.force.some((f) => f.categories[c]?.accuracy)) ? ['accuracy'] : []),
        ],
        rows: a.force.map((f) => {
          const accs = cats.map((c) => f.categories[c]?.accuracy).filter(Boolean);
          return [
            f.name,
            String(f.n),
            ...cats.flatMap((c) => {
              const s = f.categories[c];
              return s ? [rateCI(s.refusal.rate, s.refusal.ci), diffCIText(s.diff.diff, s.diff.ci), fmtP(s.mcnemarP)] : ['–', '–', '–'];
            }),
            ...(cats.some((c) => a.force.some((ff) => ff.categories[c]?.accuracy))
              ? [accs.length ? accs.map((x) => rateCI(x!.rate, x!.ci)).join('; ') : '–']
              : []),
          ];
        }),
      },
    });
    const withRandom = a.force.filter((f) => f.random);
    if (withRandom.length)
      blocks.push({
        list: withRandom.map((f) => {
          const r = f.random!;
          return `${f.name}: ${B} on the ${r.items} forced items ${pct(r.baselineRate)} -> ${pct(r.observedRate)}; ${r.draws} matched random forced-on policies: mean ${pct(r.randomMean)} (${pct(Math.min(...r.randomRates))}–${pct(Math.max(...r.randomRates))}), empirical p = ${fmtP(r.empiricalP)}`;
        }),
      });
  }

  // --- plots
  blocks.push({ h: 1, text: 'Plots' });
  const modes = [...new Set(a.ranked.map((r) => r.mode))];
  const pts: RatePoint[] = [];
  const ns = [...new Set(a.ranked.map((r) => r.n))].sort((x, y) => x - y);
  for (const n of ns)
    pts.push({
      series: 'baseline',
      kind: 'baseline',
      n,
      rate: a.baseline.target.rate,
      lo: a.baseline.target.ci[0],
      hi: a.baseline.target.ci[1],
    });
  for (const r of a.ranked)
    pts.push({ series: `fTRI top-N ${r.mode}`, kind: 'ftri', n: r.n, rate: r.target.rate, lo: r.target.ci[0], hi: r.target.ci[1] });
  for (const r of a.ranked)
    if (r.random)
      pts.push({
        series: `random ${r.mode} (mean; band: 95% of draws)`,
        kind: 'random',
        n: r.n,
        rate: r.random.baselineRate - r.random.cut.mean,
        lo: r.random.baselineRate - r.random.cut.q975,
        hi: r.random.baselineRate - r.random.cut.q025,
      });
  const plots: Block[] = [];
  plots.push({
    plots: [
      {
        name: 'dose-response',
        spec: doseResponseSpec(pts, { title: `${Bcap} on "${target}" vs N experts switched off`, yTitle: `${target} ${B} rate` }),
        caption: 'Dose–response: fTRI top-N policies (Wilson 95% bars) against matched random baselines (band: 2.5–97.5% of draws).',
      },
      ...(capability && a.baseline.capability
        ? [
            {
              name: 'capability-dose',
              spec: doseResponseSpec(
                [
                  ...ns.map((n) => ({
                    series: 'baseline',
                    kind: 'baseline' as const,
                    n,
                    rate: a.baseline.capability!.rate,
                    lo: a.baseline.capability!.ci[0],
                    hi: a.baseline.capability!.ci[1],
                  })),
                  ...a.ranked
                    .filter((r) => r.capability)
                    .map((r) => ({
                      series: `fTRI top-N ${r.mode}`,
                      kind: 'ftri' as const,
                      n: r.n,
                      rate: r.capability!.rate,
                      lo: r.capability!.ci[0],
                      hi: r.capability!.ci[1],
                    })),
                ],
                { title: `Capability ("${capability}") vs N`, yTitle: 'exact-match accuracy' },
              ),
              caption: 'Capability retention: exact-match accuracy with Wilson 95% bars.',
            },
          ]
        : []),
    ],
  });
  for (const mode of modes) {
    const rs = a.ranked.filter((r) => r.mode === mode && r.random && r.random.randomRates.length);
    if (!rs.length) continue;
    plots.push({ h: 2, text: `Random baselines (${mode})` });
    plots.push({
      plots: rs.map((r) => ({
        name: `random-${mode}-n${r.n}`,
        spec: histogramSpec(r.random!.randomRates, r.random!.observedRate, {
          title: `N = ${r.n}: ${r.random!.draws} random ${mode} policies`,
          xTitle: `${target} ${B} rate`,
          pValue: r.random!.empiricalP,
        }),
        caption: `${Bcap} rate on ${r.random!.items} ${target} items under each random policy; red: the fTRI top-${r.n} policy.`,
      })),
    });
  }
  const bars: BarPoint[] = [];
  const show = ['baseline', ...a.ranked.map((r) => r.name), ...a.force.map((f) => f.name)];
  for (const p of a.summary.policies.filter((p) => show.includes(p.name)))
    for (const [category, c] of Object.entries(p.categories)) {
      const k = a.behaviour?.label ? (c.labels[a.behaviour.label] ?? 0) : c.refused;
      const ci = a.behaviour?.label ? wilson(k, c.n) : c.refusal_ci;
      bars.push({ policy: p.name, category, rate: c.n ? k / c.n : 0, lo: ci[0], hi: ci[1] });
    }
  plots.push({ h: 2, text: 'Per category' });
  plots.push({
    plot: {
      name: 'refusal-by-category',
      spec: categoryBarsSpec(bars, { title: `${Bcap} rate by policy and category`, yTitle: `${B} rate` }),
      caption: `${Bcap} rate per policy and category (Wilson 95%).`,
    },
  });
  blocks.push(...plots);

  // --- ranking
  blocks.push({ h: 1, text: 'fTRI ranking (top 20)' });
  blocks.push({
    p: 'The full fTRI report (settings, label counts, stability, per-prompt resonance maps): [ftri/report.html](ftri/report.html).',
  });
  blocks.push({
    figure: {
      svg: 'ftri/maps/heatmap.svg',
      caption: 'Layer × expert contrast of the fTRI ranking; the top-N experts are outlined and numbered.',
    },
  });
  blocks.push({
    table: {
      head: ['rank', 'layer', 'expert', 'score', 'rate A', 'rate B', 'CI', 'q', 'stability'],
      rows: a.rankingTop.map((r) => [
        String(r.rank),
        String(r.layer),
        String(r.expert),
        num(r.score),
        num(r.rate_a),
        num(r.rate_b),
        `[${num(r.ci_low)}, ${num(r.ci_high)}]`,
        num(r.q, 4),
        num(r.stability, 2),
      ]),
    },
  });

  blocks.push({ h: 1, text: 'Methods' });
  blocks.push({
    list: [
      STATS_NOTE,
      `Empirical p-value of the fTRI policy against its matched random baselines: the statistic is the cut in the target ${B} rate (baseline − policy) on the items the random policies ran on; p = (1 + #{random ≥ fTRI}) / (1 + draws), so it can reach alpha = ${th.alpha} only with at least 1/alpha − 1 = ${Math.ceil(1 / th.alpha - 1 - 1e-9)} draws.`,
      `Criterion (thresholds from the experiment's "criteria"): a switch-off mode is MET at the smallest N where the target ${B} rate falls by ≥ ${(100 * th.cut).toFixed(0)}% (relative), capability accuracy drops by ≤ ${(100 * th.capabilityDrop).toFixed(0)} points, and the random baselines' mean cut is at most ${(100 * th.randomShare).toFixed(0)}% of the fTRI cut with empirical p ≤ ${th.alpha}. It is NOT TESTED when the mode had no random baselines or no capability items were judged: never MET without its baseline.`,
      'Files: `eval/responses.jsonl` (one judged response per line), `eval/summary.json`, `policies/*.json`, `ftri/ranking.json`, `results.json` (everything in this report).',
    ],
  });
  return writeReport(outDir, `MoTE experiment: ${a.name}`, blocks);
}
