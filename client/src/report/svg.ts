/**
 * Small inline-SVG charts for the HTML report: a line chart (per-layer similarity with a baseline
 * band), a heatmap (layer × layer, expert × expert) with its colour scale, and bar charts. Pure
 * string builders: no DOM, no scripts, no external fonts, so a page that embeds them is
 * self-contained. Every text that reaches the markup goes through escapeXml.
 */

const FONT = 'system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif';

/** Control characters and lone surrogates shown as escapes: tensor names and tokens can hold anything. */
export function visible(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g,
    (ch) => ({ '\n': '\\n', '\r': '\\r', '\t': '\\t' })[ch] ?? `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Escapes text for HTML or SVG content and attribute values. */
export function escapeXml(value: unknown): string {
  return visible(String(value)).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const esc = escapeXml;

/** Rough width of a label at 11 px (no font metrics without a browser). */
function textWidth(text: string): number {
  return 6.2 * visible(text).length;
}

/** Short decimal for coordinates: keeps the markup small. */
function c(x: number): string {
  return String(Math.round(x * 10) / 10);
}

/** A categorical palette (Tableau 10): distinguishable, and readable when printed. */
export const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

/** Diverging red-blue scale: -1 blue, 0 near white, +1 dark red (similar = hot). */
const STOPS: [number, [number, number, number]][] = [
  [-1, [33, 102, 172]], [-2 / 3, [103, 169, 207]], [-1 / 3, [209, 229, 240]], [0, [247, 247, 247]],
  [1 / 3, [253, 219, 199]], [2 / 3, [239, 138, 98]], [1, [178, 24, 43]],
];

const NULL_FILL = '#d0d0d0';

/** Colour of a value on the diverging scale over `domain` (its middle maps to white). */
export function colorScale(value: number | null, domain: [number, number] = [-1, 1]): string {
  if (value === null || !Number.isFinite(value)) return NULL_FILL;
  const [lo, hi] = domain;
  const t = Math.max(-1, Math.min(1, hi === lo ? 0 : (2 * (value - lo)) / (hi - lo) - 1));
  let i = 0;
  while (i < STOPS.length - 2 && t > STOPS[i + 1]![0]) i++;
  const [t0, a] = STOPS[i]!;
  const [t1, b] = STOPS[i + 1]!;
  const f = (t - t0) / (t1 - t0);
  const mix = (k: number) => Math.round(a[k]! + f * (b[k]! - a[k]!)).toString(16).padStart(2, '0');
  return `#${mix(0)}${mix(1)}${mix(2)}`;
}

/** Evenly spaced, round tick values covering [lo, hi]. */
export function ticks(lo: number, hi: number, target = 6): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  // The round step closest to the wanted spacing (on a log scale).
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).reduce((best, s) => (Math.abs(Math.log(s / raw)) < Math.abs(Math.log(best / raw)) ? s : best));
  const out: number[] = [];
  for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + 1e-9; k++) out.push(Number((k * step).toPrecision(12)) + 0);
  return out;
}

function tickLabel(v: number): string {
  const s = Math.abs(v) < 1e-12 ? '0' : String(Math.round(v * 1000) / 1000);
  return s.replace('-', '−');
}

function svgOpen(width: number, height: number, title: string): string {
  return `<svg viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" `
    + `font-family="${FONT}" font-size="11" style="max-width:100%;height:auto"><title>${esc(title)}</title>`;
}

export interface LinePoint {
  x: number;
  y: number | null;
  /** Whisker: an interval or a range (drawn as a vertical bar). */
  low?: number | null;
  high?: number | null;
  /** Tooltip. */
  title?: string;
}

export interface LineSeries {
  label: string;
  color: string;
  points: LinePoint[];
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: LineSeries[];
  /** A shaded horizontal band: what unrelated tensors give. */
  band?: { low: number; high: number; label: string } | null;
  /** Dashed horizontal lines (a threshold). */
  rules?: { y: number; label: string }[];
  yDomain?: [number, number];
  width?: number;
  height?: number;
}

/** Lines over integer x (layers), with optional whiskers, a band and dashed rules; legend below. */
export function lineChart(o: LineChartOptions): string {
  const width = o.width ?? 520;
  const plotH = (o.height ?? 240);
  const m = { left: 48, right: 14, top: 22, bottom: 38 };
  // Legend items flow left to right and wrap: labels differ in length.
  const legend: { x: number; row: number }[] = [];
  let lx = m.left;
  let row = 0;
  for (const s of o.series) {
    const w = 18 + textWidth(s.label) + 16;
    if (lx > m.left && lx + w > width - m.right) { lx = m.left; row++; }
    legend.push({ x: lx, row });
    lx += w;
  }
  const legendRows = (o.series.length ? row + 1 : 0) + (o.band ? 1 : 0);
  const height = m.top + plotH + m.bottom + legendRows * 16 + 4;
  const xs = o.series.flatMap((s) => s.points.map((p) => p.x));
  let xMin = xs.length ? Math.min(...xs) : 0;
  let xMax = xs.length ? Math.max(...xs) : 1;
  if (xMin === xMax) { xMin -= 0.5; xMax += 0.5; }
  const ys = o.series.flatMap((s) => s.points.flatMap((p) => [p.y, p.low ?? null, p.high ?? null])).filter((v): v is number => v !== null && Number.isFinite(v));
  const [yMin, yMax] = o.yDomain ?? [Math.min(0, ...ys), Math.max(1, ...ys)];
  const pw = width - m.left - m.right;
  const X = (x: number) => m.left + ((x - xMin) / (xMax - xMin)) * pw;
  const Y = (y: number) => m.top + (1 - (Math.max(yMin, Math.min(yMax, y)) - yMin) / (yMax - yMin)) * plotH;
  const parts: string[] = [svgOpen(width, height, o.title)];
  parts.push(`<text x="${m.left}" y="14" font-weight="600" font-size="12">${esc(o.title)}</text>`);
  // Grid and y axis.
  for (const t of ticks(yMin, yMax, 6)) {
    parts.push(`<line x1="${m.left}" x2="${width - m.right}" y1="${c(Y(t))}" y2="${c(Y(t))}" stroke="${t === 0 ? '#888' : '#e4e4e4'}"/>`,
      `<text x="${m.left - 5}" y="${c(Y(t) + 3.5)}" text-anchor="end" fill="#555">${tickLabel(t)}</text>`);
  }
  if (o.band) {
    const top = Y(Math.min(yMax, o.band.high));
    const bottom = Y(Math.max(yMin, o.band.low));
    parts.push(`<rect x="${m.left}" y="${c(top)}" width="${c(pw)}" height="${c(Math.max(1.5, bottom - top))}" fill="#9aa5b1" fill-opacity="0.35"><title>${esc(o.band.label)}</title></rect>`);
  }
  for (const rule of o.rules ?? []) {
    if (rule.y < yMin || rule.y > yMax) continue;
    parts.push(`<line x1="${m.left}" x2="${width - m.right}" y1="${c(Y(rule.y))}" y2="${c(Y(rule.y))}" stroke="#555" stroke-dasharray="4 3"/>`,
      `<text x="${width - m.right - 2}" y="${c(Y(rule.y) - 3)}" text-anchor="end" fill="#444" font-size="10">${esc(rule.label)}</text>`);
  }
  // x axis: integer ticks, thinned to fit.
  const span = xMax - xMin;
  const step = Math.max(1, Math.ceil(span / Math.max(1, Math.floor(pw / 28))));
  for (let x = Math.ceil(xMin); x <= xMax; x += step) {
    parts.push(`<text x="${c(X(x))}" y="${m.top + plotH + 14}" text-anchor="middle" fill="#555">${x}</text>`);
  }
  parts.push(`<line x1="${m.left}" x2="${width - m.right}" y1="${m.top + plotH}" y2="${m.top + plotH}" stroke="#888"/>`,
    `<text x="${c(m.left + pw / 2)}" y="${m.top + plotH + 30}" text-anchor="middle" fill="#333">${esc(o.xLabel)}</text>`,
    `<text transform="translate(12 ${c(m.top + plotH / 2)}) rotate(-90)" text-anchor="middle" fill="#333">${esc(o.yLabel)}</text>`);
  // Series: whiskers, then lines, then points (so points sit on top).
  const radius = Math.max(1.5, Math.min(3, pw / Math.max(1, span) / 4));
  for (const s of o.series) {
    const pts = [...s.points].sort((a, b) => a.x - b.x);
    for (const p of pts) {
      if (p.low === undefined || p.low === null || p.high === undefined || p.high === null || p.high - p.low <= 0) continue;
      parts.push(`<line x1="${c(X(p.x))}" x2="${c(X(p.x))}" y1="${c(Y(p.low))}" y2="${c(Y(p.high))}" stroke="${s.color}" stroke-opacity="0.55" stroke-width="2"/>`);
    }
    let d = '';
    let pen = false;
    for (const p of pts) {
      if (p.y === null || !Number.isFinite(p.y)) { pen = false; continue; }
      d += `${pen ? 'L' : 'M'}${c(X(p.x))} ${c(Y(p.y))}`;
      pen = true;
    }
    if (d) parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.8"/>`);
    for (const p of pts) {
      if (p.y === null || !Number.isFinite(p.y)) continue;
      parts.push(`<circle cx="${c(X(p.x))}" cy="${c(Y(p.y))}" r="${c(radius)}" fill="${s.color}">${p.title ? `<title>${esc(p.title)}</title>` : ''}</circle>`);
    }
  }
  // Legend.
  const ly0 = m.top + plotH + m.bottom + 8;
  o.series.forEach((s, i) => {
    const { x, row: r } = legend[i]!;
    const y = ly0 + r * 16;
    parts.push(`<rect x="${c(x)}" y="${y - 8}" width="14" height="4" fill="${s.color}"/><text x="${c(x + 18)}" y="${y - 3}">${esc(s.label)}</text>`);
  });
  if (o.band) {
    const ly = ly0 + (legendRows - 1) * 16;
    parts.push(`<rect x="${m.left}" y="${ly - 10}" width="14" height="8" fill="#9aa5b1" fill-opacity="0.35"/><text x="${m.left + 18}" y="${ly - 3}">${esc(o.band.label)}</text>`);
  }
  parts.push('</svg>');
  return parts.join('');
}

export interface HeatmapOptions {
  title: string;
  matrix: (number | null)[][];
  rowLabels: string[];
  colLabels: string[];
  rowTitle: string;
  colTitle: string;
  domain?: [number, number];
  /** Cells to outline (an assignment) or to join with a line (a monotone alignment). */
  marks?: { row: number; col: number }[];
  markStyle?: 'path' | 'boxes';
  /** Draw the marks faintly (an alignment through unrelated cells means little). */
  marksMuted?: boolean;
  /** Largest side of the cell area in pixels. */
  maxSide?: number;
  /** Tooltip of one cell; only drawn when the matrix is small enough for per-cell elements. */
  cellTitle?: (row: number, col: number, value: number | null) => string;
}

/** Cells up to this count are separate elements with tooltips; larger matrices are drawn as one path per colour. */
const PER_CELL_LIMIT = 1024;
const LEVELS = 40;

/** A matrix as coloured cells with axis labels and the colour scale beside it. */
export function heatmap(o: HeatmapOptions): string {
  const rows = o.matrix.length;
  const cols = Math.max(0, ...o.matrix.map((r) => r.length));
  const domain = o.domain ?? [-1, 1];
  const side = o.maxSide ?? 320;
  const cell = Math.max(1, Math.min(40, Math.floor(side / Math.max(rows, cols, 1))));
  const m = { left: 58, top: 54, right: 90, bottom: 14 };
  const gw = cols * cell;
  const gh = rows * cell;
  const width = Math.max(m.left + gw + m.right, 260);
  const legendH = Math.max(80, Math.min(gh, 200));
  const height = m.top + Math.max(gh, legendH + 16) + m.bottom;
  const parts: string[] = [svgOpen(width, height, o.title)];
  parts.push(`<text x="4" y="14" font-weight="600" font-size="12">${esc(o.title)}</text>`);
  const x0 = m.left;
  const y0 = m.top;
  if (rows * cols <= PER_CELL_LIMIT) {
    for (let r = 0; r < rows; r++) for (let k = 0; k < cols; k++) {
      const v = o.matrix[r]![k] ?? null;
      const tip = o.cellTitle ? `<title>${esc(o.cellTitle(r, k, v))}</title>` : '';
      parts.push(`<rect x="${x0 + k * cell}" y="${y0 + r * cell}" width="${cell}" height="${cell}" fill="${colorScale(v, domain)}">${tip}</rect>`);
    }
  } else {
    // One path per quantized colour, cells merged into runs along each row: unrelated cells
    // (near 0) share a colour, so a 128 × 128 matrix stays at a few kilobytes.
    const fillOf = (v: number | null) => colorScale(v === null || !Number.isFinite(v) ? null
      : domain[0] + (Math.round(((v - domain[0]) / (domain[1] - domain[0])) * LEVELS) / LEVELS) * (domain[1] - domain[0]), domain);
    const paths = new Map<string, string[]>();
    for (let r = 0; r < rows; r++) {
      for (let k = 0; k < cols;) {
        const fill = fillOf(o.matrix[r]![k] ?? null);
        let end = k + 1;
        while (end < cols && fillOf(o.matrix[r]![end] ?? null) === fill) end++;
        const w = (end - k) * cell;
        const list = paths.get(fill) ?? [];
        list.push(`M${x0 + k * cell} ${y0 + r * cell}h${w}v${cell}h-${w}z`);
        paths.set(fill, list);
        k = end;
      }
    }
    for (const [fill, d] of paths) parts.push(`<path fill="${fill}" d="${d.join('')}"/>`);
  }
  parts.push(`<rect x="${x0}" y="${y0}" width="${gw}" height="${gh}" fill="none" stroke="#999"/>`);
  if (o.marks?.length) {
    const ink = o.marksMuted ? '#111" stroke-opacity="0.35" stroke-dasharray="3 2' : '#111';
    const centre = (p: { row: number; col: number }) => [x0 + (p.col + 0.5) * cell, y0 + (p.row + 0.5) * cell] as const;
    if (o.markStyle === 'boxes') {
      const d = o.marks.map((p) => `M${x0 + p.col * cell + 0.5} ${y0 + p.row * cell + 0.5}h${cell - 1}v${cell - 1}h-${cell - 1}z`).join('');
      parts.push(`<path d="${d}" fill="none" stroke="${ink}" stroke-width="${cell >= 6 ? 1.2 : 0.6}"/>`);
    } else {
      const d = o.marks.map((p, i) => `${i ? 'L' : 'M'}${c(centre(p)[0])} ${c(centre(p)[1])}`).join('');
      parts.push(`<path d="${d}" fill="none" stroke="${ink}" stroke-width="1.5"/>`);
      if (o.marks.length <= 200 && !o.marksMuted) {
        for (const p of o.marks) parts.push(`<circle cx="${c(centre(p)[0])}" cy="${c(centre(p)[1])}" r="${c(Math.max(1.2, Math.min(3, cell / 4)))}" fill="#111"/>`);
      }
    }
  }
  // Axis labels, thinned so they do not touch: rows 11 px apart, columns by their width.
  const widest = Math.max(1, ...o.colLabels.slice(0, cols).map((l) => visible(String(l)).length), String(cols - 1).length);
  const everyCol = niceStep((widest * 5.4 + 4) / cell);
  const every = niceStep(11 / cell);
  for (let k = 0; k < cols; k += everyCol) {
    parts.push(`<text x="${c(x0 + (k + 0.5) * cell)}" y="${y0 - 4}" text-anchor="middle" fill="#555" font-size="9">${esc(o.colLabels[k] ?? k)}</text>`);
  }
  for (let r = 0; r < rows; r += every) {
    parts.push(`<text x="${x0 - 4}" y="${c(y0 + (r + 0.5) * cell + 3)}" text-anchor="end" fill="#555" font-size="9">${esc(o.rowLabels[r] ?? r)}</text>`);
  }
  parts.push(`<text x="${c(x0 + gw / 2)}" y="${y0 - 20}" text-anchor="middle" fill="#333">${esc(o.colTitle)} →</text>`,
    `<text transform="translate(14 ${c(y0 + gh / 2)}) rotate(-90)" text-anchor="middle" fill="#333">${esc(o.rowTitle)} →</text>`);
  parts.push(colorLegendAt(x0 + gw + 18, y0, legendH, domain));
  parts.push('</svg>');
  return parts.join('');
}

/** The smallest of 1, 2, 5, 10, 20, 50, ... that is at least `n`: label every k-th cell. */
function niceStep(n: number): number {
  for (let mag = 1; ; mag *= 10) for (const m of [1, 2, 5]) if (m * mag >= n) return m * mag;
}

/** A vertical colour bar with ticks, placed at (x, y) inside a chart. */
function colorLegendAt(x: number, y: number, h: number, domain: [number, number]): string {
  const steps = 24;
  const parts: string[] = [];
  for (let i = 0; i < steps; i++) {
    const v = domain[1] - ((i + 0.5) / steps) * (domain[1] - domain[0]);
    parts.push(`<rect x="${x}" y="${c(y + (i * h) / steps)}" width="12" height="${c(h / steps + 0.6)}" fill="${colorScale(v, domain)}"/>`);
  }
  parts.push(`<rect x="${x}" y="${y}" width="12" height="${h}" fill="none" stroke="#999"/>`);
  for (const t of ticks(domain[0], domain[1], 4)) {
    const ty = y + ((domain[1] - t) / (domain[1] - domain[0])) * h;
    parts.push(`<line x1="${x + 12}" x2="${x + 15}" y1="${c(ty)}" y2="${c(ty)}" stroke="#666"/><text x="${x + 18}" y="${c(ty + 3.5)}" fill="#555">${tickLabel(t)}</text>`);
  }
  parts.push(`<rect x="${x}" y="${y + h + 6}" width="12" height="8" fill="${NULL_FILL}"/><text x="${x + 16}" y="${y + h + 14}" fill="#555" font-size="9">no value</text>`);
  return parts.join('');
}

export interface Bar {
  label: string;
  value: number;
  color?: string;
  /** Shown after the value (a unit, a count). */
  text?: string;
}

/** Horizontal bars on one scale (0 to max), value text at the end of each bar. */
export function barChart(o: { title: string; bars: Bar[]; max?: number; width?: number }): string {
  const width = o.width ?? 520;
  const labelW = Math.min(200, 16 + Math.max(24, ...o.bars.map((b) => textWidth(b.label))));
  const barH = 16;
  const gap = 6;
  const height = 24 + o.bars.length * (barH + gap) + 4;
  const max = o.max ?? Math.max(1e-12, ...o.bars.map((b) => b.value));
  const room = width - labelW - 12 - Math.max(40, ...o.bars.map((b) => textWidth(b.text ?? String(b.value))));
  const parts: string[] = [svgOpen(width, height, o.title), `<text x="4" y="14" font-weight="600" font-size="12">${esc(o.title)}</text>`];
  o.bars.forEach((b, i) => {
    const y = 24 + i * (barH + gap);
    const w = Math.max(0, (Math.min(max, Math.max(0, b.value)) / max) * room);
    parts.push(`<rect x="${c(labelW)}" y="${y}" width="${c(room)}" height="${barH}" fill="#eef0f2"/>`,`<text x="${c(labelW - 6)}" y="${y + 12}" text-anchor="end">${esc(b.label)}</text>`,
      `<rect x="${c(labelW)}" y="${y}" width="${c(w)}" height="${barH}" fill="${b.color ?? PALETTE[0]}"/>`,
      `<text x="${c(labelW + room + 6)}" y="${y + 12}" fill="#333">${esc(b.text ?? String(b.value))}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

/** One bar split into parts (e.g. tokens only in A | shared | only in B), with a legend below. */
export function stackedBar(o: { title: string; segments: Bar[]; width?: number }): string {
  const width = o.width ?? 640;
  const total = o.segments.reduce((s, x) => s + Math.max(0, x.value), 0);
  const m = { left: 4, right: 4 };
  const barW = width - m.left - m.right;
  const height = 24 + 26 + 8 + o.segments.length * 16 + 4;
  const parts: string[] = [svgOpen(width, height, o.title), `<text x="4" y="14" font-weight="600" font-size="12">${esc(o.title)}</text>`];
  let x = m.left;
  for (const [i, s] of o.segments.entries()) {
    const w = total > 0 ? (Math.max(0, s.value) / total) * barW : 0;
    const fill = s.color ?? PALETTE[i % PALETTE.length];
    parts.push(`<rect x="${c(x)}" y="24" width="${c(w)}" height="26" fill="${fill}"><title>${esc(`${s.label}: ${s.text ?? s.value}`)}</title></rect>`);
    if (w > 60) parts.push(`<text x="${c(x + w / 2)}" y="41" text-anchor="middle" fill="#fff" font-weight="600">${esc(total > 0 ? `${((100 * s.value) / total).toFixed(1)}%` : '')}</text>`);
    x += w;
  }
  o.segments.forEach((s, i) => {
    const y = 24 + 26 + 8 + i * 16;
    parts.push(`<rect x="${m.left}" y="${y}" width="12" height="10" fill="${s.color ?? PALETTE[i % PALETTE.length]}"/><text x="${m.left + 18}" y="${y + 9}">${esc(`${s.label}: ${s.text ?? s.value}`)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}
