/**
 * What the HTML and Markdown reports both show, derived once from a ComparisonReport: the
 * sections typed (the architecture, tokenizer and controls sections arrive as unknown JSON and
 * may be absent or partial), per-layer similarity by role, tensors grouped by layer and expert,
 * plain-words meanings, and number formatting. Nothing here writes markup.
 */
import type { ComparisonReport } from '../../../core/src/compare/index.ts';
import type { ArchitectureSection } from '../../../core/src/arch/index.ts';
import type { TensorReport, WeightsSection } from '../../../core/src/report/index.ts';
import type { TokenizerComparison } from '../../../core/src/tokenizer/index.ts';
import type { VerdictLabel } from '../../../core/src/verdict/index.ts';
import { relatedThreshold } from '../../../core/src/policy.ts';

// ---------- numbers ----------

export function fmt(x: number | null | undefined, digits = 4): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '—';
  const s = x.toFixed(digits);
  return /^-0\.?0*$/.test(s) ? s.slice(1) : s;
}

export function pct(x: number | null | undefined, digits = 1): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '—' : `${(100 * x).toFixed(digits)}%`;
}

export function count(x: number | null | undefined): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toLocaleString('en-US');
}

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return `${i === 0 ? v : v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${units[i]}`;
}

export function params(n: unknown): string {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '—';
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}K`;
  return String(n);
}

/** A shape as a person writes it: 4096 × 512; a vector is its length; a 0-d tensor is a scalar. */
export function shapeText(shape: number[] | null | undefined): string {
  if (!shape) return '—';
  return shape.length === 0 ? 'scalar' : shape.join(' × ');
}

/** A value with its interval in sampled mode (when the interval has width). */
export function withInterval(value: number | null, ci: [number, number] | null | undefined, sampled: boolean): string {
  if (!sampled || !ci || value === null || ci[0] === ci[1]) return fmt(value);
  return `${fmt(value)} (${fmt(ci[0])} to ${fmt(ci[1])})`;
}

/** An evidence value as text: numbers rounded, strings as they are. */
export function valueText(v: unknown): string {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'number') return Number.isInteger(v) ? count(v) : fmt(v);
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** A config value as text: integers grouped, other numbers as they are. */
export function show(v: unknown): string {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'number') return Number.isInteger(v) ? count(v) : String(v);
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** The rows of the side-by-side architecture table, for both page formats. */
export function architectureFacts(a: ArchitectureSection['a'], b: ArchitectureSection['b']): [string, unknown, unknown][] {
  return [
    ['family (model_type)', `${a.familyLabel} (${a.modelType ?? '—'})`, `${b.familyLabel} (${b.modelType ?? '—'})`],
    ['hidden_size', a.hiddenSize, b.hiddenSize],
    ['layers', a.numLayers, b.numLayers],
    ['attention heads / kv heads', `${show(a.numAttentionHeads)} / ${show(a.numKeyValueHeads)}`, `${show(b.numAttentionHeads)} / ${show(b.numKeyValueHeads)}`],
    ['vocab_size', a.vocabSize, b.vocabSize],
    ['intermediate_size', a.intermediateSize, b.intermediateSize],
    ['routed experts (per token)', a.numRoutedExperts ? `${a.numRoutedExperts} (${show(a.expertsPerToken)})` : '—', b.numRoutedExperts ? `${b.numRoutedExperts} (${show(b.expertsPerToken)})` : '—'],
    ['total parameters', params(a.totalParams), params(b.totalParams)],
    ['active parameters', params(a.activeParams), params(b.activeParams)],
  ];
}

// ---------- the verdict in plain words ----------

export const LABELS: Record<VerdictLabel, { title: string; meaning: string; color: string }> = {
  derived: {
    title: 'derived',
    meaning: 'The weights of A and B are related far beyond what independently trained models show: one was derived from the other (fine-tuned, continued, converted, expanded), or both from a common parent. The comparison cannot tell which came first.',
    color: '#b2182b',
  },
  'partially-derived': {
    title: 'partially derived',
    meaning: 'Some components were reused from the other model while the rest was trained anew.',
    color: '#c05f00',
  },
  independent: {
    title: 'independent',
    meaning: 'No weight matrix is related beyond what independently trained models show, and no tensor is identical: the evidence is consistent with training from scratch.',
    color: '#1a7f37',
  },
  inconclusive: {
    title: 'inconclusive',
    meaning: 'The weights could not be compared well enough to decide.',
    color: '#57606a',
  },
};

export function labelInfo(label: string): { title: string; meaning: string; color: string } {
  return (LABELS as Record<string, { title: string; meaning: string; color: string }>)[label]
    ?? { title: label, meaning: 'A label this renderer does not know.', color: '#57606a' };
}

export const FINDING_COLORS: Record<string, string> = {
  copied: '#8e0b1f', related: '#b2182b', mixed: '#c05f00', unrelated: '#1a7f37', 'not compared': '#6e7781',
};

/** What each layer-alignment pattern means, as both renderings say it. */
export const LAYER_PATTERNS: Record<string, string> = {
  identity: 'each layer of B aligns with the same layer of A (the diagonal): depth unchanged',
  shifted: 'B\'s layers align with A\'s layers at an offset',
  duplicated: 'some of A\'s layers appear more than once in B: depth up-scaling',
  removed: 'B lacks some of A\'s layers: layers pruned',
  reordered: 'related layers exist, but not in order',
  none: 'no layer of B aligns with a related layer of A',
};

export const GLOSSARY: [string, string][] = [
  ['cosine', 'similarity of two tensors read as long vectors: 1 means the same direction, 0 unrelated. Misleading for vectors with a large common offset (norm scales near 1.0).'],
  ['centered cosine', 'the cosine after subtracting each tensor\'s mean (Pearson correlation of the elements): the main statistic here. Independently trained matrices give ≈ 0 (within ±0.02 on real models); a fine-tune keeps 0.9–1.0.'],
  ['related', 'a matrix counts as related when its centered cosine exceeds max(0.1, 10/√n), n its number of elements: five times the largest value seen between independently trained models.'],
  ['relL2', 'relative L2 distance ‖A − B‖ / ‖A‖: 0 for equal tensors, about 1.4 (√2) for unrelated ones of equal scale.'],
  ['byte-identical', 'same dtype, same shape and the same content hash: the bytes were copied.'],
  ['baseline', 'within model A, the same statistic between different layers of the same role. Layers of one model trained from scratch are unrelated to each other, so this shows what "unrelated" looks like for these exact shapes and this training recipe; a cross-model value inside the band is no more similar than unrelated layers.'],
  ['norm vectors', 'LayerNorm/RMSNorm scales start at 1.0, so their raw cosine is 0.95–0.99 even between unrelated models. They are read by centered cosine and against a null (what unrelated vectors with the same means and spreads give), and weigh little.'],
  ['null, z', 'the null is what unrelated tensors would give; z is how many of its standard deviations the observed value lies from it (|z| < 3 is ordinary).'],
  ['weight', 'how much a signal counts in the verdict, from 0 (context only) to 1.'],
  ['confidence', 'a score from the amount and agreement of the evidence, 0–100%; a guide, not a calibrated probability.'],
];

// ---------- sections, typed ----------

export type ArchitectureView = { ok: true; section: ArchitectureSection } | { ok: false; reason: string };
export type TokenizerView = { ok: true; section: TokenizerComparison } | { ok: false; reason: string };

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function reasonOf(x: unknown, fallback: string): string {
  return isObject(x) && typeof x.reason === 'string' ? x.reason : fallback;
}

export function architectureOf(report: ComparisonReport): ArchitectureView {
  // Read defensively: a report may come from a file or a cluster of another version.
  const a: unknown = report.architecture;
  if (isObject(a) && Array.isArray(a.diffs) && isObject(a.a) && isObject(a.b)) return { ok: true, section: a as unknown as ArchitectureSection };
  return { ok: false, reason: reasonOf(a, 'no architecture section in the report') };
}

export function tokenizerOf(report: ComparisonReport): TokenizerView {
  const t: unknown = report.tokenizer;
  if (isObject(t) && t.available === true && isObject(t.sharedTokens)) return { ok: true, section: t as unknown as TokenizerComparison };
  return { ok: false, reason: reasonOf(t, 'no tokenizer section in the report') };
}

// ---------- controls (read defensively: each part may be absent or null) ----------

export interface NormControlView { name: string; layer: number | null; role: string; cosine: number | null; centeredCosine: number | null; nullMean: number | null; nullSd: number | null; z: number | null }
export interface BaselinePointView { distance: number; n: number; mean: number; sd: number }
export interface MatchView { a: number; b: number; value: number | null }
export interface LayerMatrixView { role: string; layersA: unknown; layersB: unknown; matrix: (number | null)[][]; alignment: MatchView[]; pattern: string }
export interface ExpertMatchView {
  layer: number | null; expertsA: unknown; expertsB: unknown; matrix: (number | null)[][]; assignment: MatchView[];
  identityShare: number | null; meanMatched: number | null; pValue: number | null;
}
export interface EmbeddingControlView {
  sharedTokens: number | null; rowsCompared: number | null; cosine: number | null; centeredCosine: number | null;
  nullSd: number | null; z: number | null; note: string | null;
}
export interface ControlsView {
  present: boolean;
  norms: NormControlView[];
  baselines: [string, BaselinePointView[]][];
  layers: LayerMatrixView[];
  experts: ExpertMatchView[];
  embeddings: EmbeddingControlView | null;
}

const num = (x: unknown): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);
const str = (x: unknown): string | null => (typeof x === 'string' ? x : x === null || x === undefined ? null : String(x));
const list = (x: unknown): unknown[] => (Array.isArray(x) ? x : []);

function matrixOf(x: unknown): (number | null)[][] {
  return list(x).map((row) => list(row).map(num));
}

function matchesOf(x: unknown): MatchView[] {
  return list(x).filter(isObject).flatMap((m) => {
    const a = num(m.a);
    const b = num(m.b);
    return a === null || b === null ? [] : [{ a, b, value: num(m.value) }];
  });
}

export function controlsOf(report: ComparisonReport): ControlsView {
  const c = (report as { controls?: unknown }).controls;
  const empty: ControlsView = { present: false, norms: [], baselines: [], layers: [], experts: [], embeddings: null };
  if (!isObject(c)) return empty;
  const norms = list(isObject(c.norms) ? c.norms.tensors : null).filter(isObject).map((t) => ({
    name: str(t.name) ?? '', layer: num(t.layer), role: str(t.role) ?? '', cosine: num(t.cosine), centeredCosine: num(t.centeredCosine),
    nullMean: num(t.nullMean), nullSd: num(t.nullSd), z: num(t.z),
  }));
  const baselines: [string, BaselinePointView[]][] = isObject(c.baselines)
    ? Object.entries(c.baselines).map(([role, points]) => [role, list(points).filter(isObject).flatMap((p) => {
        const distance = num(p.distance);
        const mean = num(p.mean);
        return distance === null || mean === null ? [] : [{ distance, n: num(p.n) ?? 0, mean, sd: num(p.sd) ?? 0 }];
      })] as [string, BaselinePointView[]]).filter(([, points]) => points.length > 0)
    : [];
  const layers = list(c.layers).filter(isObject).map((l) => ({
    role: str(l.role) ?? '', layersA: l.layersA, layersB: l.layersB, matrix: matrixOf(l.matrix), alignment: matchesOf(l.alignment), pattern: str(l.pattern) ?? '',
  })).filter((l) => l.matrix.length > 0);
  const experts = list(c.experts).filter(isObject).map((e) => ({
    layer: num(e.layer), expertsA: e.expertsA, expertsB: e.expertsB, matrix: matrixOf(e.matrix), assignment: matchesOf(e.assignment),
    identityShare: num(e.identityShare), meanMatched: num(e.meanMatched), pValue: num(e.pValue),
  }));
  const e = c.embeddings;
  const embeddings = isObject(e) ? {
    sharedTokens: num(e.sharedTokens), rowsCompared: num(e.rowsCompared), cosine: num(e.cosine), centeredCosine: num(e.centeredCosine),
    nullSd: num(e.nullSd), z: num(e.z), note: str(e.note),
  } : null;
  return { present: true, norms, baselines, layers, experts, embeddings };
}

/** Axis labels of a matrix side: the listed indices when the report gives a list, else 0..count-1. */
export function axisLabels(side: unknown, length: number): string[] {
  if (Array.isArray(side) && side.length === length) return side.map((x) => String(x));
  return Array.from({ length }, (_, i) => String(i));
}

/** The band unrelated layers span: over every baseline role and distance, mean ± 2 sd. */
export function baselineBand(baselines: [string, BaselinePointView[]][]): { low: number; high: number; label: string } | null {
  const points = baselines.flatMap(([, p]) => p);
  if (points.length === 0) return null;
  const low = Math.min(...points.map((p) => p.mean - 2 * p.sd));
  const high = Math.max(...points.map((p) => p.mean + 2 * p.sd));
  const roles = baselines.map(([r]) => r).join(', ');
  return { low, high, label: `baseline: within A, ${roles} between different layers (mean ± 2 sd)` };
}

// ---------- per-layer similarity by role ----------

export function isMatrixTensor(t: TensorReport): boolean {
  return t.group !== 'norm' && t.group !== 'quant' && !t.role.endsWith('.bias') && (t.shape?.length ?? 0) >= 2;
}

export interface LayerValue {
  layer: number;
  /** The tensor's centered cosine, or the median over the role's tensors in that layer (experts). */
  value: number | null;
  /** Sampled interval of a single tensor, or the min–max range over several. */
  low: number | null;
  high: number | null;
  tensors: number;
  identical: number;
}

export interface RoleLine {
  role: string;
  group: string;
  values: LayerValue[];
  /** Several tensors per layer (routed experts): values are medians, whiskers the range. */
  aggregated: boolean;
}

export function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** Centered cosine per layer for each matrix role (norm vectors left out: their values mean little). */
export function layerLines(weights: WeightsSection): RoleLine[] {
  const byRole = new Map<string, { group: string; layers: Map<number, TensorReport[]> }>();
  for (const t of weights.tensors) {
    if (t.layer === null || !isMatrixTensor(t)) continue;
    const entry = byRole.get(t.role) ?? { group: t.group, layers: new Map() };
    const at = entry.layers.get(t.layer) ?? [];
    at.push(t);
    entry.layers.set(t.layer, at);
    byRole.set(t.role, entry);
  }
  const sampled = weights.mode === 'sampled';
  return [...byRole].map(([role, { group, layers }]) => {
    let aggregated = false;
    const values = [...layers].sort((a, b) => a[0] - b[0]).map(([layer, ts]) => {
      const vals = ts.map((t) => (t.identical ? (t.centeredCosine ?? 1) : t.centeredCosine)).filter((v): v is number => v !== null);
      const identical = ts.filter((t) => t.identical).length;
      if (ts.length === 1) {
        const t = ts[0]!;
        const ci = sampled ? t.ci?.centeredCosine ?? null : null;
        return { layer, value: vals[0] ?? null, low: ci?.[0] ?? null, high: ci?.[1] ?? null, tensors: 1, identical };
      }
      aggregated = true;
      return { layer, value: median(vals), low: vals.length ? Math.min(...vals) : null, high: vals.length ? Math.max(...vals) : null, tensors: ts.length, identical };
    });
    return { role, group, values, aggregated };
  }).filter((l) => l.values.some((v) => v.value !== null));
}

export const GROUP_LABELS: Record<string, string> = {
  attention: 'attention', mlp: 'dense MLP', router: 'router', shared_expert: 'shared experts', routed_expert: 'routed experts',
  embedding: 'embedding', lm_head: 'lm_head', other: 'other', norm: 'norm vectors',
};

const GROUP_ORDER = ['attention', 'mlp', 'router', 'shared_expert', 'routed_expert', 'embedding', 'lm_head', 'other'];

export function linesByGroup(lines: RoleLine[]): { group: string; label: string; lines: RoleLine[] }[] {
  const rank = (g: string) => (GROUP_ORDER.includes(g) ? GROUP_ORDER.indexOf(g) : GROUP_ORDER.length);
  const groups = [...new Set(lines.map((l) => l.group))].sort((a, b) => rank(a) - rank(b));
  return groups.map((group) => ({ group, label: GROUP_LABELS[group] ?? group, lines: lines.filter((l) => l.group === group).sort((a, b) => a.role.localeCompare(b.role)) }));
}

/** The relatedness threshold max(0.1, 10/√n) of the group's typical (median-sized) matrix. */
export function groupThreshold(weights: WeightsSection, group: string): number {
  const ns = weights.tensors.filter((t) => t.group === group && t.n !== null && isMatrixTensor(t)).map((t) => t.n!);
  const typical = median(ns);
  return typical === null ? 0.1 : relatedThreshold(typical);
}

// ---------- tensors grouped for the tables ----------

export interface LayerTensors {
  layer: number;
  /** Tensors of the layer that are not routed experts. */
  plain: TensorReport[];
  /** Routed-expert tensors, by expert then role. */
  experts: TensorReport[];
}

export function tensorLayout(tensors: TensorReport[]): { outside: TensorReport[]; layers: LayerTensors[] } {
  const outside: TensorReport[] = [];
  const layers = new Map<number, LayerTensors>();
  for (const t of tensors) {
    if (t.layer === null) { outside.push(t); continue; }
    const entry = layers.get(t.layer) ?? { layer: t.layer, plain: [], experts: [] };
    (t.expert !== null ? entry.experts : entry.plain).push(t);
    layers.set(t.layer, entry);
  }
  for (const l of layers.values()) l.experts.sort((a, b) => a.expert! - b.expert! || a.role.localeCompare(b.role));
  return { outside, layers: [...layers.values()].sort((a, b) => a.layer - b.layer) };
}

export interface GroupSummary {
  tensors: number;
  compared: number;
  identical: number;
  related: number;
  matrices: number;
  medianCentered: number | null;
  minCentered: number | null;
}

export function isRelated(t: TensorReport): boolean {
  if (t.identical) return true;
  if (t.centeredCosine === null || t.n === null) return false;
  const low = t.ci?.centeredCosine?.[0] ?? t.centeredCosine;
  return low > relatedThreshold(t.n);
}

/** Counts and the median / minimum centered cosine of the matrices among `tensors`. */
export function summarizeTensors(tensors: TensorReport[]): GroupSummary {
  const matrices = tensors.filter(isMatrixTensor);
  const values = matrices.map((t) => t.centeredCosine).filter((v): v is number => v !== null);
  return {
    tensors: tensors.length,
    compared: tensors.filter((t) => t.n !== null).length,
    identical: tensors.filter((t) => t.identical).length,
    related: matrices.filter(isRelated).length,
    matrices: matrices.length,
    medianCentered: median(values),
    minCentered: values.length ? Math.min(...values) : null,
  };
}

/** A name pattern for expert tensors: the expert index replaced by {e}. */
export function expertPattern(tensors: TensorReport[]): string {
  const names = [...new Set(tensors.map((t) => (t.name ?? t.nameB ?? '').replace(/\.experts\.\d+\./, '.experts.{e}.')))];
  return names.length <= 4 ? names.join(', ') : `${names.slice(0, 4).join(', ')}, …`;
}

/** Similarity class of a value, for colouring table cells. */
export function similarityClass(t: TensorReport): 'hi' | 'mid' | 'lo' | '' {
  if (t.centeredCosine === null || !isMatrixTensor(t)) return '';
  if (t.centeredCosine >= 0.9) return 'hi';
  return isRelated(t) ? 'mid' : 'lo';
}

/** What a row of the component table means (HTML and Markdown pages). */
export const COMPONENT_CAPTION = 'Aligned tests (the default): each cell is one layer of a component, its units (heads, neurons, experts, token rows) matched under the hidden-dimension alignment; the statistic is the matched mean centered cosine, the null what the same matching gives on unrelated pairs, p the cells\' Fisher-combined p-value. Same index: the share of units matched at their own position (low when reordered). Copied: every matrix byte-identical. Without the aligned tests (remote models), the columns count matrices compared by index.';

export const pText = (p: number | null | undefined) => (p === null || p === undefined ? '—' : p < 1e-4 ? p.toExponential(1) : p.toFixed(4));
