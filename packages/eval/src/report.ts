// Report writers: one document model (headings, paragraphs, tables, plots) rendered as Markdown (plots as
// PNG links) and as one self-contained HTML file (plots as inline SVG, no external assets). Plus the
// report of a plain eval run (summary.json -> tables and per-category bars).

import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { writeAtomic } from '@mote/io';
import { join } from 'node:path';
import { escapeHtml, htmlPage, inlineSvg, renderSvg, svgToPng, type VlSpec } from '@mote/ftri';
import { categoryBarsSpec, pct, fmtP, type BarPoint } from './plots.js';
import type { Summary } from './summary.js';

export type Block =
  | { h: 1 | 2 | 3; text: string }
  | { p: string }
  | { list: string[] }
  | { table: { head: string[]; rows: string[][]; align?: ('l' | 'r')[] } }
  | { plot: { name: string; spec: VlSpec; caption?: string } }
  | { plots: { name: string; spec: VlSpec; caption?: string }[] }
  | { code: string }
  /** an SVG already on disk (e.g. ftri's heatmap), inlined in HTML; Markdown links its PNG sibling (paths relative to outDir) */
  | { figure: { svg: string; caption?: string } };

export interface WrittenReport {
  md: string;
  html: string;
  plots: string[];
}

const esc = escapeHtml;
/** The inline markup the text blocks may use: **bold**, `code` and [links](relative/path). */
function inlineHtml(s: string): string {
  return esc(s)
    .replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, '<a href="$2">$1</a>')
    .replace(/`([^`]+)`/g, '<code>$1</code>')
    .replace(/\*\*([^*]+)\*\*/g, '<b>$1</b>');
}
const mdCell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/**
 * Write `<base>.md` and `<base>.html` into outDir; plots go to outDir/plots/<name>.svg and .png.
 * Returns the paths written.
 */
export async function writeReport(
  outDir: string,
  title: string,
  blocks: Block[],
  opts: { base?: string; png?: boolean } = {},
): Promise<WrittenReport> {
  const base = opts.base ?? 'report';
  const plotDir = join(outDir, 'plots');
  mkdirSync(plotDir, { recursive: true });
  const md: string[] = [`# ${title}`, ''];
  const html: string[] = [];
  const plots: string[] = [];
  const plotOne = async (pl: { name: string; spec: VlSpec; caption?: string }) => {
    const svg = await renderSvg(pl.spec);
    writeAtomic(join(plotDir, `${pl.name}.svg`), svg);
    plots.push(join(plotDir, `${pl.name}.svg`));
    if (opts.png ?? true) {
      writeAtomic(join(plotDir, `${pl.name}.png`), svgToPng(svg));
      plots.push(join(plotDir, `${pl.name}.png`));
    }
    md.push(`![${pl.caption ?? pl.name}](plots/${pl.name}.${(opts.png ?? true) ? 'png' : 'svg'})`, '');
    return `<figure>${inlineSvg(svg)}${pl.caption ? `<figcaption>${inlineHtml(pl.caption)}</figcaption>` : ''}</figure>`;
  };
  for (const b of blocks) {
    if ('h' in b) {
      md.push(`${'#'.repeat(b.h + 1)} ${b.text}`, '');
      html.push(`<h${b.h + 1}>${inlineHtml(b.text)}</h${b.h + 1}>`);
    } else if ('p' in b) {
      md.push(b.p, '');
      html.push(`<p>${inlineHtml(b.p)}</p>`);
    } else if ('list' in b) {
      md.push(...b.list.map((x) => `- ${x}`), '');
      html.push(`<ul>${b.list.map((x) => `<li>${inlineHtml(x)}</li>`).join('')}</ul>`);
    } else if ('code' in b) {
      md.push('```', b.code, '```', '');
      html.push(`<pre>${esc(b.code)}</pre>`);
    } else if ('table' in b) {
      const { head, rows, align } = b.table;
      const al = (i: number) => align?.[i] ?? (i === 0 ? 'l' : 'r');
      md.push(`| ${head.map(mdCell).join(' | ')} |`, `|${head.map((_, i) => (al(i) === 'r' ? '---:' : ':---')).join('|')}|`);
      for (const r of rows) md.push(`| ${r.map(mdCell).join(' | ')} |`);
      md.push('');
      html.push(
        `<table><thead><tr>${head.map((h, i) => `<th class="${al(i)}">${inlineHtml(h)}</th>`).join('')}</tr></thead><tbody>${rows
          .map((r) => `<tr>${r.map((c, i) => `<td class="${al(i)}">${inlineHtml(c)}</td>`).join('')}</tr>`)
          .join('')}</tbody></table>`,
      );
    } else if ('figure' in b) {
      const file = join(outDir, b.figure.svg);
      if (!existsSync(file)) continue;
      const png = b.figure.svg.replace(/\.svg$/, '.png');
      md.push(`![${b.figure.caption ?? b.figure.svg}](${existsSync(join(outDir, png)) ? png : b.figure.svg})`, '');
      const cap = b.figure.caption ? `<figcaption>${inlineHtml(b.figure.caption)}</figcaption>` : '';
      html.push(`<figure>${inlineSvg(readFileSync(file, 'utf8'))}${cap}</figure>`);
    } else if ('plot' in b) {
      html.push(await plotOne(b.plot));
    } else if ('plots' in b) {
      const figs: string[] = [];
      for (const pl of b.plots) figs.push(await plotOne(pl));
      html.push(`<div class="row">${figs.join('')}</div>`);
    }
  }
  const page = htmlPage(title, html.join('\n'));
  const mdFile = join(outDir, `${base}.md`);
  const htmlFile = join(outDir, `${base}.html`);
  writeAtomic(mdFile, md.join('\n'));
  writeAtomic(htmlFile, page);
  return { md: mdFile, html: htmlFile, plots };
}

/** "12.5% [8.1, 18.9]" */
export function rateCI(rate: number | undefined, ci: [number, number] | undefined): string {
  if (rate === undefined) return '–';
  return ci ? `${pct(rate)} [${(ci[0] * 100).toFixed(1)}, ${(ci[1] * 100).toFixed(1)}]` : pct(rate);
}
/** "+12.5 pt [8.1, 18.9]" (percentage points) */
export function diffCIText(d: number | undefined, ci: [number, number] | undefined): string {
  if (d === undefined) return '–';
  const s = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}`;
  return ci ? `${s(d)} pt [${s(ci[0])}, ${s(ci[1])}]` : `${s(d)} pt`;
}

/** Per-category tables and bar plots of a summary.json. */
export function evalBlocks(summary: Summary, opts: { plotPrefix?: string } = {}): Block[] {
  const pre = opts.plotPrefix ?? '';
  const cats = [...new Set(summary.policies.flatMap((p) => Object.keys(p.categories)))];
  const blocks: Block[] = [];
  for (const cat of cats) {
    const rows = summary.policies
      .filter((p) => p.categories[cat])
      .map((p) => {
        const c = p.categories[cat];
        return [
          p.name,
          String(c.n),
          rateCI(c.refusal_rate, c.refusal_ci),
          diffCIText(c.refusal_diff, c.refusal_diff_ci),
          fmtP(c.mcnemar_p),
          c.accuracy !== undefined ? rateCI(c.accuracy, c.accuracy_ci) : '–',
          diffCIText(c.accuracy_diff, c.accuracy_diff_ci),
          Object.entries(c.labels)
            .map(([k, v]) => `${k} ${v}`)
            .join(', '),
        ];
      });
    blocks.push({ h: 2, text: `Category \`${cat}\`` });
    blocks.push({
      table: {
        head: [
          'policy',
          'n',
          'refusal rate [95% CI]',
          'Δ refusal vs baseline',
          'McNemar p',
          'accuracy [95% CI]',
          'Δ accuracy vs baseline',
          'labels',
        ],
        rows,
        align: ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'l'],
      },
    });
  }
  const bars: BarPoint[] = summary.policies.flatMap((p) =>
    Object.entries(p.categories).map(([category, c]) => ({
      policy: p.name,
      category,
      rate: c.refusal_rate,
      lo: c.refusal_ci[0],
      hi: c.refusal_ci[1],
    })),
  );
  if (bars.length)
    blocks.push({
      plot: {
        name: `${pre}refusal-by-category`,
        spec: categoryBarsSpec(bars, { title: 'Refusal rate by policy and category', yTitle: 'refusal rate' }),
        caption: 'Refusal rate per policy and category with Wilson 95% intervals.',
      },
    });
  const acc: BarPoint[] = summary.policies.flatMap((p) =>
    Object.entries(p.categories)
      .filter(([, c]) => c.accuracy !== undefined)
      .map(([category, c]) => ({ policy: p.name, category, rate: c.accuracy!, lo: c.accuracy_ci![0], hi: c.accuracy_ci![1] })),
  );
  if (acc.length)
    blocks.push({
      plot: {
        name: `${pre}accuracy-by-category`,
        spec: categoryBarsSpec(acc, { title: 'Accuracy by policy and category', yTitle: 'accuracy' }),
        caption: 'Exact-match (or configured judge) accuracy with Wilson 95% intervals.',
      },
    });
  return blocks;
}

export const STATS_NOTE =
  'Intervals: Wilson score 95% for rates; Newcombe paired score 95% for differences against the baseline on the same items. ' +
  "McNemar: exact conditional binomial test (two-sided) of the policy's refusals against the baseline's on the same prompts.";

/** report.md + report.html for a `mote eval` run. */
export async function writeEvalReport(
  outDir: string,
  summary: Summary,
  info: { title?: string; model?: string; suite?: string; settings?: Record<string, unknown> } = {},
): Promise<WrittenReport> {
  const blocks: Block[] = [];
  const meta = [
    info.model && `model: \`${info.model}\``,
    info.suite && `suite: \`${info.suite}\``,
    ...Object.entries(info.settings ?? {}).map(([k, v]) => `${k}: ${JSON.stringify(v)}`),
  ].filter(Boolean) as string[];
  if (meta.length) blocks.push({ list: meta });
  blocks.push({ p: STATS_NOTE });
  blocks.push(...evalBlocks(summary));
  return writeReport(outDir, info.title ?? 'mote eval', blocks);
}
