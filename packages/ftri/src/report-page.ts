// The page shell and plot rendering every mote report uses (ftri's report.html and eval's reports): the
// HTML escaper, one self-contained page (inline CSS and SVG, no scripts, no network), Vega-Lite -> SVG in
// the house style (headless vega, no canvas or browser) and SVG -> PNG (resvg). Not a report's content.

import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/** A Vega-Lite spec as plain JSON (vega-lite's TopLevelSpec type is very deep). */
export type VlSpec = Record<string, unknown>;

/** The house style: a spec's own `config` replaces it. */
const STYLE = {
  font: 'DejaVu Sans, Helvetica, Arial, sans-serif',
  view: { stroke: '#ddd' },
  axis: { labelFontSize: 11, titleFontSize: 12, gridColor: '#eee' },
  legend: { labelFontSize: 11, titleFontSize: 12 },
  title: { fontSize: 14, anchor: 'start' },
};

/**
 * Render a Vega-Lite spec (house style unless it brings its own `config`) to an SVG string, headless.
 * @example
 *   const svg = await renderSvg({ data: { values: [{ x: 1, y: 2 }] }, mark: 'point', encoding: { x: { field: 'x' }, y: { field: 'y' } } });
 */
export async function renderSvg(spec: VlSpec | TopLevelSpec): Promise<string> {
  const full = { $schema: 'https://vega.github.io/schema/vega-lite/v5.json', background: 'white', config: STYLE, ...spec } as TopLevelSpec;
  const view = new vega.View(vega.parse(compile(full).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/**
 * Rasterise an SVG to PNG at `scale` x its size (system fonts).
 * @example
 *   writeFileSync('plot.png', svgToPng(svg));
 */
export function svgToPng(svg: string, scale = 2): Uint8Array {
  const r = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: scale },
    background: 'white',
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' },
  });
  return new Uint8Array(r.render().asPng());
}

/** Escape text for HTML content and attribute values. */
export function escapeHtml(s: unknown): string {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

/** An SVG ready to inline in HTML (its XML prolog removed). */
export function inlineSvg(svg: string): string {
  return svg.replace(/^<\?xml[^>]*>\s*/, '');
}

const CSS = `body{font:14px/1.5 system-ui,-apple-system,"DejaVu Sans",sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}h3{font-size:1em}
table{border-collapse:collapse;margin:1em 0;font-size:13px}th,td{padding:3px 8px;border-bottom:1px solid #e5e5e5}
th{background:#f6f6f6}td.r,th.r{text-align:right;font-variant-numeric:tabular-nums}td.l,th.l{text-align:left}
code,pre{background:#f4f4f4;border-radius:3px}code{padding:0 3px}pre{padding:8px;overflow:auto}
figure{margin:1em 0;display:inline-block;vertical-align:top;max-width:100%;overflow-x:auto}figcaption{font-size:12px;color:#555;max-width:520px}
.row{display:flex;flex-wrap:wrap;gap:12px}.svg{overflow-x:auto}`;

/**
 * One self-contained HTML page: the shared style (plus `css`), the title as <h1>, then `body` (trusted HTML).
 * @example
 *   writeFileSync('report.html', htmlPage('fTRI', `<p>${escapeHtml(note)}</p>`));
 */
export function htmlPage(title: string, body: string, css = ''): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
${CSS}${css ? `\n${css}` : ''}
</style></head><body>
<h1>${escapeHtml(title)}</h1>
${body}
</body></html>
`;
}
