// report.html: one self-contained page (inline SVG and CSS, no scripts, no network) that summarises a
// run: settings, label counts, the heatmap, the top of the ranking, per-prompt maps and the definitions.

import { rankAgreement, type ScoredExpert } from './agreement.js';
import { describeStat, type ContrastSummary, type RankingEntry } from './contrast-types.js';
import { escapeHtml, htmlPage, inlineSvg } from './report-page.js';
import type { Manifest } from './store.js';

export interface ReportInput {
  manifest: Manifest;
  summary: ContrastSummary;
  contrast: { a: string; b: string };
  ranking: RankingEntry[];
  heatmapSvg: string | null;
  promptMaps: Array<{ id: string; side: string; prompt: string; response?: string; label?: string; svg: string }>;
  labelCounts: Record<string, number> | null;
  files: string[];
  excluded: number;
  /** other rankings of the same experts (e.g. expertAttribution) to compare with this one */
  compare?: ComparedRanking[];
}

/** A second ranking shown beside fTRI's in the report's agreement section. */
export interface ComparedRanking {
  name: string;
  experts: ScoredExpert[];
}

const esc = escapeHtml;
const num = (v: number, d = 4): string =>
  Number.isFinite(v) ? (Math.abs(v) !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e5) ? v.toExponential(2) : v.toFixed(d)) : '–';
const inline = inlineSvg;

/** Spearman's rho and top-N overlap of fTRI's ranking with each compared ranking. */
function agreementSection(r: ReportInput): string {
  if (!r.compare?.length) return '';
  const n = r.summary.top_n;
  const rows = r.compare.map((c) => {
    const a = rankAgreement(r.ranking, c.experts, n);
    const top = [...c.experts]
      .sort((x, y) => y.score - x.score)
      .slice(0, n)
      .map((e) => `L${e.layer}E${e.expert}`)
      .join(' ');
    const cells = [esc(c.name), a.n, num(a.spearman, 3), `${a.overlap}/${n}`].map((v) => `<td>${v}</td>`).join('');
    return `<tr>${cells}<td style="text-align:left">${esc(top)}</td></tr>`;
  });
  return `<h2>Agreement with other rankings</h2>
<table><tr><th>ranking</th><th>experts compared</th><th>Spearman ρ</th><th>top-${n} overlap</th><th>its top ${n}</th></tr>
${rows.join('\n')}</table>`;
}

export function buildReport(r: ReportInput): string {
  const m = r.manifest,
    s = r.summary;
  const top = r.ranking.slice(0, Math.max(20, s.top_n));
  const rows = top
    .map(
      (e) =>
        `<tr${e.rank <= s.top_n ? ' class="top"' : ''}><td>${e.rank}</td><td>${e.layer}</td><td>${e.expert}</td><td>${num(e.score)}</td><td>${num(e.count_a, 2)}</td><td>${num(e.count_b, 2)}</td><td>${num(e.rate_a)}</td><td>${num(e.rate_b)}</td><td>${num(e.diff)}</td><td>[${num(e.ci_low)}, ${num(e.ci_high)}]</td><td>${num(e.p, 4)}</td><td>${num(e.q, 4)}</td><td>${num(e.p_fisher, 4)}</td><td>${num(e.stability, 2)}</td><td>${e.rank_low}–${e.rank_high}</td></tr>`,
    )
    .join('\n');
  const labels = r.labelCounts
    ? `<h2>Labels</h2><table><tr><th>label</th><th>prompts</th></tr>${Object.entries(r.labelCounts)
        .map(([k, v]) => `<tr><td>${esc(k)}</td><td>${v}</td></tr>`)
        .join('')}</table>`
    : '';
  const maps = r.promptMaps
    .map(
      (p) =>
        `<section class="map"><h3>${esc(p.side)} · ${esc(p.id)}${p.label ? ` · ${esc(p.label)}` : ''}</h3><p class="prompt">${esc(p.prompt)}</p>${p.response !== undefined ? `<pre class="resp">${esc(p.response)}</pre>` : ''}<div class="svg">${inline(p.svg)}</div></section>`,
    )
    .join('\n');
  const css = `tr.top td{background:#fff4e5}.kv td:first-child{text-align:left;color:#555}.kv td{text-align:left}
.prompt{font-style:italic}.resp{background:#f7f7f7;padding:6px;white-space:pre-wrap;font-size:12px}
dl dt{font-weight:bold;margin-top:8px}dl dd{margin-left:16px}`;
  const body = `<table class="kv">
<tr><td>model</td><td>${esc(m.model.model_type)} · ${esc(m.model.dir)} · hash ${esc(m.model.hash.slice(0, 16))}…</td></tr>
<tr><td>routing</td><td>${m.model.moe_layers.length} MoE layers × ${m.model.expert_count} experts, top-${m.model.top_k}</td></tr>
<tr><td>prompts</td><td>${m.prompts_traced ?? '?'} traced (set hash ${esc(m.prompt_set.hash.slice(0, 16))}…${m.prompt_set.source ? `, ${esc(m.prompt_set.source)}` : ''}); A = ${s.n_a}, B = ${s.n_b}${s.n_pairs ? `, ${s.n_pairs} pairs` : ''}${r.excluded ? `; ${r.excluded} left out (no scoped tokens or in neither side)` : ''}</td></tr>
<tr><td>scope</td><td>${esc(m.scope)}${m.generate ? ` · generated up to ${m.generate} tokens (greedy)` : ''}</td></tr>
<tr><td>statistic</td><td>${esc(describeStat(s.stat))}${s.stat === 'count' || s.stat === 'weight' ? '' : ` at ${esc(s.level)} level`} · ${s.permutations} permutations · ${s.bootstrap} bootstrap resamples · ${Math.round(s.conf * 100)}% intervals · seed ${s.seed}</td></tr>
<tr><td>top-${s.top_n} stability</td><td>mean bootstrap Jaccard ${num(s.jaccard_mean, 3)} (95% ${num(s.jaccard_low, 3)}–${num(s.jaccard_high, 3)})</td></tr>
<tr><td>versions</td><td>${esc(
    Object.entries(m.versions ?? {})
      .map(([k, v]) => `${k} ${v}`)
      .join(' · '),
  )}</td></tr>
</table>
${labels}
<h2>Layer × expert contrast</h2>
<div class="svg">${r.heatmapSvg ? inline(r.heatmapSvg) : '<p>(no heatmap)</p>'}</div>
<h2>Top of the ranking</h2>
<table><tr><th>rank</th><th>layer</th><th>expert</th><th>score (${esc(s.stat)})</th><th>count A</th><th>count B</th><th>rate A</th><th>rate B</th><th>diff</th><th>${Math.round(s.conf * 100)}% CI</th><th>p (perm.)</th><th>q (BH)</th><th>p (Fisher)</th><th>stability</th><th>rank interval</th></tr>
${rows}
</table>
${agreementSection(r)}
<h2>Resonance maps of representative prompts</h2>
<p>Each cell lists the experts a token chose in a layer; cells that chose a top-${s.top_n} expert are coloured by those experts' weight. ▸ marks generated tokens.</p>
${maps || '<p>(no token traces for maps)</p>'}
<h2>Definitions</h2>
<dl>
<dt>activation rate</dt><dd>per prompt: the share of its scoped tokens that select the expert (selection count / scoped tokens); rate A/B = mean over the group's prompts (prompt level) or pooled counts / pooled tokens (token level).</dd>
<dt>count (default)</dt><dd>the paper's fTRI score (Dahlke et al. 2025, arXiv 2502.11096): per prompt the number of times the expert is selected over its scoped tokens, averaged over each group's prompts, A − B. Longer prompts weigh more.</dd>
<dt>weight</dt><dd>the same with the expert's summed applied gate weights.</dd>
<dt>diff</dt><dd>rate A − rate B (a rate divides each prompt's count by its scoped tokens, so prompt length does not weigh).</dd>
<dt>rr, log odds</dt><dd>ratio and log odds ratio of the group rates, each smoothed as (rate·T + 0.5)/(T + 1) with T the group's scoped tokens.</dd>
<dt>gate</dt><dd>difference of the mean applied gate weight per scoped token.</dd>
<dt>paired</dt><dd>mean over pairs (shared pair_id, both sides present) of the within-pair rate difference (SteerMoE's paired risk difference).</dd>
<dt>p, q</dt><dd>two-sided permutation test over prompts (labels shuffled within pairs), p = (1 + #|T*| ≥ |T|)/(1 + M); q: Benjamini–Hochberg over all layer × expert cells.</dd>
<dt>p (Fisher)</dt><dd>Fisher's exact test on pooled token counts; anti-conservative because tokens of a prompt are not independent.</dd>
<dt>CI</dt><dd>normal interval with prompts as units (linearised ratio-estimator variance, delta method for rr and log odds).</dd>
<dt>stability, rank interval</dt><dd>bootstrap over prompts within each side: share of resamples with the expert in the top ${s.top_n}; 2.5–97.5% quantiles of its rank.</dd>
</dl>
<h2>Files</h2><ul>${r.files.map((f) => `<li>${esc(f)}</li>`).join('')}</ul>`;
  return htmlPage(`fTRI · ${r.contrast.a} vs ${r.contrast.b}`, body, css);
}
