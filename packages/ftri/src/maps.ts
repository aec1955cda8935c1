// Resonance maps: a layer x expert heatmap of the contrast and, per representative prompt, a token x layer
// map of the chosen experts with the top-ranked ones highlighted. Vega-Lite specs only: report-page.ts
// renders them. Nothing here reads traces; callers pass rows.

import type { TopLevelSpec } from 'vega-lite';
import type { RankingEntry } from './contrast-types.js';
import { FLAG_GENERATED } from './trace.js';

export interface TokenMapRow {
  pos: number;
  token: string;
  layer: number;
  flags: number;
  ids: number[];
  weights: number[];
}

const FONT = 'DejaVu Sans, Helvetica, Arial, sans-serif';

/** Layer x expert heatmap of the ranking statistic (log2 for the risk ratio); the top N are outlined and numbered. */
export function heatmapSpec(
  ranking: RankingEntry[],
  opts: { layers: number[]; expertCount: number; topN: number; title: string },
): TopLevelSpec {
  const rr = ranking[0]?.stat === 'rr';
  const values = ranking.map((e) => ({
    layer: e.layer,
    expert: e.expert,
    value: rr ? Math.log2(e.score) : e.score,
    rank: e.rank,
    top: e.rank <= opts.topN ? String(e.rank) : '',
    rate_a: e.rate_a,
    rate_b: e.rate_b,
    q: e.q,
  }));
  const lim = Math.max(1e-9, ...values.map((v) => Math.abs(Number.isFinite(v.value) ? v.value : 0)));
  // cell size: R1's 58 x 256 map is ~1300 x 700 px (5 x 12 px cells); small models get labelled 22 px cells
  const E = opts.expertCount;
  const step = E > 128 ? 5 : E > 64 ? 8 : 22;
  const ticks = E > 64 ? Array.from({ length: Math.ceil(E / 16) }, (_, i) => i * 16) : undefined;
  const stat = ranking[0]?.stat;
  const label = rr
    ? 'log2 risk ratio'
    : stat === 'diff'
      ? 'rate difference'
      : stat === 'count'
        ? 'count difference'
        : stat === 'weight'
          ? 'weight difference'
          : (stat ?? 'score');
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: opts.title, fontSize: 13 },
    data: { values },
    width: { step },
    height: { step: Math.max(step, 12) },
    config: { font: FONT, view: { stroke: null } },
    encoding: {
      x: {
        field: 'expert',
        type: 'ordinal',
        title: 'expert',
        axis: { labelAngle: 0, labelOverlap: true, ...(ticks ? { values: ticks } : {}) },
      },
      y: { field: 'layer', type: 'ordinal', title: 'layer', axis: { labelOverlap: true } },
    },
    layer: [
      {
        mark: { type: 'rect' },
        encoding: {
          color: { field: 'value', type: 'quantitative', title: label, scale: { scheme: 'redblue', reverse: true, domain: [-lim, lim] } },
          tooltip: [
            { field: 'layer' },
            { field: 'expert' },
            { field: 'value', title: label, format: '.4f' },
            { field: 'rank' },
            { field: 'q', format: '.3g' },
          ],
        },
      },
      {
        transform: [{ filter: `datum.rank <= ${opts.topN}` }],
        mark: { type: 'rect', fill: null, stroke: 'black', strokeWidth: 1.5 },
      },
      ...(step >= 16
        ? [
            {
              transform: [{ filter: `datum.rank <= ${opts.topN}` }],
              mark: { type: 'text' as const, fontSize: 9, fontWeight: 'bold' as const },
              encoding: { text: { field: 'top' } },
            },
          ]
        : []),
    ],
  } as TopLevelSpec;
}

const showToken = (t: string): string => {
  const s = t.replace(/\n/g, '⏎').replace(/ /g, '·').replace(/\t/g, '⇥');
  return s.length > 10 ? s.slice(0, 9) + '…' : s;
};

/**
 * Token x layer map of one prompt: each cell names the chosen experts; cells whose choice includes a
 * top-ranked expert are coloured by those experts' summed weight.
 */
export function tokenMapSpec(rows: TokenMapRow[], top: Set<string>, opts: { title: string; subtitle?: string }): TopLevelSpec {
  const values = rows.map((r) => {
    let hot = 0;
    const hits: number[] = [];
    r.ids.forEach((e, k) => {
      if (top.has(`${r.layer}:${e}`)) (hot += r.weights[k]), hits.push(e);
    });
    return {
      x: `${String(r.pos).padStart(5, '0')}|${r.flags & FLAG_GENERATED ? '▸' : ''}${showToken(r.token)}`,
      pos: r.pos,
      layer: r.layer,
      experts: r.ids.join(','),
      hot,
      hits: hits.join(','),
      generated: r.flags & FLAG_GENERATED ? 'generated' : 'prompt',
    };
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: opts.title, subtitle: opts.subtitle, fontSize: 12, subtitleFontSize: 10, anchor: 'start' },
    data: { values },
    width: { step: 30 },
    height: { step: 20 },
    config: { font: FONT, view: { stroke: null }, axis: { labelFontSize: 9 } },
    encoding: {
      x: {
        field: 'x',
        type: 'ordinal',
        title: 'token (▸ = generated)',
        sort: 'ascending',
        axis: { labelAngle: -60, labelExpr: "slice(datum.value, indexof(datum.value, '|') + 1)", labelLimit: 80 },
      },
      y: { field: 'layer', type: 'ordinal', title: 'layer' },
    },
    layer: [
      {
        mark: { type: 'rect', stroke: 'white', strokeWidth: 0.5 },
        encoding: {
          color: {
            condition: {
              test: 'datum.hot > 0',
              field: 'hot',
              type: 'quantitative',
              title: ['weight on', 'top experts'],
              scale: { scheme: 'oranges', domain: [0, 1] },
            },
            value: '#eeeeee',
          },
          tooltip: [
            { field: 'pos' },
            { field: 'layer' },
            { field: 'experts', title: 'chosen' },
            { field: 'hits', title: 'top-ranked' },
            { field: 'hot', format: '.3f' },
            { field: 'generated' },
          ],
        },
      },
      {
        mark: { type: 'text', fontSize: 7 },
        encoding: { text: { field: 'experts' }, color: { condition: { test: 'datum.hot > 0', value: 'black' }, value: '#888888' } },
      },
    ],
  } as TopLevelSpec;
}
