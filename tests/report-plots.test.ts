// The plots of both reports as a person sees them: the layer x expert map at R1 size (58 x 256) stays
// readable, the dose-response legend is never cut and equal series do not hide each other, and 0% bars
// show. Each plot is also written as a PNG to runs/screenshots/ for a person to look at.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { heatmapSpec, renderSvg, svgToPng, type RankingEntry } from '@mote/ftri';
import { createRng } from '@mote/stats';
import { categoryBarsSpec, doseResponseSpec, type RatePoint } from '../packages/eval/src/plots.js';

const OUT = join(import.meta.dirname, '..', 'runs', 'screenshots');
mkdirSync(OUT, { recursive: true });
const save = (name: string, svg: string) => {
  const png = svgToPng(svg, 1);
  writeFileSync(join(OUT, `${name}.png`), png);
  // PNG IHDR: width and height as big-endian uint32 at bytes 16 and 20
  const dv = new DataView(png.buffer, png.byteOffset);
  return { width: dv.getUint32(16), height: dv.getUint32(20) };
};

describe('report plots', () => {
  it('the R1-size layer x expert map (58 x 256) fits a screen and keeps the top-N outlined', async () => {
    const rng = createRng(1);
    const layers = Array.from({ length: 58 }, (_, i) => i + 3); // R1: layers 3..60 have routed experts
    const cells = layers.flatMap((layer) => Array.from({ length: 256 }, (_, expert) => ({ layer, expert, score: (rng() - 0.5) * 0.02 })));
    cells[1000].score = 0.3;
    cells[9000].score = -0.25;
    const ranking = cells
      .sort((a, b) => b.score - a.score)
      .map((c, i) => ({ ...c, rank: i + 1, stat: 'diff', rate_a: NaN, rate_b: NaN, q: NaN }) as unknown as RankingEntry);
    const svg = await renderSvg(heatmapSpec(ranking, { layers, expertCount: 256, topN: 10, title: 'R1-size map' }));
    const { width, height } = save('heatmap-r1', svg);
    expect(width).toBeGreaterThan(1000); // 256 cells of >= 4 px
    expect(width).toBeLessThan(1700); // one screen wide
    expect(height).toBeGreaterThan(58 * 10); // rows of >= 10 px
    expect(height).toBeLessThan(1000);
    expect(svg).not.toContain('…'); // no axis label cut
  });

  it('dose-response: long legend labels are not cut, and two equal series draw two distinct lines', async () => {
    const ns = [1, 2, 4, 8];
    const pts: RatePoint[] = ['fTRI top-N exclude (switched off before selection)', 'fTRI top-N drop (weight set to zero)'].flatMap(
      (series) => ns.map((n) => ({ series, kind: 'ftri' as const, n, rate: 0.8 - n * 0.05, lo: 0.7 - n * 0.05, hi: 0.9 - n * 0.05 })),
    );
    pts.push(...ns.map((n) => ({ series: 'baseline', kind: 'baseline' as const, n, rate: 0.8, lo: 0.7, hi: 0.9 })));
    const svg = await renderSvg(doseResponseSpec(pts, { title: 'dose-response', yTitle: 'refusal rate' }));
    save('dose-response', svg);
    expect(svg).not.toContain('…');
    for (const s of ['switched off before selection', 'weight set to zero']) expect(svg).toContain(s);
    const lines = [...svg.matchAll(/class="mark-line role-mark[^"]*"[^>]*>([\s\S]*?)<\/g>/g)].flatMap((m) =>
      [...m[1].matchAll(/ d="([^"]+)"/g)].map((d) => d[1]),
    );
    const distinct = new Set(lines);
    expect(distinct.size).toBe(lines.length); // no line drawn exactly over another
  });

  it('category bars: a 0% bar is still drawn (a tick at its top)', async () => {
    const bars = [
      { policy: 'baseline', category: 'sensitive', rate: 0.9, lo: 0.8, hi: 0.95 },
      { policy: 'baseline', category: 'neutral', rate: 0, lo: 0, hi: 0.1 },
    ];
    const svg = await renderSvg(categoryBarsSpec(bars, { title: 'by category', yTitle: 'refusal rate' }));
    save('category-bars', svg);
    // layer 1 (the tick) draws one rect per bar, each with a height, also for the 0% bar
    const ticks = svg.match(/class="mark-rect role-mark layer_1_marks"[^>]*>([\s\S]*?)<\/g>/)?.[1] ?? '';
    const heights = [...ticks.matchAll(/<path[^>]* d="M[^"]*?h[\d.]+v([\d.]+)/g)].map((m) => Number(m[1]));
    expect(heights).toHaveLength(2);
    for (const h of heights) expect(h).toBeGreaterThanOrEqual(1);
  });
});
