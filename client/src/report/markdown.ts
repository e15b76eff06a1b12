/**
 * `lineage compare --md FILE`: the report as Markdown, in the same order as the HTML page (the
 * verdict and its reasons first). Charts become small tables or are left out with a note; every
 * tensor is listed, except that very large reports summarize routed experts per layer and role.
 * Every string from the report is escaped: as a code span for names and tokens, with
 * backslashes and entities for prose, so no name can inject markup into a rendered page.
 */
import type { ComparisonReport } from '../../../core/src/compare/index.ts';
import type { TensorReport } from '../../../core/src/report/index.ts';
import { visible } from './svg.ts';
import {
  architectureOf, baselineBand, bytes, controlsOf, count, expertPattern, LAYER_PATTERNS, fmt, GLOSSARY, labelInfo, layerLines, linesByGroup, median,
  params, pct, shapeText, summarizeTensors, tensorLayout, tokenizerOf, valueText, withInterval, architectureFacts, show, COMPONENT_CAPTION, pText, type GroupSummary,
} from './view.ts';

/** Above this many tensors, routed experts are summarized per layer and role instead of listed. */
const EXPERT_LIST_LIMIT = 5000;
/** Layer × layer matrices up to this side are printed as tables. */
const MATRIX_TABLE_LIMIT = 16;

/** Prose from the report, safe in a paragraph or a table cell. */
export function mdText(value: unknown): string {
  return visible(String(value))
    .replace(/[\\`*_[\]#~|!]/g, (c) => `\\${c}`)
    .replace(/[&<>]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' })[c]!);
}

/** A name or token as a code span: literal in any renderer; pipes escaped for tables. */
export function mdCode(value: unknown): string {
  const text = visible(String(value)).replace(/\|/g, '\\|');
  if (text === '') return '` `';
  const longest = Math.max(0, ...(text.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longest + 1);
  const pad = text.startsWith('`') || text.endsWith('`') || (text.startsWith(' ') && text.endsWith(' ')) ? ' ' : '';
  return `${fence}${pad}${text}${pad}${fence}`;
}

function table(head: string[], rows: string[][], numeric: number[] = []): string {
  const align = head.map((_, i) => (numeric.includes(i) ? '---:' : '---'));
  return [`| ${head.join(' | ')} |`, `| ${align.join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

export function renderMarkdown(report: ComparisonReport): string {
  return [
    header(report),
    verdict(report),
    charts(report),
    controls(report),
    architecture(report),
    weights(report),
    tensors(report),
    footer(report),
  ].join('\n\n') + '\n';
}

function header(report: ComparisonReport): string {
  const rows = (['a', 'b'] as const).map((side) => {
    const m = report.models[side];
    return [`**${side.toUpperCase()}**`, mdCode(m.path), count(m.tensors), count(m.shards), bytes(m.bytes), params(m.paramsFromTensors)];
  });
  return `# Lineage report\n\nWas model B trained from scratch, or derived from model A (or both from a common parent)? Compared from their weights, architecture and tokenizer.\n\n`
    + table(['', 'model', 'tensors', 'shards', 'size', 'parameters'], rows, [2, 3, 4, 5]);
}

function verdict(report: ComparisonReport): string {
  const v = report.verdict;
  const info = labelInfo(v.label);
  const evidence = v.evidence.map((e) => [`**${mdText(e.signal)}**`, mdText(valueText(e.value)), mdText(e.baseline || '—'), fmt(e.weight, 1), mdText(e.explanation)]);
  const components = v.components.map((c) => [mdText(c.component), `**${mdText(c.finding)}**`, `${count(c.related)} of ${count(c.compared)}`, count(c.identical), fmt(c.medianCenteredCosine), fmt(c.medianNull), pText(c.pValue), fmt(c.sameIndexShare, 2)]);
  return `## Verdict: **${mdText(v.label.toUpperCase())}** (confidence ${Math.round(100 * v.confidence)}%)\n\n`
    + `> **${mdText(v.summary)}**\n>\n> ${mdText(info.meaning)}\n\n`
    + `### Why: the evidence\n\nEach signal with its value, what independent models show (the baseline), and how much it counts in the verdict (weight 0 to 1).\n\n`
    + table(['signal', 'value', 'baseline (independent models)', 'weight', 'what it means'], evidence, [3])
    + `\n\n### Findings by component\n\n${mdText(COMPONENT_CAPTION)}\n\n`
    + (components.length ? table(['component', 'finding', 'related (of compared)', 'identical', 'median statistic', 'median null', 'combined p', 'same index'], components, [2, 3, 4, 5, 6, 7]) : '_No component was judged._')
    + (v.procedure ? `\n\n_How the label was reached: ${mdText(v.procedure)}._` : '')
    + `\n\n### How to read this report\n\n${GLOSSARY.map(([term, text]) => `- **${mdText(term)}**: ${mdText(text)}`).join('\n')}`;
}

function charts(report: ComparisonReport): string {
  const out: string[] = ['## Charts (as tables)', '_The HTML report (`--html`) draws these as charts._'];
  const c = controlsOf(report);
  // Similarity by layer: one column per matrix role.
  const lines = layerLines(report.weights);
  out.push('### Similarity by layer');
  if (lines.length === 0) out.push('_No weight matrix inside a layer was compared._');
  else {
    const ordered = linesByGroup(lines).flatMap((g) => g.lines);
    const layers = [...new Set(ordered.flatMap((l) => l.values.map((v) => v.layer)))].sort((a, b) => a - b);
    const rows = layers.map((layer) => [String(layer), ...ordered.map((l) => fmt(l.values.find((v) => v.layer === layer)?.value ?? null, 3))]);
    const band = baselineBand(c.baselines);
    out.push(`Centered cosine of A's tensor with B's tensor of the same role in the same layer (${ordered.some((l) => l.aggregated) ? 'routed experts: median over experts; ' : ''}norm vectors left out). `
      + 'Independently trained weights sit near 0; a fine-tune stays near 1.'
      + (band ? ` Baseline (different layers of A, mean ± 2 sd): ${fmt(band.low, 3)} to ${fmt(band.high, 3)}.` : ' No within-model baseline was computed.')
      + (c.layers.some((l) => l.pattern !== 'identity' && l.pattern !== 'none') ? ' Layers are paired by index here; the layer alignment below pairs each layer of B with the layer of A it matches.' : ''),
    table(['layer', ...ordered.map((l) => mdCode(l.aggregated ? `${l.role} (median)` : l.role))], rows, ordered.map((_, i) => i + 1).concat(0)));
  }
  out.push('### Layer alignment');
  if (!c.present) out.push('_This report has no controls section: no layer × layer comparison was made._');
  else if (c.layers.length === 0) out.push('_No layer × layer matrix: no role is present in every layer of both models with one shape._');
  for (const l of c.layers) {
    out.push(`**${mdCode(l.role)}**: pattern **${mdText(l.pattern || '—')}**${LAYER_PATTERNS[l.pattern] ? `: ${mdText(LAYER_PATTERNS[l.pattern]!)}` : ''}.`);
    if (l.alignment.length) out.push(`Alignment (layer of B ← layer of A, centered cosine): ${l.alignment.map((m) => `B${m.b}←A${m.a} (${fmt(m.value, 3)})`).join(', ')}`);
    const cols = Math.max(0, ...l.matrix.map((r) => r.length));
    if (l.matrix.length <= MATRIX_TABLE_LIMIT && cols <= MATRIX_TABLE_LIMIT) {
      out.push(table(['A \\ B', ...Array.from({ length: cols }, (_, j) => String(j))], l.matrix.map((row, i) => [String(i), ...Array.from({ length: cols }, (_, j) => fmt(row[j] ?? null, 2))]), Array.from({ length: cols + 1 }, (_, j) => j)));
    } else out.push(`_The ${l.matrix.length} × ${cols} matrix is drawn in the HTML report and listed in the JSON report._`);
  }
  if (c.experts.length) {
    out.push('### Routed experts matched across the models',
      'The best one-to-one matching of A\'s experts to B\'s (linear assignment). The p-value is the chance that unrelated experts match this well (permutation null). The matrices are drawn in the HTML report.',
      table(['layer', 'experts (A × B)', 'matched to the same index', 'mean similarity of matched pairs', 'p-value'], c.experts.map((e) => [
        e.layer === null ? '—' : String(e.layer), `${e.matrix.length} × ${Math.max(0, ...e.matrix.map((r) => r.length))}`, pct(e.identityShare), fmt(e.meanMatched),
        e.pValue === null ? '—' : e.pValue < 1e-4 ? e.pValue.toExponential(1) : fmt(e.pValue),
      ]), [0, 1, 2, 3, 4]));
  }
  out.push(tokenizer(report));
  return out.join('\n\n');
}

function tokenizer(report: ComparisonReport): string {
  const tok = tokenizerOf(report);
  if (!tok.ok) return `### Tokenizer overlap\n\n_Tokenizers not compared: ${mdText(tok.reason)}_`;
  const t = tok.section;
  const merges = t.merges.available ? t.merges : null;
  const enc = t.encodingAgreement.available ? t.encodingAgreement : null;
  const rows = [
    ['tokens only in A', count(t.onlyA.count), ''],
    ['tokens in both', count(t.sharedTokens.count), `${pct(t.sharedTokens.shareOfA)} of A, ${pct(t.sharedTokens.shareOfB)} of B; >98% suggests reuse, 90–98% extension, <90% independent`],
    ['tokens only in B', count(t.onlyB.count), ''],
    ['vocabulary size', `${count(t.vocabSizeA)} vs ${count(t.vocabSizeB)}`, t.vocabSizeMatch.tokenizer ? 'same size' : 'sizes differ'],
    ['same id', pct(t.sameIdRate), 'shared tokens with the same id on both sides'],
    ['id order correlation', fmt(t.idAlignment.orderCorrelation, 3), 'Spearman over shared tokens; 1 means the same order'],
    ['merges: common prefix', merges ? count(merges.commonPrefix) : '—', merges ? 'leading merges identical in both orders' : (t.merges as { reason?: string }).reason ?? ''],
    ['late merges shared', merges ? pct(merges.late.sharedShare) : '—', merges ? `after the first ${count(merges.late.from)} (universal) merges` : ''],
    ['encodings identical', enc ? pct(enc.identicalIdsShare) : '—', enc ? `same token ids for the same text; boundary F1 ${fmt(enc.boundaryF1, 3)}` : (t.encodingAgreement as { reason?: string }).reason ?? ''],
    ['special tokens', `${count(t.specialTokens.shared)} shared`, `${count(t.specialTokens.onlyACount)} only in A, ${count(t.specialTokens.onlyBCount)} only in B (weak evidence: conventions)`],
  ].map(([a, b, c]) => [mdText(a), mdText(b), mdText(c)]);
  const samples = (label: string, list: string[]) => (list.length ? `\n\n**${label}:** ${[...new Set(list)].map((s) => mdCode(JSON.stringify(s))).join(' ')}` : '');
  return `### Tokenizer overlap\n\nRelation: **${mdText(t.relation)}**: ${mdText(t.relationReason)}\n\n${mdText(t.overlapBand)}. A shared tokenizer is weak evidence: tokenizers are reused legitimately.\n\n`
    + table(['measure', 'value', 'meaning'], rows)
    + samples('sample of tokens only in A', t.onlyA.sample) + samples('sample of tokens only in B', t.onlyB.sample)
    + samples('special tokens only in A', t.specialTokens.onlyA) + samples('special tokens only in B', t.specialTokens.onlyB);
}

function controls(report: ComparisonReport): string {
  const c = controlsOf(report);
  if (!c.present) return '## Controls\n\n_This report has no controls section._';
  const out = ['## Controls'];
  if (c.baselines.length) {
    out.push('### Within-model baselines', 'Centered cosine between layers of model A at a given distance (layer 0 left out): what unrelated layers of one model give.',
      table(['role', 'layer distance', 'pairs', 'mean', 'sd'], c.baselines.flatMap(([role, points]) => points.map((p) => [mdCode(role), String(p.distance), count(p.n), fmt(p.mean), fmt(p.sd)])), [1, 2, 3, 4]));
  }
  if (c.norms.length) {
    out.push('### Norm vectors (the LayerNorm trap)', 'Norm scales start at 1.0, so their raw cosine is near 1 even between unrelated models. The null is the raw cosine two unrelated vectors with the same means and spreads would give; z is the distance from it in standard deviations.',
      table(['norm vector', 'role', 'layer', 'raw cosine', 'null (mean ± sd)', 'z', 'centered cosine'], c.norms.map((t) => [
        mdCode(t.name), mdCode(t.role), t.layer === null ? '—' : String(t.layer), fmt(t.cosine), t.nullMean === null ? '—' : `${fmt(t.nullMean)} ± ${fmt(t.nullSd)}`, fmt(t.z, 1), fmt(t.centeredCosine),
      ]), [2, 3, 4, 5, 6]));
  }
  if (c.embeddings) {
    const e = c.embeddings;
    out.push('### Embeddings of shared tokens', 'Embedding rows of the tokens both vocabularies hold; unrelated rows give about 1/√d.',
      table(['shared tokens', 'rows compared', 'cosine', 'centered cosine', 'null sd', 'z', 'note'],
        [[count(e.sharedTokens), count(e.rowsCompared), fmt(e.cosine), fmt(e.centeredCosine), fmt(e.nullSd), fmt(e.z, 1), mdText(e.note ?? '')]], [0, 1, 2, 3, 4, 5]));
  }
  if (out.length === 1) out.push('_The controls section is empty._');
  return out.join('\n\n');
}


function architecture(report: ComparisonReport): string {
  const view = architectureOf(report);
  if (!view.ok) return `## Architecture\n\n_Not compared: ${mdText(view.reason)}_`;
  const { a, b, diffs, comparable, summary, notes } = view.section;
  const facts = architectureFacts(a, b);
  return [
    '## Architecture',
    `Relation: **${mdText(summary.relation)}**; ${count(summary.shapeDiffs)} difference(s) change tensor shapes. Identical configs are weak evidence: architectures are copied legitimately.`,
    table(['', 'A', 'B'], facts.map(([k, x, y]) => [mdText(k), mdText(show(x)), mdText(show(y))])),
    '### Differences',
    diffs.length ? table(['field', 'A', 'B', 'effect', 'meaning'], diffs.map((d) => [mdCode(d.label), mdText(show(d.a)), mdText(show(d.b)), mdText(d.effect), mdText(d.meaning)])) : 'The configs agree on every field compared.',
    '### What can be compared',
    table(['tensor group', 'status', 'pairs', 'note'], comparable.map((g) => [mdText(g.label), mdText(g.status), count(g.pairs), mdText(g.note)]), [2]),
    ...(notes.length ? ['Notes:', notes.map((x) => `- ${mdText(x)}`).join('\n')] : []),
  ].join('\n\n');
}

function weights(report: ComparisonReport): string {
  const w = report.weights;
  const s = w.summary;
  const sampled = w.mode === 'sampled';
  const conf = pct(w.confidence, 0);
  return [
    '## Weights by role',
    `${count(s.compared)} tensor pairs compared (${count(s.elementsCompared)} elements), **${count(s.identical)} byte-identical**, ${count(s.notCompared)} not comparable, `
      + `${count(s.onlyA)} only in A, ${count(s.onlyB)} only in B, ${count(s.failed)} failed. Kernel ${mdText(w.kernel)}, hash ${mdText(w.hashAlgorithm ?? 'none')}.`,
    sampled && w.sampling
      ? `**Sampled:** ${pct(w.sampling.fractionRead)} of the compared elements were read (--sample ${mdText(w.sampling.fraction)}, seed ${mdText(w.sampling.seed)}); figures in parentheses are ${conf} confidence intervals.`
      : 'Exact: every element of every compared tensor was read.',
    table(['role', 'group', 'tensors', 'identical', 'pooled cosine', 'pooled centered', 'mean centered', 'min centered', 'relL2'], w.roles.map((r) => [
      mdCode(r.role), mdText(r.group), count(r.tensors), count(r.identical), withInterval(r.cosine, r.ci.cosine, sampled), withInterval(r.centeredCosine, r.ci.centeredCosine, sampled),
      fmt(r.meanCenteredCosine), fmt(r.minCenteredCosine), withInterval(r.relL2, r.ci.relL2, sampled),
    ]), [2, 3, 4, 5, 6, 7, 8]),
    'Pooled values treat all tensors of a role as one vector. Norm roles read near 1.0 in raw cosine by construction: read their centered value.',
  ].join('\n\n');
}

const identical = (t: TensorReport) => (t.identical === null ? '—' : t.identical ? '**yes**' : 'no');

function tensorCells(t: TensorReport, sampled: boolean): string[] {
  const name = t.name ?? t.nameB ?? '';
  const nameCell = `${mdCode(name)}${t.nameB && t.name && t.nameB !== t.name ? ` (B: ${mdCode(t.nameB)})` : !t.name ? ' (only in B)' : !t.nameB ? ' (only in A)' : ''}`;
  const shape = t.shapeB && t.shape && t.shapeB.join() !== t.shape.join() ? `${shapeText(t.shape)} vs ${shapeText(t.shapeB)}` : shapeText(t.shape ?? t.shapeB);
  return [nameCell, mdCode(t.role), t.layer === null ? '—' : mdText(t.layer), t.expert === null ? '—' : mdText(t.expert), mdText(shape),
    withInterval(t.cosine, t.ci?.cosine, sampled), withInterval(t.centeredCosine, t.ci?.centeredCosine, sampled), withInterval(t.relL2, t.ci?.relL2, sampled), identical(t), mdText(t.note ?? '')];
}

const HEAD = ['name (A)', 'role', 'layer', 'expert', 'shape', 'cosine', 'centered', 'relL2', 'identical', 'note'];
const NUMERIC = [2, 3, 4, 5, 6, 7];

function summaryText(s: GroupSummary): string {
  return `${count(s.tensors)} tensors, ${count(s.identical)} identical, ${count(s.related)} of ${count(s.matrices)} matrices related; centered cosine median ${fmt(s.medianCentered)}, min ${fmt(s.minCentered)}`;
}

function tensors(report: ComparisonReport): string {
  const w = report.weights;
  const sampled = w.mode === 'sampled';
  const listExperts = w.tensors.length <= EXPERT_LIST_LIMIT;
  const { outside, layers } = tensorLayout(w.tensors);
  const out = ['## Every tensor', `${count(w.tensors.length)} tensor pairs, by layer.${sampled ? ` Figures in parentheses are ${pct(w.confidence, 0)} confidence intervals.` : ''} identical: byte-identical (— when not hashed).`
    + (listExperts ? '' : ` With ${count(w.tensors.length)} tensors, routed experts are summarized per layer and role; every expert's values are in the JSON and HTML reports.`)];
  if (outside.length) out.push('### Outside the layers', summaryText(summarizeTensors(outside)), table(HEAD, outside.map((t) => tensorCells(t, sampled)), NUMERIC));
  for (const l of layers) {
    out.push(`### Layer ${mdText(l.layer)}`, summaryText(summarizeTensors([...l.plain, ...l.experts])));
    const rows = l.plain.map((t) => tensorCells(t, sampled));
    if (l.experts.length && listExperts) rows.push(...l.experts.map((t) => tensorCells(t, sampled)));
    if (rows.length) out.push(table(HEAD, rows, NUMERIC));
    if (l.experts.length && !listExperts) {
      const byRole = new Map<string, TensorReport[]>();
      for (const t of l.experts) byRole.set(t.role, [...(byRole.get(t.role) ?? []), t]);
      out.push(`Routed experts (${mdCode(expertPattern(l.experts))}):`, table(['role', 'experts', 'identical', 'related', 'median centered', 'min centered', 'median relL2'], [...byRole].map(([role, ts]) => {
        const s = summarizeTensors(ts);
        return [mdCode(role), count(ts.length), count(s.identical), `${count(s.related)} of ${count(s.matrices)}`, fmt(s.medianCentered), fmt(s.minCentered),
          fmt(median(ts.map((t) => t.relL2).filter((x): x is number => x !== null)))];
      }), [1, 2, 3, 4, 5, 6]));
    }
  }
  return out.join('\n\n');
}

function footer(report: ComparisonReport): string {
  const r = report.run;
  return `---\n\n_Generated by ${mdText(report.tool.name)} ${mdText(report.tool.version)} (report schema ${mdText(report.schemaVersion)}) on ${mdText(r.startedAt)}; `
    + `${fmt(r.durationSeconds, 2)} s on ${mdText(r.threads)} thread(s), reader ${mdText(r.reader)}, mode ${mdText(report.weights.mode)}. Everything here comes from the JSON report of the same run._`;
}
