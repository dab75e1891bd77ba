/**
 * The report page: one self-contained HTML file (inline CSS, inline SVG figures, no scripts to run, no
 * fonts or images to fetch). Each figure is `<figure data-chart="<name>">` followed by
 * `<script type="application/json" id="data-<name>">` holding the exact points it plots, so tools and
 * tests can read the numbers back.
 */
import { basename } from 'node:path';
import { canonicalJson, type JsonObject, type JsonValue } from '../campaign/index.js';
import type { HardeningArtifact, OverheadArtifact } from './artifacts.js';
import { formatBer, number, percent, type Chart, type DataTable } from './charts.js';
import type { ReportCampaign, ReportData } from './load.js';

/** A rendered chart and the files written for it (names relative to the report folder). */
export interface RenderedFigure {
  chart: Chart;
  svg: string;
  files: { svg: string; png: string; spec: string };
  png: { width: number; height: number };
}

export interface PageInfo {
  title: string;
  generatedAt: Date;
  toolVersion: string;
  /** Notes shown in a box at the top: warnings from loading and rendering. */
  warnings: string[];
}

/** The whole page. */
export function renderPage(data: ReportData, figures: readonly RenderedFigure[], info: PageInfo): string {
  const rate = figures.filter((f) => ['accuracy', 'sdc', 'due'].includes(f.chart.name));
  const thresholds = figures.filter((f) => f.chart.name.startsWith('thresholds-'));
  const overheads = distinctOverheads(data.campaigns);
  const hardened: HardeningEntry[] = [
    ...data.campaigns.filter((c) => c.hardening).map((c) => ({ title: c.label, from: c.ref, id: c.ref, artifact: c.hardening! })),
    ...data.thresholdFiles.filter((f) => f.hardening).map((f) => ({ title: f.label, from: f.hardeningPath!, id: f.hardeningPath!, artifact: f.hardening! })),
  ];
  const sections: { id: string; title: string; body: string }[] = [
    { id: 'overview', title: 'Overview', body: overview(data) },
    {
      id: 'resilience',
      title: 'Resilience to bit flips',
      body: rate.length > 0 ? rate.map(figureBlock).join('\n') : '<p class="empty">No campaign has trials at a BER above 0 yet: nothing to plot.</p>',
    },
    {
      id: 'thresholds',
      title: 'Thresholds per layer',
      body:
        thresholds.length > 0
          ? thresholds.map(figureBlock).join('\n')
          : '<p class="empty">No campaign has a <code>thresholds</code> artifact and no <code>--thresholds</code> file was given.</p>',
    },
    {
      id: 'overhead',
      title: 'Memory overhead of thresholds',
      body: overheads.length > 0 ? overheads.map(overheadBlock).join('\n') : '<p class="empty">No campaign has an <code>overhead</code> artifact.</p>',
    },
    {
      id: 'hardening',
      title: 'Hardening runs',
      body: hardened.length > 0
          ? hardened.map(hardeningBlock).join('\n')
          : '<p class="empty">No campaign has a <code>hardening</code> artifact and no <code>.decisions.json</code> lies beside a <code>--thresholds</code> file.</p>',
    },
    { id: 'campaigns', title: 'Campaign details', body: campaignsTable(data.campaigns) },
    { id: 'files', title: 'Figure files', body: filesBlock(figures) },
  ];
  const nav = sections.map((s) => `<a href="#${s.id}">${escapeHtml(s.title)}</a>`).join('');
  const warnings =
    info.warnings.length > 0
      ? `<aside class="warnings"><strong>Notes</strong><ul>${info.warnings.map((w) => `<li>${escapeHtml(w)}</li>`).join('')}</ul></aside>`
      : '';
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="proact ${escapeHtml(info.toolVersion)}">
<title>${escapeHtml(info.title)}</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>${escapeHtml(info.title)}</h1>
<p class="meta">Generated ${escapeHtml(info.generatedAt.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC'))} by proact ${escapeHtml(info.toolVersion)} from ${data.stores.map((s) => `<code>${escapeHtml(s)}</code>`).join(', ')}. ${data.campaigns.length} campaign${data.campaigns.length === 1 ? '' : 's'}; intervals at ${Math.round(data.confidence * 100)}% confidence.</p>
<nav>${nav}</nav>
</header>
<main>
${warnings}
${sections.map((s) => `<section id="${s.id}">\n<h2>${escapeHtml(s.title)}</h2>\n${s.body}\n</section>`).join('\n')}
</main>
<footer>proact report · self-contained page: every figure is inline SVG, with its data in the JSON block that follows it.</footer>
</body>
</html>
`;
}

function overview(data: ReportData): string {
  const level = Math.round(data.confidence * 100);
  const rows = data.campaigns.map((c) => {
    const o = c.record.options;
    const last = c.summary.perBer.filter((b) => b.ber > 0).at(-1);
    return [
      escapeHtml(c.label),
      escapeHtml(c.ref),
      escapeHtml(c.method ?? '–'),
      `<code>${escapeHtml(c.record.modelPath)}</code>`,
      escapeHtml([o.format, o.count, o.policy].filter((v) => typeof v === 'string').join(', ') || '–'),
      c.record.cleanAccuracy === null ? '–' : percent(c.record.cleanAccuracy),
      String(c.summary.perBer.reduce((s, b) => s + b.accuracy.n, 0)),
      last ? `${percent(last.accuracy.mean)} <span class="muted">at ${formatBer(last.ber)}</span>` : '–',
      c.summary.accuracyAuc ? percent(c.summary.accuracyAuc.normalized) : '–',
    ];
  });
  return `<p>One row per campaign. <em>AUC</em> is the area under mean accuracy over log<sub>10</sub>(BER), divided by the span in decades: the curve's mean height, comparable across methods measured on the same BERs.</p>
${table(['Campaign', 'Ref', 'Method', 'Model', 'Fault model', 'Clean accuracy (%)', 'Trials', 'Accuracy at highest BER (%)', 'AUC (%)'], rows, [5, 6, 7, 8], 'overview')}
<p class="muted">Mean accuracies carry ${level}% confidence intervals in the tables below each figure.</p>`;
}

function figureBlock(f: RenderedFigure): string {
  const id = f.chart.name;
  return `<div class="chart-block" id="chart-${escapeAttr(id)}">
<figure data-chart="${escapeAttr(id)}">
${scopeSvgIds(stripXmlProlog(f.svg), `${id}-`)}
<figcaption><strong>${escapeHtml(f.chart.title)}.</strong> ${escapeHtml(f.chart.caption)} Files: <a href="${escapeAttr(f.files.svg)}">${escapeHtml(f.files.svg)}</a>, <a href="${escapeAttr(f.files.png)}">${escapeHtml(f.files.png)}</a> (${f.png.width}×${f.png.height} px), <a href="${escapeAttr(f.files.spec)}">Vega-Lite spec</a>.</figcaption>
</figure>
<script type="application/json" id="data-${escapeAttr(id)}">${jsonForScript(f.chart.data)}</script>
<details class="numbers"${f.chart.name === 'sdc' || f.chart.name === 'due' ? '' : ' open'}><summary>Numbers behind this figure</summary>
${dataTable(f.chart.table, `table-${id}`)}
</details>
</div>`;
}

function distinctOverheads(campaigns: readonly ReportCampaign[]): { refs: string[]; label: string; artifact: OverheadArtifact }[] {
  const byContent = new Map<string, { refs: string[]; label: string; artifact: OverheadArtifact }>();
  for (const c of campaigns) {
    if (!c.overhead) continue;
    const key = canonicalJson(c.overhead);
    const found = byContent.get(key);
    if (found) found.refs.push(c.ref);
    else byContent.set(key, { refs: [c.ref], label: c.overhead.model === undefined ? c.label : basename(c.overhead.model), artifact: c.overhead });
  }
  return [...byContent.values()];
}

function overheadBlock(o: { refs: string[]; label: string; artifact: OverheadArtifact }): string {
  const a = o.artifact;
  const reference = a.reference === undefined ? undefined : a.schemes.find((s) => s.scheme === a.reference);
  const header = ['Scheme', 'Threshold parameters', 'Bytes'];
  if (a.modelParameters !== undefined) header.push('% of model parameters');
  if (reference) header.push(`× ${a.reference}`);
  header.push('Note');
  const rows = a.schemes.map((s) => {
    const row = [escapeHtml(s.scheme), s.parameters.toLocaleString('en-US'), s.bytes.toLocaleString('en-US')];
    if (a.modelParameters !== undefined) row.push(a.modelParameters > 0 ? number((100 * s.parameters) / a.modelParameters) : '–');
    if (reference) row.push(reference.parameters > 0 ? number(s.parameters / reference.parameters) : '–');
    row.push(escapeHtml(s.note ?? ''));
    return row;
  });
  const numeric = header.map((_, i) => i).filter((i) => i > 0 && i < header.length - 1);
  const model = a.modelParameters !== undefined ? ` The model stores ${a.modelParameters.toLocaleString('en-US')} weights and biases.` : '';
  return `<h3>${escapeHtml(o.label)}</h3>
<p class="muted">From ${o.refs.map((r) => escapeHtml(r)).join(', ')}.${escapeHtml(model)}</p>
${table(header, rows, numeric, `overhead-${o.refs[0]!}`)}`;
}

interface HardeningEntry {
  title: string;
  /** Campaign ref or file path. */
  from: string;
  id: string;
  artifact: HardeningArtifact;
}

function hardeningBlock(entry: HardeningEntry): string {
  const h = entry.artifact;
  const facts: [string, string][] = [
    ['Method', escapeHtml(h.method)],
    ['Wall-clock time', `${escapeHtml(formatSeconds(h.seconds))}`],
  ];
  if (h.imagesProcessed !== undefined) facts.push(['Images processed', h.imagesProcessed.toLocaleString('en-US')]);
  if (h.validationAccuracy !== undefined) facts.push(['Validation accuracy', `${percent(h.validationAccuracy)}%`]);
  if (h.settings !== undefined) facts.push(['Settings', `<pre>${escapeHtml(JSON.stringify(h.settings, null, 2))}</pre>`]);
  const accepted = h.decisions.filter((d) => d.accepted).length;
  const decisions =
    h.decisions.length === 0
      ? ''
      : `<details class="numbers"><summary>Decisions (${h.decisions.length}, ${accepted} accepted)</summary>
${table(
  ['#', 'Layer', 'Node', 'Setting', 'Accuracy (%)', 'Accepted', 'Note'],
  h.decisions.map((d, i) => [
    String(i + 1),
    String(d.layer),
    escapeHtml(d.node),
    escapeHtml(Object.entries(d.setting).map(([k, v]) => `${k}=${typeof v === 'number' ? number(v) : String(v)}`).join(', ')),
    percent(d.accuracy),
    d.accepted ? '<span class="yes">yes</span>' : '<span class="no">no</span>',
    escapeHtml(d.note ?? ''),
  ]),
  [0, 1, 4],
  `decisions-${entry.id}`,
)}
</details>`;
  return `<h3>${escapeHtml(entry.title)} <span class="muted">(${escapeHtml(entry.from)})</span></h3>
${definitionList(facts)}
${decisions}`;
}

const MODEL_STATUS: Record<ReportCampaign['model']['status'], string> = {
  found: 'found here, unchanged (hash verified)',
  changed: 'found here, but its hash differs: the file changed since the campaign',
  missing: 'not found from here',
  unreadable: 'found here, not readable as ONNX',
};

/**
 * Every campaign's provenance side by side: one column per campaign, one row per fact and per option,
 * rows whose values differ between campaigns marked, so what changed between two curves is visible.
 */
function campaignsTable(campaigns: readonly ReportCampaign[]): string {
  const facts: [string, (c: ReportCampaign) => string][] = [
    ['Ref', (c) => escapeHtml(c.ref)],
    ['Method', (c) => escapeHtml(c.method ?? 'not recorded')],
    ['Model', (c) => `<code>${escapeHtml(c.record.modelPath)}</code>`],
    ['Model file', (c) => escapeHtml(MODEL_STATUS[c.model.status])],
    ['Model hash (sha256)', (c) => `<code class="hash">${escapeHtml(c.record.modelHash)}</code>`],
    ['Activations (ONNX metadata)', (c) => escapeHtml(c.model.activations === null ? '–' : activationSummary(c))],
    ['Other proact ONNX metadata', (c) => metadataCell(c.model.metadata)],
    ['Evaluation data', (c) => `<code class="hash">${escapeHtml(c.record.data)}</code>`],
    ['Seed', (c) => String(c.record.seed)],
    ['Clean accuracy (%)', (c) => (c.record.cleanAccuracy === null ? 'not recorded' : percent(c.record.cleanAccuracy))],
    ['Trials stored', (c) => `${c.summary.perBer.reduce((s, b) => s + b.accuracy.n, 0)} over ${c.summary.perBer.length} BER${c.summary.perBer.length === 1 ? '' : 's'}`],
    ['Status', (c) => escapeHtml(c.record.status)],
    ['Tool version', (c) => escapeHtml(c.record.toolVersion)],
    ['Created', (c) => escapeHtml(c.record.createdAt)],
    ['Store', (c) => `<code class="hash">${escapeHtml(c.store)}</code>`],
    ['Campaign key', (c) => `<code class="hash">${escapeHtml(c.record.key)}</code>`],
    ['Artifacts', (c) => (c.artifactNames.length > 0 ? c.artifactNames.map((n) => `<code>${escapeHtml(n)}</code>`).join(' ') : 'none')],
  ];
  const optionKeys = [...new Set(campaigns.flatMap((c) => Object.keys(c.record.options)))].sort();
  const rows = [
    ...facts.map(([name, cell]) => ({ name: escapeHtml(name), cells: campaigns.map(cell), option: false })),
    ...optionKeys.map((k) => ({
      name: `<code>${escapeHtml(k)}</code>`,
      cells: campaigns.map((c) => (c.record.options[k] === undefined ? '<span class="muted">–</span>' : `<code>${escapeHtml(optionValue(c.record.options[k]!))}</code>`)),
      option: true,
    })),
  ];
  const body = rows
    .map((r, i) => {
      const differs = campaigns.length > 1 && new Set(r.cells).size > 1 && !['Ref', 'Created', 'Campaign key', 'Store'].includes(facts[i]?.[0] ?? '');
      const section = r.option && (i === 0 || !rows[i - 1]!.option) ? ' class="group-start"' : '';
      return `<tr${section}><th scope="row">${r.name}${differs ? ' <span class="differs" title="differs between campaigns">≠</span>' : ''}</th>${r.cells.map((c) => `<td>${c}</td>`).join('')}</tr>`;
    })
    .join('\n');
  const head = campaigns.map((c) => `<th scope="col">${escapeHtml(c.label)}</th>`).join('');
  return `<p>Everything needed to reproduce each campaign. Rows marked <span class="differs">≠</span> differ between campaigns; the rows after the line are the campaign options (part of its key).</p>
<div class="table-wrap"><table class="provenance" id="campaigns"><thead><tr><th scope="col">Campaign</th>${head}</tr></thead><tbody>
${body}
</tbody></table></div>`;
}

function metadataCell(metadata: Record<string, string>): string {
  const entries = Object.entries(metadata).sort(([a], [b]) => a.localeCompare(b));
  if (entries.length === 0) return '–';
  const short = (v: string) => (v.length > 160 ? `${v.slice(0, 157)}...` : v);
  return entries.map(([k, v]) => `<code class="hash">${escapeHtml(k)}=${escapeHtml(short(v))}</code>`).join('<br>');
}

function activationSummary(c: ReportCampaign): string {
  const counts = new Map<string, number>();
  for (const a of c.model.activations ?? []) {
    const key = a.kind === 'smooth-zero' ? `smooth-zero${a.guard ? ' (guarded)' : ''}${a.k !== undefined ? ` k=${a.k}` : ''}` : a.kind;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([k, n]) => `${k} × ${n}`).join(', ') || 'none recorded';
}

function optionValue(v: JsonValue): string {
  if (Array.isArray(v) && v.every((x) => typeof x === 'number')) return (v as number[]).map((x) => (x !== 0 && Math.abs(x) < 1e-3 ? formatBer(x) : String(x))).join(', ');
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function filesBlock(figures: readonly RenderedFigure[]): string {
  if (figures.length === 0) return '<p class="empty">No figures.</p>';
  const rows = figures.map((f) => [
    escapeHtml(f.chart.title),
    `<a href="${escapeAttr(f.files.svg)}">${escapeHtml(f.files.svg)}</a>`,
    `<a href="${escapeAttr(f.files.png)}">${escapeHtml(f.files.png)}</a>`,
    `${f.png.width} × ${f.png.height}`,
    `<a href="${escapeAttr(f.files.spec)}">${escapeHtml(f.files.spec)}</a>`,
  ]);
  return `<p>Each figure is also written beside this page, for papers: SVG (vector), PNG (2× its SVG size) and the Vega-Lite spec it was drawn from.</p>
${table(['Figure', 'SVG', 'PNG', 'PNG pixels', 'Spec'], rows, [3], 'files')}`;
}

function dataTable(t: DataTable, id: string): string {
  const groups = t.groupColumns ?? 0;
  const rows = t.rows.map((r, i) => {
    const previous = t.rows[i - 1];
    const continues = groups > 0 && previous !== undefined && r.slice(0, groups).every((cell, k) => cell === previous[k]);
    // A continued group keeps its cells (for copying and screen readers) but shows them once.
    return r.map((cell, k) => (continues && k < groups ? `<span class="cont">${escapeHtml(cell)}</span>` : escapeHtml(cell)));
  });
  const starts = groups > 0 ? t.rows.map((r, i) => i > 0 && r.slice(0, groups).some((cell, k) => cell !== t.rows[i - 1]![k])) : [];
  return table(t.header.map(escapeHtml), rows, t.numeric, id, starts);
}

/** A table of already escaped cells. */
function table(header: readonly string[], rows: readonly string[][], numeric: readonly number[], id: string, groupStarts: readonly boolean[] = []): string {
  const cls = (i: number) => (numeric.includes(i) ? ' class="num"' : '');
  const head = header.map((h, i) => `<th scope="col"${cls(i)}>${h}</th>`).join('');
  const body = rows.map((r, k) => `<tr${groupStarts[k] ? ' class="group-first"' : ''}>${r.map((cell, i) => `<td${cls(i)}>${cell}</td>`).join('')}</tr>`).join('\n');
  return `<div class="table-wrap"><table id="${escapeAttr(id)}"><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table></div>`;
}

function definitionList(facts: readonly [string, string][]): string {
  return `<dl class="facts">${facts.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${v}</dd>`).join('')}</dl>`;
}

function formatSeconds(s: number): string {
  if (s < 120) return `${number(s)} s`;
  if (s < 7200) return `${(s / 60).toFixed(1)} min (${Math.round(s)} s)`;
  return `${(s / 3600).toFixed(2)} h (${Math.round(s)} s)`;
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!);
}

function escapeAttr(text: string): string {
  return escapeHtml(text);
}

/** JSON that cannot close its <script> element: '<' (and the line separators JS dislikes) are escaped. */
/** `value` (plain data: what JSON.stringify writes) as the text of a <script type="application/json">. */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

function stripXmlProlog(svg: string): string {
  return svg.replace(/^<\?xml[^>]*>\s*/, '');
}

/**
 * Prefixes every id of an SVG (and its references) so several inline SVGs on one page cannot point at
 * each other's clip paths or gradients.
 */
export function scopeSvgIds(svg: string, prefix: string): string {
  const ids = [...svg.matchAll(/\bid="([^"]+)"/g)].map((m) => m[1]!);
  let out = svg;
  for (const id of new Set(ids)) {
    const quoted = id.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    out = out
      .replace(new RegExp(`\\bid="${quoted}"`, 'g'), `id="${prefix}${id}"`)
      .replace(new RegExp(`url\\(#${quoted}\\)`, 'g'), `url(#${prefix}${id})`)
      .replace(new RegExp(`href="#${quoted}"`, 'g'), `href="#${prefix}${id}"`);
  }
  return out;
}

const STYLE = `
:root { --ink: #1d1d1f; --muted: #5f6368; --line: #dadce0; --soft: #f6f7f9; --accent: #0072B2; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff; font: 15px/1.5 "Liberation Sans", "DejaVu Sans", Helvetica, Arial, sans-serif; }
header { padding: 28px 40px 0; border-bottom: 1px solid var(--line); background: linear-gradient(#fbfbfc, #fff); }
h1 { margin: 0 0 6px; font-size: 26px; letter-spacing: -0.01em; }
h2 { margin: 40px 0 12px; font-size: 21px; padding-bottom: 6px; border-bottom: 2px solid var(--accent); }
h3 { margin: 26px 0 8px; font-size: 17px; }
.meta { margin: 0 0 14px; color: var(--muted); font-size: 13.5px; }
nav { display: flex; flex-wrap: wrap; gap: 4px 18px; padding: 8px 0 12px; font-size: 14px; }
nav a, a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
main { max-width: 1160px; padding: 0 40px 40px; }
footer { padding: 16px 40px 28px; color: var(--muted); font-size: 12.5px; border-top: 1px solid var(--line); }
code { font-family: "DejaVu Sans Mono", "Liberation Mono", Menlo, Consolas, monospace; font-size: 12.5px; background: var(--soft); padding: 1px 4px; border-radius: 3px; }
code.hash { word-break: break-all; }
pre { margin: 0; font-size: 12.5px; white-space: pre-wrap; }
.muted { color: var(--muted); font-weight: normal; }
.empty { color: var(--muted); font-style: italic; }
.warnings { margin: 24px 0 0; padding: 10px 16px; background: #fff8e1; border: 1px solid #f3d27a; border-radius: 6px; font-size: 14px; }
.warnings ul { margin: 4px 0 0; padding-left: 20px; }
.chart-block { margin: 18px 0 34px; }
figure { margin: 0; padding: 14px; border: 1px solid var(--line); border-radius: 8px; background: #fff; }
figure svg { display: block; max-width: 100%; height: auto; margin: 0 auto; }
figcaption { margin-top: 10px; font-size: 13.5px; color: #3c4043; }
details.numbers { margin-top: 10px; }
details.numbers > summary { cursor: pointer; color: var(--muted); font-size: 13.5px; margin-bottom: 6px; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; font-size: 13.5px; margin: 6px 0 10px; }
th, td { padding: 5px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
thead th { background: var(--soft); border-bottom: 2px solid #c4c7cc; font-weight: bold; white-space: nowrap; }
tbody tr:nth-child(even) td { background: #fbfbfc; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.yes { color: #0a7d32; font-weight: bold; }
.no { color: #a50e0e; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 18px; margin: 8px 0 0; font-size: 14px; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; min-width: 0; }
table.provenance { font-size: 13px; }
table.provenance tbody th { font-weight: normal; color: var(--muted); white-space: nowrap; background: #fff; }
table.provenance td { min-width: 160px; max-width: 300px; }
table.provenance tr.group-start > * { border-top: 2px solid #c4c7cc; }
.differs { color: #b06000; font-weight: bold; }
tr.group-first > td { border-top: 1px solid #b9bcc1; }
td span.cont { color: transparent; }
@media print { header { background: none; } nav { display: none; } figure { break-inside: avoid; } }
`;
