// The plots of eval's reports as Vega-Lite specs (dose-response, random-baseline histogram, category bars).
// Rendering, the house style and the page shell are @mote/ftri's report-page (one home for both reports).

import type { VlSpec } from '@mote/ftri';

export interface RatePoint {
  /** series name, e.g. "fTRI top-N exclude" or "random exclude" */
  series: string;
  /** how the series is drawn: intervals as bars (ftri), as a band (random), as a dashed line (baseline) */
  kind?: 'ftri' | 'random' | 'baseline';
  n: number;
  rate: number;
  lo: number;
  hi: number;
}

const PALETTE = ['#d62728', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2'];
const RANDOM_PALETTE = ['#1f77b4', '#17becf', '#2ca02c', '#bcbd22'];

/**
 * Dose-response: rate against N (log2 axis) per series; fTRI with interval bars, random with a band. Series
 * are dodged a little along x so equal values stay visible; the legend lists one series per row.
 */
export function doseResponseSpec(points: RatePoint[], opts: { title: string; yTitle: string }): VlSpec {
  const series = [...new Set(points.map((p) => p.series))];
  const kindOf = (s: string) => points.find((p) => p.series === s)?.kind ?? 'ftri';
  let f = 0,
    r = 0;
  const range = series.map((s) =>
    kindOf(s) === 'baseline'
      ? '#7f7f7f'
      : kindOf(s) === 'random'
        ? RANDOM_PALETTE[r++ % RANDOM_PALETTE.length]
        : PALETTE[f++ % PALETTE.length],
  );
  const ns = [...new Set(points.map((p) => p.n))].sort((x, y) => x - y);
  const y = { field: 'rate', type: 'quantitative', title: opts.yTitle, scale: { domain: [0, 1] }, axis: { format: '%' } };
  const only = (...kinds: string[]) => ({ filter: { or: kinds.map((k) => ({ field: 'kind', equal: k })) } });
  // series with equal values would hide each other: each is drawn at N x 2^(offset), offsets a few % of an octave apart
  const dodged = series.filter((s) => kindOf(s) !== 'baseline');
  const shift = (s: string) => (dodged.includes(s) ? 2 ** ((dodged.indexOf(s) - (dodged.length - 1) / 2) * 0.05) : 1);
  return {
    title: opts.title,
    width: 440,
    height: 260,
    data: { values: points.map((p) => ({ ...p, kind: p.kind ?? 'ftri', x: p.n * shift(p.series) })) },
    encoding: {
      x: {
        field: 'x',
        type: 'quantitative',
        title: 'N experts',
        scale: { type: 'log', base: 2, domain: [ns[0] / 1.25, ns[ns.length - 1] * 1.25], nice: false },
        axis: { values: ns },
      },
      // one legend entry per row, below the plot, so long series names are never cut
      color: {
        field: 'series',
        type: 'nominal',
        title: null,
        scale: { domain: series, range },
        legend: { orient: 'bottom', direction: 'vertical', columns: 1, labelLimit: 0, symbolOpacity: 1, symbolType: 'stroke' },
      },
    },
    layer: [
      {
        transform: [only('random')],
        mark: { type: 'area', opacity: 0.15 },
        encoding: { y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } },
      },
      { transform: [only('baseline')], mark: { type: 'line', strokeDash: [6, 4] }, encoding: { y } },
      { transform: [only('ftri', 'random')], mark: { type: 'line', point: true }, encoding: { y } },
      {
        transform: [only('ftri')],
        mark: { type: 'rule', strokeWidth: 1.5 },
        encoding: { y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } },
      },
    ],
  };
}

/** Histogram of random-baseline values with the observed (fTRI) value marked by a red rule. */
export function histogramSpec(values: number[], observed: number, opts: { title: string; xTitle: string; pValue?: number }): VlSpec {
  const lo = Math.min(0, ...values, observed),
    hi = Math.max(1, ...values, observed);
  return {
    title: {
      text: opts.title,
      subtitle:
        opts.pValue !== undefined ? `fTRI (red) ${pct(observed)}; empirical p = ${fmtP(opts.pValue)}` : `fTRI (red) ${pct(observed)}`,
    },
    width: 260,
    height: 160,
    layer: [
      {
        data: { values: values.map((v) => ({ v })) },
        mark: { type: 'bar', color: '#8aa', binSpacing: 1 },
        encoding: {
          x: {
            field: 'v',
            type: 'quantitative',
            bin: { extent: [lo, hi], step: (hi - lo) / 20 },
            title: opts.xTitle,
            axis: { format: '%' },
          },
          y: { aggregate: 'count', type: 'quantitative', title: 'random draws' },
        },
      },
      {
        data: { values: [{ v: observed }] },
        mark: { type: 'rule', color: '#d62728', strokeWidth: 3 },
        encoding: { x: { field: 'v', type: 'quantitative' } },
      },
    ],
  };
}

export interface BarPoint {
  policy: string;
  category: string;
  rate: number;
  lo: number;
  hi: number;
}

/** Grouped bars: one group per policy, one bar per category, with interval whiskers. */
export function categoryBarsSpec(points: BarPoint[], opts: { title: string; yTitle: string }): VlSpec {
  const order = [...new Set(points.map((p) => p.policy))];
  return {
    title: opts.title,
    width: { step: Math.max(14, Math.min(40, Math.floor(600 / Math.max(1, points.length)))) },
    height: 220,
    data: { values: points },
    encoding: {
      x: { field: 'policy', type: 'nominal', sort: order, title: null, axis: { labelAngle: -40 } },
      xOffset: { field: 'category', type: 'nominal' },
      color: { field: 'category', type: 'nominal', title: 'category', legend: { orient: 'top' } },
    },
    layer: [
      {
        mark: 'bar',
        encoding: { y: { field: 'rate', type: 'quantitative', title: opts.yTitle, scale: { domain: [0, 1] }, axis: { format: '%' } } },
      },
      // a tick at the bar's top keeps a 0% bar visible
      { mark: { type: 'tick', thickness: 2, orient: 'horizontal' }, encoding: { y: { field: 'rate', type: 'quantitative' } } },
      { mark: { type: 'rule', color: 'black' }, encoding: { y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } } },
    ],
  };
}

export function pct(x: number | undefined, digits = 1): string {
  return x === undefined || !Number.isFinite(x) ? '–' : `${(x * 100).toFixed(digits)}%`;
}
export function fmtP(p: number | undefined): string {
  if (p === undefined || !Number.isFinite(p)) return '–';
  if (p < 1e-4) return p.toExponential(1);
  return p < 0.001 ? p.toFixed(4) : p.toFixed(3);
}
