/**
 * `lineage compare --html FILE`: the report as one self-contained page (inline CSS and SVG; no
 * scripts, fonts or other requests), for a person who must settle the question. The verdict and
 * its reasons come first, then the charts, the controls, the architecture and tokenizer, and a
 * table of every tensor. Large reports stay small: each layer's tensors and each layer's routed
 * experts fold into <details> groups, and at most a few expert matrices are drawn.
 */
import type { ComparisonReport } from '../../../core/src/compare/index.ts';
import type { TensorReport } from '../../../core/src/report/index.ts';
import { barChart, escapeXml as esc, heatmap, lineChart, PALETTE, stackedBar } from './svg.ts';
import {
  architectureOf, axisLabels, baselineBand, bytes, controlsOf, count, expertPattern, LAYER_PATTERNS, FINDING_COLORS, fmt, GLOSSARY, groupThreshold,
  labelInfo, layerLines, linesByGroup, params, pct, shapeText, similarityClass, summarizeTensors, tensorLayout, tokenizerOf,
  valueText, architectureFacts, show, COMPONENT_CAPTION, pText, type ControlsView, type GroupSummary,
} from './view.ts';

/** Up to this many tensors, every layer's table is shown open. */
const OPEN_LIMIT = 300;
/** Expert matrices drawn as heatmaps (the rest are in the table). */
const EXPERT_HEATMAPS = 6;

const CSS = `
:root{--fg:#1f2328;--muted:#57606a;--line:#d0d7de;--soft:#f6f8fa}
*{box-sizing:border-box}
body{margin:0;font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:var(--fg);background:#fff}
main{max-width:1180px;margin:0 auto;padding:24px 28px 64px}
h1{font-size:22px;margin:0 0 2px}
h2{font-size:18px;margin:34px 0 10px;padding-bottom:4px;border-bottom:1px solid var(--line)}
h3{font-size:15px;margin:20px 0 6px}
p{margin:6px 0}
.muted,small{color:var(--muted)}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px;overflow-wrap:anywhere}
table{border-collapse:collapse;width:100%;margin:6px 0 12px;font-size:13px}
th,td{border-bottom:1px solid #eaeef2;padding:4px 8px;text-align:left;vertical-align:top}
th{background:var(--soft);font-weight:600}
.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.hi{background:#fbe1de}td.mid{background:#fcefdc}td.lo{background:#e6f4ea}
.verdict{border:2px solid var(--c);border-radius:10px;padding:16px 22px;margin:16px 0 8px;background:var(--bgc)}
.badge{display:inline-block;background:var(--c);color:#fff;font-weight:700;font-size:24px;letter-spacing:.05em;text-transform:uppercase;padding:2px 16px;border-radius:6px;vertical-align:middle}
.conf{display:inline-block;margin-left:18px;vertical-align:middle;color:var(--muted)}
.meter{display:inline-block;width:150px;height:10px;background:#e1e4e8;border-radius:5px;vertical-align:middle;overflow:hidden;margin:0 8px}
.meter>span{display:block;height:100%;background:var(--c)}
.summary{font-size:17px;font-weight:600;margin:12px 0 4px}
.chip{display:inline-block;padding:0 8px;border-radius:10px;color:#fff;font-size:12px;font-weight:600;white-space:nowrap}
.wbar{display:inline-block;width:46px;height:6px;background:#e1e4e8;border-radius:3px;vertical-align:middle;margin-right:6px;overflow:hidden}
.wbar>span{display:block;height:100%;background:#57606a}
.grid{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start}
.card{border:1px solid var(--line);border-radius:8px;padding:10px 12px;background:#fff;max-width:100%}
.caption{font-size:12.5px;color:var(--muted);max-width:900px}
.gloss{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;font-size:13px;margin:8px 0}
.gloss dt{font-weight:600}.gloss dd{margin:0;color:#333}
details{margin:4px 0}
details>summary{cursor:pointer;padding:5px 10px;background:var(--soft);border:1px solid var(--line);border-radius:6px}
details[open]>summary{border-radius:6px 6px 0 0}
details.experts>summary{background:#fff;margin-left:8px}
.models td:first-child{font-weight:700;width:28px}
td.name{min-width:17em}
table.ex td:nth-child(-n+5):not(:nth-child(2)),table.ex th:nth-child(-n+5):not(:nth-child(2)){text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
footer{margin-top:40px;font-size:12px;color:var(--muted);border-top:1px solid var(--line);padding-top:8px}
@media print{details>summary{border:none}main{max-width:none}}
`;

/** A half-width too small for four decimals keeps two significant digits rather than reading ±0.0000. */
function halfWidth(h: number): string {
  return h > 0 && h < 5e-5 ? h.toExponential(1) : fmt(h);
}

/** A value, with its interval on a second line when sampling gave it width. */
function ival(value: number | null, ci: [number, number] | null | undefined, sampled: boolean): string {
  if (!sampled || !ci || value === null || ci[0] === ci[1]) return fmt(value);
  const below = value - ci[0];
  const above = ci[1] - value;
  // Symmetric at the printed precision: the half-width is shorter to read (and to send).
  return Math.abs(above - below) < 5e-5
    ? `${fmt(value)}<br><small>±${halfWidth((above + below) / 2)}</small>`
    : `${fmt(value)}<br><small>${fmt(ci[0])} to ${fmt(ci[1])}</small>`;
}

const chip = (text: string, color: string) => `<span class="chip" style="background:${color}">${esc(text)}</span>`;
const n = (text: string, cls = '') => `<td class="n${cls ? ` ${cls}` : ''}">${text}</td>`;

function table(head: string[], rows: string[], numeric: number[] = []): string {
  const th = head.map((h, i) => `<th${numeric.includes(i) ? ' class="n"' : ''}>${esc(h)}</th>`).join('');
  return `<table><thead><tr>${th}</tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

export function renderHtml(report: ComparisonReport): string {
  const info = labelInfo(report.verdict.label);
  const title = `lineage: ${report.models.a.path} vs ${report.models.b.path}: ${info.title}`;
  const body = [
    header(report),
    verdictSection(report),
    chartsSection(report),
    controlsSection(report),
    architectureSection(report),
    weightsSection(report),
    tensorsSection(report),
    footer(report),
  ].join('\n');
  return `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">`
    + `<title>${esc(title)}</title><style>${CSS}</style></head><body><main>\n${body}\n</main></body></html>\n`;
}

function header(report: ComparisonReport): string {
  const rows = (['a', 'b'] as const).map((side) => {
    const m = report.models[side];
    const remote = m.remote as { revision?: unknown } | undefined;
    return `<tr><td>${side.toUpperCase()}</td><td><code>${esc(m.path)}</code>${remote?.revision ? `<br><small>revision ${esc(remote.revision)}</small>` : ''}</td>`
      + `${n(count(m.tensors))}${n(count(m.shards))}${n(bytes(m.bytes))}${n(params(m.paramsFromTensors))}</tr>`;
  });
  return `<header><h1>Lineage report</h1><p class="muted">Was model B trained from scratch, or derived from model A (or both from a common parent)? `
    + `Compared from their weights, architecture and tokenizer.</p>`
    + `<table class="models"><thead><tr><th></th><th>model</th><th class="n">tensors</th><th class="n">shards</th><th class="n">size</th><th class="n">parameters</th></tr></thead><tbody>${rows.join('')}</tbody></table></header>`;
}

// ---------- verdict ----------

function verdictSection(report: ComparisonReport): string {
  const v = report.verdict;
  const info = labelInfo(v.label);
  const conf = Math.max(0, Math.min(1, v.confidence));
  const evidence = v.evidence.map((e) => `<tr><td><b>${esc(e.signal)}</b></td><td>${esc(valueText(e.value))}</td><td>${esc(e.baseline || '—')}</td>`
    + `<td class="n"><span class="wbar"><span style="width:${Math.round(100 * Math.max(0, Math.min(1, e.weight)))}%"></span></span>${fmt(e.weight, 1)}</td><td>${esc(e.explanation)}</td></tr>`);
  const components = v.components.map((c) => `<tr><td>${esc(c.component)}</td><td>${chip(c.finding, FINDING_COLORS[c.finding] ?? '#6e7781')}</td>`
    + `${n(`${count(c.related)} of ${count(c.compared)}`)}${n(count(c.identical))}${n(fmt(c.medianCenteredCosine))}${n(fmt(c.medianNull))}${n(pText(c.pValue))}${n(fmt(c.sameIndexShare, 2))}</tr>`);
  const gloss = GLOSSARY.map(([term, text]) => `<dt>${esc(term)}</dt><dd>${esc(text)}</dd>`).join('');
  return `<section id="verdict"><div class="verdict" data-verdict="${esc(v.label)}" style="--c:${info.color};--bgc:${info.color}0f">`
    + `<span class="badge">${esc(v.label)}</span>`
    + `<span class="conf">confidence<span class="meter"><span style="width:${Math.round(conf * 100)}%"></span></span><b>${Math.round(conf * 100)}%</b></span>`
    + `<p class="summary">${esc(v.summary)}</p><p>${esc(info.meaning)}</p></div>`
    + `<h2>Why: the evidence</h2><p class="caption">Each signal with its value, what independent models show (the baseline), and how much it counts in the verdict.</p>`
    + table(['signal', 'value', 'baseline (independent models)', 'weight', 'what it means'], evidence, [3])
    + `<h3>Findings by component</h3><p class="caption">${esc(COMPONENT_CAPTION)}</p>`
    + (components.length ? table(['component', 'finding', 'related (of compared)', 'identical', 'median statistic', 'median null', 'combined p', 'same index'], components, [2, 3, 4, 5, 6, 7]) : '<p class="muted">No component was judged.</p>')
    + (v.procedure ? `<p class="caption">How the label was reached: ${esc(v.procedure)}.</p>` : '')
    + (v.components.some((c) => c.compared > 0) ? `<div class="card" style="display:inline-block">${barChart({
      title: 'Share of each component\'s cells that are related',
      max: 1,
      bars: v.components.filter((c) => c.compared > 0).map((c) => ({
        label: c.component, value: c.related / c.compared, color: FINDING_COLORS[c.finding] ?? '#6e7781', text: `${pct(c.related / c.compared, 0)} (${c.related} of ${c.compared})`,
      })),
    })}</div>` : '')
    + `<details open><summary>How to read this report</summary><dl class="gloss">${gloss}</dl></details></section>`;
}

// ---------- charts ----------

function chartsSection(report: ComparisonReport): string {
  const controls = controlsOf(report);
  const hasExperts = report.weights.tensors.some((t) => t.group === 'routed_expert');
  return `<section id="charts"><h2>Charts</h2>${perLayerCharts(report, controls)}${layerHeatmaps(report, controls)}${hasExperts || controls.experts.length ? expertCharts(controls) : ''}${tokenizerChart(report)}</section>`;
}

function perLayerCharts(report: ComparisonReport, controls: ControlsView): string {
  const lines = layerLines(report.weights);
  if (lines.length === 0) return '<h3>Similarity by layer</h3><p class="muted">No weight matrix inside a layer was compared.</p>';
  const band = baselineBand(controls.baselines);
  const values = lines.flatMap((l) => l.values.flatMap((v) => [v.value, v.low, v.high])).filter((x): x is number => x !== null);
  const low = Math.min(-0.2, Math.floor((Math.min(...values, band?.low ?? 0) - 0.05) * 10) / 10);
  const sampled = report.weights.mode === 'sampled';
  const charts = linesByGroup(lines).map(({ group, label, lines: groupLines }) => {
    const threshold = groupThreshold(report.weights, group);
    const svg = lineChart({
      title: `${label}: A's layer i against B's layer i`,
      xLabel: 'layer',
      yLabel: 'centered cosine',
      yDomain: [Math.max(-1, low), 1.05],
      band,
      rules: [{ y: threshold, label: `related above ${fmt(threshold, 2)}` }],
      series: groupLines.map((l, i) => ({
        label: l.aggregated ? `${l.role} (median)` : l.role,
        color: PALETTE[i % PALETTE.length]!,
        points: l.values.map((v) => ({
          x: v.layer, y: v.value, low: v.low, high: v.high,
          title: `${l.role}, layer ${v.layer}: ${fmt(v.value)}${l.aggregated ? ` (median of ${v.tensors}; range ${fmt(v.low)} to ${fmt(v.high)})` : v.low !== null && v.high !== null && v.high > v.low ? ` [${fmt(v.low)}, ${fmt(v.high)}]` : ''}${v.identical ? `; ${v.identical} identical` : ''}`,
        })),
      })),
    });
    return `<div class="card">${svg}</div>`;
  });
  const caption = 'Each point is the centered cosine of A\'s tensor with B\'s tensor of the same role in the same layer. '
    + 'Independently trained weights sit near 0; above the dashed line a matrix is related; a fine-tune stays near 1. '
    + (band ? 'The grey band is the baseline: how similar different layers of model A are to each other (unrelated layers of one model). ' : 'No within-model baseline was computed for this comparison. ')
    + (lines.some((l) => l.aggregated) ? 'Roles with several tensors per layer (routed experts) show the median, with the range as a bar. ' : '')
    + (sampled ? `Bars on single tensors are ${pct(report.weights.confidence, 0)} confidence intervals (sampled mode). ` : '')
    + (controls.layers.some((l) => l.pattern !== 'identity' && l.pattern !== 'none') ? 'Layers are paired by index here; the layer alignment below pairs each layer of B with the layer of A it matches. ' : '')
    + 'Norm vectors are left out here (see the controls).';
  return `<h3>Similarity by layer</h3><p class="caption">${esc(caption)}</p><div class="grid">${charts.join('')}</div>`;
}

function layerHeatmaps(report: ComparisonReport, controls: ControlsView): string {
  if (!controls.present) return '<h3>Layer alignment</h3><p class="muted">This report has no controls section: no layer × layer comparison was made.</p>';
  if (controls.layers.length === 0) return '<h3>Layer alignment</h3><p class="muted">No layer × layer matrix: no role is present in every layer of both models with one shape.</p>';
  const cards = controls.layers.map((l) => {
    const rows = axisLabels(l.layersA, l.matrix.length);
    const cols = axisLabels(l.layersB, Math.max(0, ...l.matrix.map((r) => r.length)));
    const svg = heatmap({
      title: `${l.role}: A's layers × B's layers`,
      matrix: l.matrix, rowLabels: rows, colLabels: cols, rowTitle: 'layer of A', colTitle: 'layer of B',
      marks: l.alignment.map((m) => ({ row: m.a, col: m.b })), markStyle: 'path', marksMuted: l.pattern === 'none' || l.pattern === 'reordered',
      cellTitle: (r, c, v) => `A layer ${rows[r]} × B layer ${cols[c]}: ${fmt(v)}`,
    });
    const path = l.alignment.map((m) => `B${m.b}←A${m.a} (${fmt(m.value, 3)})`).join(', ');
    return `<div class="card">${svg}<p><b>pattern: ${esc(l.pattern || '—')}</b>${LAYER_PATTERNS[l.pattern] ? `: ${esc(LAYER_PATTERNS[l.pattern]!)}` : ''}</p>`
      + (path ? `<details><summary>alignment (${count(l.alignment.length)} layers of B)</summary><p class="mono">${esc(path)}</p></details>` : '') + '</div>';
  });
  return `<h3>Layer alignment</h3><p class="caption">${esc('Centered cosine of every layer of A with every layer of B (one role, sampled rows for large tensors). A derivative lights up the diagonal; duplicated, removed or shifted layers bend it. The black line is the best monotone alignment of B\'s layers to A\'s. Unrelated models give a uniformly pale matrix.')}</p>`
    + `<div class="grid">${cards.join('')}</div>`;
}

function expertCharts(controls: ControlsView): string {
  if (controls.experts.length === 0) return '<h3>Routed experts matched across the models</h3><p class="muted">No expert matching in this report: routed experts are compared by index only (see the tensors).</p>';
  const rows = controls.experts.map((e) => `<tr>${n(e.layer === null ? '—' : String(e.layer))}${n(`${e.matrix.length} × ${Math.max(0, ...e.matrix.map((r) => r.length))}`)}`
    + `${n(pct(e.identityShare))}${n(fmt(e.meanMatched))}${n(e.pValue === null ? '—' : e.pValue < 1e-4 ? e.pValue.toExponential(1) : fmt(e.pValue))}</tr>`);
  // A few matrices drawn: evenly spread over the layers, first and last included.
  const k = Math.min(EXPERT_HEATMAPS, controls.experts.length);
  const picks = [...new Set(Array.from({ length: k }, (_, i) => Math.round((i * (controls.experts.length - 1)) / Math.max(1, k - 1))))];
  const cards = picks.map((i) => {
    const e = controls.experts[i]!;
    const rowsL = axisLabels(e.expertsA, e.matrix.length);
    const colsL = axisLabels(e.expertsB, Math.max(0, ...e.matrix.map((r) => r.length)));
    return `<div class="card">${heatmap({
      title: `layer ${e.layer ?? '?'}: experts of A × experts of B`, matrix: e.matrix, rowLabels: rowsL, colLabels: colsL,
      rowTitle: 'expert of A', colTitle: 'expert of B', marks: e.assignment.map((m) => ({ row: m.a, col: m.b })), markStyle: 'boxes', maxSide: 260,
      cellTitle: (r, c, v) => `A expert ${rowsL[r]} × B expert ${colsL[c]}: ${fmt(v)}`,
    })}</div>`;
  });
  const shown = picks.length < controls.experts.length ? ` Matrices of ${picks.length} of ${controls.experts.length} layers are drawn; the table lists all.` : '';
  return `<h3>Routed experts matched across the models</h3><p class="caption">${esc(`Similarity of every routed expert of A with every routed expert of B. Outlined cells are the best one-to-one matching (linear assignment): a derivative that kept its experts in place matches along the diagonal, one that permuted them matches off it, and unrelated models match nothing well. The p-value is the chance that unrelated experts match this well (permutation null).${shown}`)}</p>`
    + table(['layer', 'experts (A × B)', 'matched to the same index', 'mean similarity of matched pairs', 'p-value'], rows, [0, 1, 2, 3, 4])
    + `<div class="grid">${cards.join('')}</div>`;
}

const RELATION_COLORS: Record<string, string> = { identical: '#b2182b', extension: '#c05f00', reordered: '#c05f00', overlapping: '#57606a', independent: '#1a7f37' };

function tokenizerChart(report: ComparisonReport): string {
  const tok = tokenizerOf(report);
  if (!tok.ok) return `<h3>Tokenizer overlap</h3><p class="muted">Tokenizers not compared: ${esc(tok.reason)}</p>`;
  const t = tok.section;
  const bar = stackedBar({
    title: 'Vocabulary: tokens only in A, in both, only in B',
    segments: [
      { label: 'only in A', value: t.onlyA.count, color: '#4e79a7', text: count(t.onlyA.count) },
      { label: 'in both', value: t.sharedTokens.count, color: '#7b5ea7', text: `${count(t.sharedTokens.count)} (${pct(t.sharedTokens.shareOfA)} of A, ${pct(t.sharedTokens.shareOfB)} of B)` },
      { label: 'only in B', value: t.onlyB.count, color: '#f28e2b', text: count(t.onlyB.count) },
    ],
  });
  const merges = t.merges.available ? t.merges : null;
  const enc = t.encodingAgreement.available ? t.encodingAgreement : null;
  const figures: [string, string, string][] = [
    ['vocabulary size', `${count(t.vocabSizeA)} vs ${count(t.vocabSizeB)}`, t.vocabSizeMatch.tokenizer ? 'same size' : 'sizes differ'],
    ['config vocab_size', `${count(t.configVocabSizeA)} vs ${count(t.configVocabSizeB)}`, t.vocabSizeMatch.config === null ? 'unknown' : t.vocabSizeMatch.config ? 'equal' : 'differ'],
    ['shared tokens', count(t.sharedTokens.count), `${pct(t.sharedTokens.shareOfA)} of A, ${pct(t.sharedTokens.shareOfB)} of B; >98% suggests reuse, 90–98% extension, <90% independent`],
    ['same id', pct(t.sameIdRate), 'shared tokens with the same id on both sides'],
    ['id order correlation', fmt(t.idAlignment.orderCorrelation, 3), 'Spearman over shared tokens; 1 means the same order'],
    ['merges: common prefix', merges ? count(merges.commonPrefix) : '—', merges ? 'leading merges identical in both orders' : (t.merges as { reason?: string }).reason ?? ''],
    ['late merges shared', merges ? pct(merges.late.sharedShare) : '—', merges ? `after the first ${count(merges.late.from)} (universal) merges; order agreement ${pct(merges.late.orderAgreement)}` : ''],
    ['encodings identical', enc ? pct(enc.identicalIdsShare) : '—', enc ? `same token ids for the same text; same cut points ${pct(enc.identicalTextShare)}, boundary F1 ${fmt(enc.boundaryF1, 3)}` : (t.encodingAgreement as { reason?: string }).reason ?? ''],
    ['special tokens', `${count(t.specialTokens.shared)} shared (${count(t.specialTokens.sharedSameId)} same id)`, `${count(t.specialTokens.onlyACount)} only in A, ${count(t.specialTokens.onlyBCount)} only in B (weak evidence: conventions)`],
  ];
  const samples = (label: string, list: string[]) => (list.length ? `<p><b>${esc(label)}:</b> ${[...new Set(list)].map((s) => `<code>${esc(JSON.stringify(s))}</code>`).join(' ')}</p>` : '');
  return `<h3>Tokenizer overlap</h3><div class="card">${bar}<p>relation: ${chip(t.relation, RELATION_COLORS[t.relation] ?? '#57606a')} ${esc(t.relationReason)}</p>`
    + `<p class="caption">${esc(t.overlapBand)}. A shared tokenizer is weak evidence: tokenizers are reused legitimately.</p></div>`
    + table(['measure', 'value', 'meaning'], figures.map(([a, b, c]) => `<tr><td>${esc(a)}</td><td>${esc(b)}</td><td>${esc(c)}</td></tr>`))
    + samples('sample of tokens only in A', t.onlyA.sample) + samples('sample of tokens only in B', t.onlyB.sample)
    + samples('special tokens only in A', t.specialTokens.onlyA) + samples('special tokens only in B', t.specialTokens.onlyB);
}

// ---------- controls ----------

function controlsSection(report: ComparisonReport): string {
  const c = controlsOf(report);
  if (!c.present) return '<section id="controls"><h2>Controls</h2><p class="muted">This report has no controls section.</p></section>';
  const parts: string[] = ['<section id="controls"><h2>Controls</h2>'];
  if (c.baselines.length) {
    const rows = c.baselines.flatMap(([role, points]) => points.map((p) => `<tr><td>${esc(role)}</td>${n(String(p.distance))}${n(count(p.n))}${n(fmt(p.mean))}${n(fmt(p.sd))}</tr>`));
    parts.push('<h3>Within-model baselines</h3><p class="caption">Centered cosine between layers of model A at a given distance (layer 0 left out): what unrelated layers of one model give. A cross-model value is read against this.</p>',
      table(['role', 'layer distance', 'pairs', 'mean', 'sd'], rows, [1, 2, 3, 4]));
  }
  if (c.norms.length) {
    const rows = c.norms.map((t) => `<tr><td><code>${esc(t.name)}</code></td><td>${esc(t.role)}</td>${n(t.layer === null ? '—' : String(t.layer))}`
      + `${n(fmt(t.cosine))}${n(t.nullMean === null ? '—' : `${fmt(t.nullMean)} ± ${fmt(t.nullSd)}`)}${n(fmt(t.z, 1), t.z !== null && Math.abs(t.z) > 3 ? 'hi' : '')}${n(fmt(t.centeredCosine))}</tr>`);
    const tableHtml = table(['norm vector', 'role', 'layer', 'raw cosine', 'null: unrelated vectors (mean ± sd)', 'z', 'centered cosine'], rows, [2, 3, 4, 5, 6]);
    parts.push('<h3>Norm vectors (the LayerNorm trap)</h3><p class="caption">Norm scales start at 1.0, so their raw cosine is near 1 even between unrelated models. The null is the raw cosine two unrelated vectors with the same means and spreads would give; z is the distance from it in standard deviations. These vectors weigh little in the verdict.</p>',
      c.norms.length > 40 ? `<details><summary>${count(c.norms.length)} norm vectors</summary>${tableHtml}</details>` : tableHtml);
  }
  if (c.embeddings) {
    const e = c.embeddings;
    parts.push('<h3>Embeddings of shared tokens</h3><p class="caption">Where vocabularies differ, the embedding rows of the tokens both vocabularies hold are compared; unrelated rows give about 1/√d.</p>',
      table(['shared tokens', 'rows compared', 'cosine', 'centered cosine', 'null sd', 'z', 'note'],
        [`<tr>${n(count(e.sharedTokens))}${n(count(e.rowsCompared))}${n(fmt(e.cosine))}${n(fmt(e.centeredCosine))}${n(fmt(e.nullSd))}${n(fmt(e.z, 1))}<td>${esc(e.note ?? '')}</td></tr>`], [0, 1, 2, 3, 4, 5]));
  }
  if (parts.length === 1) parts.push('<p class="muted">The controls section is empty.</p>');
  parts.push('</section>');
  return parts.join('');
}

// ---------- architecture ----------


function architectureSection(report: ComparisonReport): string {
  const view = architectureOf(report);
  if (!view.ok) return `<section id="architecture"><h2>Architecture</h2><p class="muted">Not compared: ${esc(view.reason)}</p></section>`;
  const { a, b, diffs, comparable, summary, notes } = view.section;
  const facts = architectureFacts(a, b);
  const factRows = facts.map(([k, x, y]) => `<tr><td>${esc(k)}</td><td>${esc(show(x))}</td><td>${esc(show(y))}</td></tr>`);
  const diffRows = diffs.map((d) => `<tr><td><code>${esc(d.label)}</code></td><td>${esc(show(d.a))}</td><td>${esc(show(d.b))}</td><td>${esc(d.effect)}</td><td>${esc(d.meaning)}</td></tr>`);
  const compRows = comparable.map((g) => `<tr><td>${esc(g.label)}</td><td>${esc(g.status)}</td>${n(count(g.pairs))}<td>${esc(g.note)}</td></tr>`);
  return `<section id="architecture"><h2>Architecture</h2><p>relation: <b>${esc(summary.relation)}</b>; ${count(summary.shapeDiffs)} difference(s) change tensor shapes. `
    + `<span class="muted">Identical configs are weak evidence: architectures are copied legitimately.</span></p>`
    + table(['', 'A', 'B'], factRows)
    + `<h3>Differences</h3>` + (diffRows.length ? table(['field', 'A', 'B', 'effect', 'meaning'], diffRows) : '<p>The configs agree on every field compared.</p>')
    + `<h3>What can be compared</h3>` + table(['tensor group', 'status', 'pairs', 'note'], compRows, [2])
    + (notes.length ? `<details><summary>notes (${notes.length})</summary><ul>${notes.map((x) => `<li>${esc(x)}</li>`).join('')}</ul></details>` : '')
    + '</section>';
}

// ---------- weights ----------

function weightsSection(report: ComparisonReport): string {
  const w = report.weights;
  const s = w.summary;
  const sampled = w.mode === 'sampled';
  const conf = pct(w.confidence, 0);
  const rows = w.roles.map((r) => `<tr><td>${esc(r.role)}</td><td>${esc(r.group)}</td>${n(count(r.tensors))}${n(count(r.identical))}`
    + `${n(ival(r.cosine, r.ci.cosine, sampled))}${n(ival(r.centeredCosine, r.ci.centeredCosine, sampled))}${n(fmt(r.meanCenteredCosine))}${n(fmt(r.minCenteredCosine))}${n(ival(r.relL2, r.ci.relL2, sampled))}</tr>`);
  const samplingText = sampled && w.sampling
    ? `<p><b>Sampled:</b> ${pct(w.sampling.fractionRead)} of the compared elements were read (--sample ${esc(w.sampling.fraction)}, seed ${esc(w.sampling.seed)}); the smaller figures under a value are its ${conf} confidence interval.</p>`
    : '<p>Exact: every element of every compared tensor was read.</p>';
  return `<section id="weights"><h2>Weights by role</h2>`
    + `<p>${count(s.compared)} tensor pairs compared (${count(s.elementsCompared)} elements), <b>${count(s.identical)} byte-identical</b>, ${count(s.notCompared)} not comparable, `
    + `${count(s.onlyA)} only in A, ${count(s.onlyB)} only in B, ${count(s.failed)} failed. Kernel ${esc(w.kernel)}, hash ${esc(w.hashAlgorithm ?? 'none')}.</p>${samplingText}`
    + `<p class="caption">Pooled values treat all tensors of a role as one vector. Norm roles read near 1.0 in raw cosine by construction: read their centered value.</p>`
    + table(['role', 'group', 'tensors', 'identical', sampled ? `pooled cosine (${conf} interval)` : 'pooled cosine', sampled ? `pooled centered (${conf} interval)` : 'pooled centered', 'mean centered', 'min centered', 'relL2'], rows, [2, 3, 4, 5, 6, 7, 8])
    + '</section>';
}

// ---------- tensors ----------

function identicalText(t: TensorReport): string {
  return t.identical === null ? '—' : t.identical ? '<b>yes</b>' : 'no';
}

function tensorRow(t: TensorReport, sampled: boolean): string {
  const name = t.name ?? t.nameB ?? '';
  const nameCell = `<code>${esc(name)}</code>${t.nameB && t.name && t.nameB !== t.name ? `<br><small>B: <code>${esc(t.nameB)}</code></small>` : !t.name && t.nameB ? ' <small>(only in B)</small>' : t.name && !t.nameB ? ' <small>(only in A)</small>' : ''}`;
  const shape = t.shapeB && t.shape && t.shapeB.join() !== t.shape.join() ? `${shapeText(t.shape)} vs ${shapeText(t.shapeB)}` : shapeText(t.shape ?? t.shapeB);
  const dtype = t.dtypeA && t.dtypeB && t.dtypeA !== t.dtypeB ? `${t.dtypeA}/${t.dtypeB}` : t.dtypeA ?? t.dtypeB ?? '—';
  return `<tr><td class="name">${nameCell}</td><td>${esc(t.role)}</td>${n(t.layer === null ? '—' : esc(t.layer))}${n(t.expert === null ? '—' : esc(t.expert))}`
    + `<td class="n">${esc(shape)}</td><td>${esc(dtype)}</td>${n(ival(t.cosine, t.ci?.cosine, sampled))}${n(ival(t.centeredCosine, t.ci?.centeredCosine, sampled), similarityClass(t))}`
    + `${n(ival(t.relL2, t.ci?.relL2, sampled))}<td>${identicalText(t)}</td><td>${esc(t.note ?? '')}</td></tr>`;
}

const TENSOR_HEAD = ['name (A)', 'role', 'layer', 'expert', 'shape', 'dtype', 'cosine', 'centered', 'relL2', 'identical', 'note'];
const TENSOR_NUMERIC = [2, 3, 4, 6, 7, 8];

/**
 * One compact row per expert tensor (there may be tens of thousands): its name and shape are in
 * the group's summary, alignment comes from the table's CSS, and the optional </td> is left out.
 */
function expertRow(t: TensorReport, sampled: boolean): string {
  const cls = similarityClass(t);
  return `<tr><td>${esc(t.expert)}<td>${esc(t.role)}<td>${ival(t.cosine, t.ci?.cosine, sampled)}`
    + `<td${cls ? ` class="${cls}"` : ''}>${ival(t.centeredCosine, t.ci?.centeredCosine, sampled)}<td>${ival(t.relL2, t.ci?.relL2, sampled)}`
    + `<td>${identicalText(t)}<td>${t.note ? esc(t.note) : ''}</tr>`;
}

function summaryText(s: GroupSummary): string {
  return `${count(s.tensors)} tensors, ${count(s.identical)} identical, ${count(s.related)} of ${count(s.matrices)} matrices related; centered cosine median ${fmt(s.medianCentered)}, min ${fmt(s.minCentered)}`;
}

function tensorsSection(report: ComparisonReport): string {
  const w = report.weights;
  const sampled = w.mode === 'sampled';
  const { outside, layers } = tensorLayout(w.tensors);
  const open = w.tensors.length <= OPEN_LIMIT ? ' open' : '';
  const parts: string[] = [`<section id="tensors"><h2>Every tensor</h2><p class="caption">${esc(
    `${count(w.tensors.length)} tensor pairs, by layer. centered: red ≥ 0.9, orange related, green unrelated.${sampled ? ` Under a value: its ${pct(w.confidence, 0)} confidence interval from the sampled rows.` : ''} identical: byte-identical (— when not hashed).`,
  )}</p>`];
  if (outside.length) {
    parts.push(`<details${open}><summary><b>outside the layers</b>: ${esc(summaryText(summarizeTensors(outside)))}</summary>`,
      table(TENSOR_HEAD, outside.map((t) => tensorRow(t, sampled)), TENSOR_NUMERIC), '</details>');
  }
  for (const l of layers) {
    const all = [...l.plain, ...l.experts];
    parts.push(`<details${open}><summary><b>layer ${esc(l.layer)}</b>: ${esc(summaryText(summarizeTensors(all)))}</summary>`);
    if (l.plain.length) parts.push(table(TENSOR_HEAD, l.plain.map((t) => tensorRow(t, sampled)), TENSOR_NUMERIC));
    if (l.experts.length) {
      const experts = new Set(l.experts.map((t) => t.expert)).size;
      const shapes = [...new Set(l.experts.map((t) => shapeText(t.shape)))];
      parts.push(`<details class="experts"${open}><summary>routed experts: ${count(experts)} experts, ${esc(summaryText(summarizeTensors(l.experts)))}<br>`
        + `<small>names <code>${esc(expertPattern(l.experts))}</code>; shapes ${esc(shapes.slice(0, 4).join(', '))}</small></summary>`,
        `<table class="ex"><thead><tr><th>expert</th><th>role</th><th>cosine</th><th>centered</th><th>relL2</th><th>identical</th><th>note</th></tr></thead><tbody>`,
        ...l.experts.map((t) => expertRow(t, sampled)), '</tbody></table></details>');
    }
    parts.push('</details>');
  }
  parts.push('</section>');
  return parts.join('');
}

function footer(report: ComparisonReport): string {
  const r = report.run;
  return `<footer>Generated by ${esc(report.tool.name)} ${esc(report.tool.version)} (report schema ${esc(report.schemaVersion)}) on ${esc(r.startedAt)}; `
    + `${fmt(r.durationSeconds, 2)} s on ${esc(r.threads)} thread(s), reader ${esc(r.reader)}, kernel ${esc(report.weights.kernel)}, hash ${esc(report.weights.hashAlgorithm ?? 'none')}, `
    + `mode ${esc(report.weights.mode)}. Everything on this page comes from the JSON report of the same run.</footer>`;
}

