/**
 * The HTML and Markdown reports (`--html`, `--md`), rendered from real reports of synthetic
 * model pairs (and the real BabyLlama pair when ../shared/data is present): self-contained,
 * verdict first, every tensor listed, hostile names escaped, graceful without controls, and
 * small and fast on a 20,000-tensor report.
 */
import test from 'ava';
import { compareModels, type ComparisonReport } from '../core/src/compare/model-report.ts';
import type { TensorReport } from '../core/src/report/weights.ts';
import { renderHtml } from '../client/src/report/html.ts';
import { mdCode, mdText, renderMarkdown } from '../client/src/report/markdown.ts';
import { colorScale, escapeXml, heatmap, lineChart, stackedBar, ticks } from '../client/src/report/svg.ts';
import { HOSTILE_FOLDER, HOSTILE_TENSOR, writeHostilePair, writeSyntheticModels } from './helpers/report-models.ts';
import { sharedDataPresent, sharedPath, SKIP_REASON } from './helpers/shared-data.ts';
import { tempDir } from './helpers/tmpdir.ts';

const root = tempDir('lineage-report-');
const models = writeSyntheticModels(root);
const hostile = writeHostilePair(root);

const reports = new Map<string, Promise<ComparisonReport>>();
function report(key: string, a: string, b: string, options: { sample?: number } = {}): Promise<ComparisonReport> {
  if (!reports.has(key)) reports.set(key, compareModels(a, b, { ...options, seed: 5 }));
  return reports.get(key)!;
}
const derived = () => report('derived', models.base, models.light);
const independent = () => report('independent', models.base, models.independent);
const moeSampled = () => report('moe-sampled', models.moeBase, models.moeDerived, { sample: 0.2 });
const hostileReport = () => report('hostile', hostile.a, hostile.b);

/** t.regex without printing the whole page when it fails. */
function has(t: import('ava').ExecutionContext, text: string, re: RegExp, message?: string): void {
  t.true(re.test(text), message ?? `matches ${re}`);
}

function hasNot(t: import('ava').ExecutionContext, text: string, re: RegExp, message?: string): void {
  const found = text.match(re);
  t.is(found?.[0] ?? null, null, message ?? `does not match ${re}`);
}

/** What a self-contained page must not hold: requests of any kind, scripts, external styles. */
function assertSelfContained(t: import('ava').ExecutionContext, html: string): void {
  // (t.false on .test, not t.notRegex: a failure should not print a megabyte of page.)
  const found = (re: RegExp) => html.match(re)?.[0] ?? null;
  t.is(found(/https?:\/\/[^\s"'<]*/i), null, 'no http(s) reference');
  t.is(found(/<script/i), null, 'no script element');
  t.is(found(/<(?:link|iframe|object|embed|img|image|base|meta http-equiv)|@import|url\(/i), null, 'no external resource');
  t.is(found(/<[^>]*\s(?:src|href|xlink:href)\s*=[^>]*>/i), null, 'no src or href attribute');
  t.is(found(/<[^>]*\son[a-z]+\s*=[^>]*>/i), null, 'no event handler attribute');
  for (const tag of ['details', 'table', 'svg', 'section', 'tr']) {
    const open = html.match(new RegExp(`<${tag}[\\s>]`, 'g'))?.length ?? 0;
    const close = html.match(new RegExp(`</${tag}>`, 'g'))?.length ?? 0;
    t.is(open, close, `<${tag}> opened ${open} times, closed ${close} times`);
  }
}

function inOrder(t: import('ava').ExecutionContext, text: string, markers: string[]): void {
  const at = markers.map((m) => text.indexOf(m));
  at.forEach((i, k) => t.true(i >= 0, `${markers[k]} is present`));
  for (let k = 1; k < at.length; k++) t.true(at[k - 1]! < at[k]!, `${markers[k - 1]} comes before ${markers[k]}`);
}

test('HTML: a derived pair, verdict and reasons first, then charts, architecture and every tensor', async (t) => {
  const r = await derived();
  t.is(r.verdict.label, 'derived');
  const html = renderHtml(r);
  assertSelfContained(t, html);
  t.true(html.startsWith('<!doctype html>'));
  has(t, html, /<span class="badge">derived<\/span>/);
  has(t, html, /data-verdict="derived"/);
  t.true(html.includes(escapeXml(r.verdict.summary)));
  inOrder(t, html, ['id="verdict"', 'Why: the evidence', 'Findings by component', 'id="charts"', 'Similarity by layer', 'Layer alignment', 'Tokenizer overlap',
    'id="controls"', 'id="architecture"', 'id="weights"', 'id="tensors"']);
  for (const e of r.verdict.evidence) t.true(html.includes(escapeXml(e.signal)), `evidence ${e.signal}`);
  for (const c of r.verdict.components) t.true(html.includes(escapeXml(c.component)), `component ${c.component}`);
  for (const tensor of r.weights.tensors) t.true(html.includes(`<code>${escapeXml(tensor.name!)}</code>`), `tensor ${tensor.name} listed`);
  // Per-layer charts by group, and the layer × layer heatmap of the controls.
  has(t, html, /attention: A&#39;s layer i against B&#39;s layer i/);
  has(t, html, /dense MLP: A&#39;s layer i against B&#39;s layer i/);
  t.true(r.controls !== null && r.controls.layers.length > 0, 'the comparison has a layer alignment');
  has(t, html, /A&#39;s layers × B&#39;s layers/);
  has(t, html, /pattern: identity/);
  has(t, html, /Norm vectors \(the LayerNorm trap\)/);
  has(t, html, /Within-model baselines/);
  // Every number that reaches the page is a number or a dash, never NaN.
  hasNot(t, html, /NaN|undefined|\[object Object\]/);
});

test('HTML: an independent pair reads as independent, with the baseline band and no related matrix', async (t) => {
  const r = await independent();
  t.is(r.verdict.label, 'independent');
  const html = renderHtml(r);
  assertSelfContained(t, html);
  has(t, html, /data-verdict="independent"/);
  has(t, html, /baseline: within A, [^<]* between different layers \(mean ± 2 sd\)/);
  has(t, html, /pattern: none/);
  hasNot(t, html, /<td class="n hi">/, 'no matrix cell marked as strongly related');
});

test('HTML: a sampled MoE comparison shows intervals and folds routed experts by layer', async (t) => {
  const r = await moeSampled();
  t.is(r.weights.mode, 'sampled');
  const html = renderHtml(r);
  assertSelfContained(t, html);
  has(t, html, /Sampled:<\/b> [\d.]+% of the compared elements/);
  has(t, html, /<br><small>(?:±(?:\d\.\d{4}|\d\.\de-\d)|-?\d\.\d{4} to -?\d\.\d{4})<\/small>/, 'intervals under sampled values');
  const layers = new Set(r.weights.tensors.filter((x) => x.group === 'routed_expert').map((x) => x.layer));
  t.is(html.match(/<details class="experts"/g)?.length, layers.size, 'one expert group per layer');
  has(t, html, /routed experts: 8 experts, 24 tensors/);
  has(t, html, /model\.layers\.0\.mlp\.experts\.\{e\}\.down_proj\.weight/);
  has(t, html, /routed experts: A&#39;s layer i against B&#39;s layer i/);
  has(t, html, /expert\.down \(median\)/);
  has(t, html, /Routed experts matched across the models/);
});

test('HTML: hostile folder, tensor and token names are escaped, never markup', async (t) => {
  const r = await hostileReport();
  t.true(r.weights.tensors.some((x) => x.name === HOSTILE_TENSOR));
  t.is((r.tokenizer as { available: boolean }).available, true);
  const html = renderHtml(r);
  assertSelfContained(t, html);
  t.true(html.includes(escapeXml(HOSTILE_TENSOR)), 'the tensor name shows as text');
  t.true(html.includes(escapeXml(HOSTILE_FOLDER)), 'the folder name shows as text');
  t.true(html.includes('pipe|name`tick\\u0001'), 'control characters shown as escapes');
  hasNot(t, html, /[\u0000-\u0008\u000b\u000c\u000e-\u001f]/, 'no raw control character');
  t.true(html.includes(escapeXml(JSON.stringify(' <b>bold</b>'))), 'a token only B has is listed as text');
  hasNot(t, html, /<b>bold<\/b>/);
  has(t, html, /<title>lineage: [^<]*a&lt;img src=x onerror=alert\(3\)&gt;&amp;b/);
});

/** Markdown with its code spans removed: what a renderer would read as markup. */
function outsideCode(md: string): string {
  return md.replace(/(`+)(?!`)[\s\S]*?(?<!`)\1(?!`)/g, '');
}

/** Cells of a Markdown table row, split on unescaped pipes (as GFM does, code spans included). */
function cells(row: string): number {
  return row.split(/(?<!\\)\|/).length - 2;
}

test('Markdown: same order as the page, tables well formed, hostile names inert', async (t) => {
  for (const r of [await derived(), await hostileReport(), await moeSampled()]) {
    const md = renderMarkdown(r);
    inOrder(t, md, ['## Verdict: **', '### Why: the evidence', '### Findings by component', '## Charts', '### Similarity by layer', '### Layer alignment',
      '### Tokenizer overlap', '## Controls', '## Architecture', '## Weights by role', '## Every tensor']);
    t.true(md.includes(`**${r.verdict.label.toUpperCase()}**`));
    const outside = outsideCode(md).split('\n').map((line) => line.replace(/^>\s?/, '')).join('\n');
    hasNot(t, outside, /[<>]/, 'no angle bracket outside code spans');
    // Every table row has as many cells as its header.
    const lines = md.split('\n');
    for (let i = 0; i < lines.length; i++) {
      if (!lines[i]!.startsWith('| ') || !lines[i + 1]?.startsWith('| ---')) continue;
      const width = cells(lines[i]!);
      for (let j = i + 2; j < lines.length && lines[j]!.startsWith('|'); j++) t.is(cells(lines[j]!), width, `row ${j}: ${lines[j]}`);
    }
    for (const tensor of r.weights.tensors) t.true(md.includes(mdCode(tensor.name!)), `tensor ${tensor.name} listed`);
    hasNot(t, md, /NaN|undefined|\[object Object\]/);
  }
  const md = renderMarkdown(await hostileReport());
  t.true(md.includes(mdCode(HOSTILE_TENSOR)));
  t.true(md.includes('``pipe\\|name`tick\\u0001``'), 'a backtick in a name gets a longer fence');
  t.true(md.includes(mdCode(JSON.stringify('x|y'))));
});

test('mdText and mdCode escape what Markdown would read', (t) => {
  t.is(mdText('a|b *c* _d_ [e](f) <g> & `h`'), 'a\\|b \\*c\\* \\_d\\_ \\[e\\](f) &lt;g&gt; &amp; \\`h\\`');
  t.is(mdCode('x'), '`x`');
  t.is(mdCode('a`b'), '``a`b``');
  t.is(mdCode('`a'), '`` `a ``');
  t.is(mdCode('a|b'), '`a\\|b`');
  t.is(mdCode('line\nbreak'), '`line\\nbreak`');
});

test('controls absent, empty or partial: every part renders or is skipped with a reason', async (t) => {
  const base = await derived();
  const variants: [string, unknown][] = [
    ['absent', undefined],
    ['null', null],
    ['empty parts', { norms: null, baselines: null, layers: null, experts: null, embeddings: null }],
    ['malformed parts', { norms: { tensors: 'x' }, baselines: { 'attn.o': [{ distance: 'far' }] }, layers: [{ matrix: 'no' }], experts: [{}], embeddings: 3 }],
  ];
  for (const [name, controls] of variants) {
    const r = { ...base, controls } as unknown as ComparisonReport;
    if (controls === undefined) delete (r as { controls?: unknown }).controls;
    const html = renderHtml(r);
    assertSelfContained(t, html);
    has(t, html, /data-verdict="derived"/, name);
    hasNot(t, html, /NaN|undefined/, name);
    const md = renderMarkdown(r);
    has(t, md, /## Controls/, name);
    hasNot(t, md, /NaN|undefined/, name);
  }
  const none = renderHtml({ ...base, controls: null } as ComparisonReport);
  has(t, none, /This report has no controls section/);

  // Expert matching and shared-token embeddings, in the shape the controls section gives them.
  const moe = await moeSampled();
  const experts = [0, 1, 2].map((layer) => {
    const perm = [1, 0, 2, 3, 5, 4, 6, 7];
    return {
      layer, expertsA: 8, expertsB: 8,
      matrix: Array.from({ length: 8 }, (_, i) => Array.from({ length: 8 }, (_, j) => (perm[i] === j ? 0.95 : i === 7 && j === 0 ? null : 0.01 * ((i + j) % 3)))),
      assignment: perm.map((b, a) => ({ a, b, value: 0.95 })), identityShare: 0.5, meanMatched: 0.95, pValue: 1e-6,
    };
  });
  const embeddings = { sharedTokens: 250, rowsCompared: 250, cosine: 0.97, centeredCosine: 0.96, nullSd: 0.0625, z: 15.4, note: 'rows of shared <tokens>' };
  const r = { ...moe, controls: { ...moe.controls!, experts, embeddings } } as unknown as ComparisonReport;
  const html = renderHtml(r);
  assertSelfContained(t, html);
  t.is(html.match(/<title>layer \d+: experts of A × experts of B/g)?.length, 3, 'one heatmap per layer (at most six)');
  has(t, html, /<td class="n">50\.0%<\/td><td class="n">0\.9500<\/td><td class="n">1\.0e-6<\/td>/);
  has(t, html, /Embeddings of shared tokens/);
  has(t, html, /rows of shared &lt;tokens&gt;/);
  const md = renderMarkdown(r);
  has(t, md, /### Routed experts matched across the models/);
  has(t, md, /\| 0 \| 8 × 8 \| 50\.0% \| 0\.9500 \| 1\.0e-6 \|/);
  has(t, md, /rows of shared &lt;tokens&gt;/);
});

/** A report of 20,097 tensors (51 layers × 128 experts × 3, plus the rest), sampled, with full controls. */
function hugeReport(template: ComparisonReport): ComparisonReport {
  const proto = template.weights.tensors.find((x) => x.layer !== null)!;
  const tensors: TensorReport[] = [];
  let k = 0;
  const add = (name: string, role: string, group: TensorReport['group'], layer: number | null, expert: number | null, shape: number[]) => {
    const v = 0.9 + 0.09 * Math.sin(k++);
    tensors.push({
      ...proto, name, nameB: name, role, group, layer, expert, shape, shapeB: shape, n: shape.reduce((a, b) => a * b, 1),
      cosine: v, centeredCosine: v, relL2: 1 - v, identical: null, note: k % 97 === 0 ? 'sampled 12 of 120 row blocks (10.0% of elements); not hashed' : null,
      ci: { cosine: [v - 0.001, v + 0.001], centeredCosine: [v - 0.001, v + 0.001], relL2: [0.999 - v, 1.001 - v] },
      sampled: { blocks: 12, totalBlocks: 120, rowsPerBlock: 16, fraction: 0.1 },
    });
  };
  const layers = 51;
  const experts = 128;
  add('model.embed_tokens.weight', 'embedding', 'embedding', null, null, [151936, 4096]);
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}`;
    for (const x of ['q', 'k', 'v', 'o']) add(`${p}.self_attn.${x}_proj.weight`, `attn.${x}`, 'attention', l, null, [4096, 4096]);
    add(`${p}.input_layernorm.weight`, 'norm.input', 'norm', l, null, [4096]);
    add(`${p}.post_attention_layernorm.weight`, 'norm.post_attn', 'norm', l, null, [4096]);
    add(`${p}.mlp.gate.weight`, 'router.weight', 'router', l, null, [experts, 4096]);
    for (const x of ['gate', 'up', 'down']) add(`${p}.mlp.shared_expert.${x}_proj.weight`, `shared.${x}`, 'shared_expert', l, null, [1536, 4096]);
    for (let e = 0; e < experts; e++) for (const x of ['gate', 'up', 'down']) add(`${p}.mlp.experts.${e}.${x}_proj.weight`, `expert.${x}`, 'routed_expert', l, e, [1536, 4096]);
  }
  add('model.norm.weight', 'norm.final', 'norm', null, null, [4096]);
  add('lm_head.weight', 'lm_head', 'lm_head', null, null, [151936, 4096]);
  const square = (n: number, f: (i: number, j: number) => number) => Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => f(i, j)));
  const controls = {
    norms: { tensors: tensors.filter((x) => x.group === 'norm').map((x) => ({ name: x.name, layer: x.layer, role: x.role, cosine: 0.999, centeredCosine: 0.9, nullMean: 0.998, nullSd: 0.001, z: 1 })) },
    baselines: { 'attn.o': Array.from({ length: layers - 2 }, (_, d) => ({ distance: d + 1, n: layers - 2 - d, mean: 0.01, sd: 0.01 })) },
    layers: [{ role: 'attn.o', layersA: layers, layersB: layers, matrix: square(layers, (i, j) => (i === j ? 0.95 : 0.01)), alignment: Array.from({ length: layers }, (_, i) => ({ a: i, b: i, value: 0.95 })), pattern: 'identity' }],
    experts: Array.from({ length: layers }, (_, layer) => ({
      layer, expertsA: experts, expertsB: experts, matrix: square(experts, (i, j) => (i === j ? 0.9 : 0.02 * Math.cos(i * j))),
      assignment: Array.from({ length: experts }, (_, i) => ({ a: i, b: i, value: 0.9 })), identityShare: 1, meanMatched: 0.9, pValue: 1e-4,
    })),
    embeddings: null,
  };
  return {
    ...template,
    controls,
    weights: { ...template.weights, mode: 'sampled', tensors, summary: { ...template.weights.summary, compared: tensors.length, tensorsA: tensors.length, tensorsB: tensors.length } },
  } as unknown as ComparisonReport;
}

test('a 20,000-tensor report renders in seconds, and the page stays small', async (t) => {
  const big = hugeReport(await moeSampled());
  t.true(big.weights.tensors.length >= 20000);
  let start = performance.now();
  const html = renderHtml(big);
  const htmlMs = performance.now() - start;
  start = performance.now();
  const md = renderMarkdown(big);
  const mdMs = performance.now() - start;
  t.log(`${big.weights.tensors.length} tensors: HTML ${(html.length / 1e6).toFixed(2)} MB in ${htmlMs.toFixed(0)} ms; Markdown ${(md.length / 1e6).toFixed(2)} MB in ${mdMs.toFixed(0)} ms`);
  assertSelfContained(t, html);
  t.true(htmlMs < 15000, `HTML rendered in ${htmlMs.toFixed(0)} ms`);
  t.true(mdMs < 15000, `Markdown rendered in ${mdMs.toFixed(0)} ms`);
  t.true(html.length < 5e6, `HTML is ${html.length} bytes`);
  t.true(md.length < 2e6, `Markdown is ${md.length} bytes`);
  // Layers and their experts fold away; only a few of the 51 expert matrices are drawn.
  t.false(/<details open><summary><b>layer/.test(html), 'large reports start folded');
  t.is(html.match(/<details class="experts"/g)?.length, 51);
  t.is(html.match(/<title>layer \d+: experts of A × experts of B/g)?.length, 6);
  has(t, html, /Matrices of 6 of 51 layers are drawn/);
  // Every tensor is still in the page: expert rows by index within their layer's group.
  t.is(html.match(/<tr><td>\d+<td>expert\./g)?.length, 51 * 128 * 3);
  has(t, md, /routed experts are summarized per layer and role/);
});

test('svg helpers: colour scale, ticks, heatmap modes and escaped labels', (t) => {
  t.is(colorScale(1), '#b2182b');
  t.is(colorScale(-1), '#2166ac');
  t.is(colorScale(0), '#f7f7f7');
  t.is(colorScale(null), '#d0d0d0');
  t.is(colorScale(Number.NaN), '#d0d0d0');
  t.deepEqual(ticks(-0.2, 1.05, 6), [-0.2, 0, 0.2, 0.4, 0.6, 0.8, 1]);
  const small = heatmap({ title: '<t>', matrix: [[1, null], [0, -1]], rowLabels: ['<a>', 'b'], colLabels: ['c', 'd'], rowTitle: 'r', colTitle: 'c', cellTitle: (r, c, v) => `${r},${c}:${v}` });
  t.is(small.match(/<rect x="\d+" y="\d+" width="\d+" height="\d+" fill="#[0-9a-f]{6}"><title>/g)?.length, 4, 'small matrices: a rect with a tooltip per cell');
  t.true(small.includes('&lt;a&gt;') && small.includes('<title>&lt;t&gt;</title>'));
  const big = heatmap({ title: 'big', matrix: Array.from({ length: 100 }, (_, i) => Array.from({ length: 100 }, (_, j) => Math.cos(i + j))), rowLabels: [], colLabels: [], rowTitle: 'r', colTitle: 'c' });
  t.false(big.includes('<title>0,'), 'large matrices: no per-cell elements');
  t.true((big.match(/<path fill=/g)?.length ?? 0) <= 41, 'one path per colour level');
  t.true(big.length < 200_000, `a 100 × 100 heatmap is ${big.length} bytes`);
  const chart = lineChart({ title: 'x', xLabel: 'layer', yLabel: 'y', series: [{ label: '<s>', color: '#000', points: [{ x: 0, y: 0.5, low: 0.4, high: 0.6 }, { x: 1, y: null }, { x: 2, y: 1 }] }], band: { low: -0.05, high: 0.05, label: 'band' } });
  t.true(chart.includes('&lt;s&gt;'));
  t.is(chart.match(/<circle/g)?.length, 2, 'null points are gaps, not zeros');
  hasNot(t, chart, /NaN/);
  const bar = stackedBar({ title: 'v', segments: [{ label: 'a', value: 1 }, { label: 'b', value: 3 }] });
  has(t, bar, /75\.0%|<title>b: 3<\/title>/);
});

if (sharedDataPresent) {
  test('real weights: BabyLlama-105 vs BabyLlama-361 (independent runs) renders as independent', async (t) => {
    const r = await compareModels(sharedPath('models/babyllama-105'), sharedPath('models/babyllama-361'));
    const html = renderHtml(r);
    assertSelfContained(t, html);
    has(t, html, /data-verdict="independent"/);
    has(t, html, /vocab_size/, 'the vocabulary difference is in the architecture table');
    has(t, html, /shapes differ: \[105,128\] vs \[361,128\]/);
    const md = renderMarkdown(r);
    has(t, md, /## Verdict: \*\*INDEPENDENT\*\*/);
  });
} else {
  test.skip(`real weights: BabyLlama-105 vs BabyLlama-361 renders as independent (skipped: ${SKIP_REASON})`, () => {});
}

