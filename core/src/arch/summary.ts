/**
 * The architecture section as text: a side-by-side table, the differences with their meaning,
 * which tensor groups can be compared, the checks and the caveats.
 */
import { canonical, FIELDS } from './diff.ts';
import { formatShape } from './shapes.ts';
import type { ComparableSide } from './comparable.ts';
import type { ArchitectureSection, ModelArchitecture } from './index.ts';

const VALUE_WIDTH = 30;

/** 8030261248 → 8.03B; 260032 → 260K. */
export function formatCount(n: number | null): string {
  if (n === null) return '-';
  const units: [number, string][] = [[1e12, 'T'], [1e9, 'B'], [1e6, 'M'], [1e3, 'K']];
  for (const [scale, unit] of units) if (Math.abs(n) >= scale) return `${Number((n / scale).toPrecision(3))}${unit}`;
  return String(n);
}

function formatValue(value: unknown): string {
  if (value === null || value === undefined) return '-';
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  return canonical(value);
}

function clip(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, width - 1)}…`;
}

function describeSide(s: ComparableSide | null, perLayerLabel: string): string {
  if (!s) return '-';
  const first = formatShape(s.tensors[0]!.shape);
  const more = s.tensors.length > 1 ? ` +${s.tensors.length - 1}` : '';
  const layers = s.layers > 1 ? ` ×${s.layers}L` : '';
  const copies = s.perLayer > 1 ? ` ×${s.perLayer}${perLayerLabel}` : '';
  return `${first}${more}${layers}${copies}`;
}

function paramRows(m: ModelArchitecture): [string, string][] {
  return [
    ['total params', m.totalParams === null ? '-' : `${formatCount(m.totalParams)} (${m.totalParams.toLocaleString('en-US')})`],
    ['active params', formatCount(m.activeParams)],
    ['active, no input embedding', formatCount(m.activeParamsNonEmbedding)],
    ['checkpoint (+MTP, vision)', formatCount(m.params.checkpointParams)],
  ];
}

export function renderArchitectureText(section: ArchitectureSection): string {
  const { a, b } = section;
  const lines: string[] = [];
  lines.push(`Architecture`);
  lines.push(`  A: ${a.source ?? 'config A'} (${a.familyLabel})`);
  lines.push(`  B: ${b.source ?? 'config B'} (${b.familyLabel})`);
  lines.push('');

  // Side-by-side table: every field either model has, differences marked with '*'.
  const rows: [string, string, string, boolean][] = [['family', a.familyLabel, b.familyLabel, a.family !== b.family]];
  const differing = new Set(section.diffs.map((d) => d.field));
  for (const spec of FIELDS) {
    const va = valueOf(a, spec.field);
    const vb = valueOf(b, spec.field);
    const absent = (v: unknown) => v === null || v === undefined || (spec.feature === true && (v === false || v === 0));
    if (absent(va) && absent(vb)) continue;
    rows.push([spec.label, formatValue(va), formatValue(vb), differing.has(spec.field)]);
  }
  const paramsA = paramRows(a);
  const paramsB = paramRows(b);
  paramsA.forEach(([label, va], i) => rows.push([label, va, paramsB[i]![1], va !== paramsB[i]![1]]));
  const labelWidth = Math.max(...rows.map((r) => r[0].length));
  const widthA = Math.min(VALUE_WIDTH, Math.max(1, ...rows.map((r) => r[1].length)));
  lines.push(`  ${'field'.padEnd(labelWidth)}  ${'A'.padEnd(widthA)}  B`);
  for (const [label, va, vb, diff] of rows) {
    lines.push(`${diff ? '*' : ' '} ${label.padEnd(labelWidth)}  ${clip(va, widthA).padEnd(widthA)}  ${clip(vb, VALUE_WIDTH)}`);
  }
  lines.push('  (* differs)');
  lines.push('');

  const s = section.summary;
  lines.push(`Relation: ${s.relation}; ${section.diffs.length} field difference(s), ${s.shapeDiffs} of them change tensor shapes`);
  if (section.diffs.length > 0) {
    lines.push('');
    lines.push('Differences:');
    for (const d of section.diffs) {
      lines.push(`  ${d.label}: ${clip(formatValue(d.a), 60)} vs ${clip(formatValue(d.b), 60)} [${d.effect}]`);
      lines.push(`      ${d.meaning}`);
    }
  }

  lines.push('');
  lines.push('Tensor groups (can the weights be compared?):');
  const groupWidth = Math.max(...section.comparable.map((g) => g.label.length), 5);
  const statusWidth = Math.max(...section.comparable.map((g) => g.status.length), 6);
  const sides = section.comparable.map((g) => {
    const unit = g.group === 'norms' ? '/layer' : 'E';
    return [describeSide(g.a, unit), describeSide(g.b, unit)] as const;
  });
  const sideWidth = Math.max(...sides.flat().map((t) => t.length), 1);
  lines.push(`  ${'group'.padEnd(groupWidth)}  ${'status'.padEnd(statusWidth)}  ${'A'.padEnd(sideWidth)}  ${'B'.padEnd(sideWidth)}  note`);
  section.comparable.forEach((g, i) => {
    lines.push(`  ${g.label.padEnd(groupWidth)}  ${g.status.padEnd(statusWidth)}  ${sides[i]![0].padEnd(sideWidth)}  ${sides[i]![1].padEnd(sideWidth)}  ${g.note}`);
  });

  const checks: string[] = [];
  for (const [side, m] of [['A', a], ['B', b]] as const) {
    const ic = m.indexCheck;
    if (ic && ic.impliedParams !== null && ic.expectedParams !== null) {
      checks.push(`  ${side}: index total_size ${ic.totalSize!.toLocaleString('en-US')} bytes / ${ic.bytesPerParam} = ${Math.round(ic.impliedParams).toLocaleString('en-US')} parameters; config predicts ${ic.expectedParams.toLocaleString('en-US')} (${formatRelative(ic.relativeDifference)})`);
    }
    const tc = m.tensorCheck;
    if (tc) {
      checks.push(`  ${side}: tensors hold ${tc.tensorParams.toLocaleString('en-US')} parameters; config predicts ${tc.configParams === null ? '-' : tc.configParams.toLocaleString('en-US')} (${formatRelative(tc.relativeDifference)})`);
    }
  }
  if (checks.length > 0) {
    lines.push('');
    lines.push('Checks:');
    lines.push(...checks);
  }

  if (section.compute) {
    const c = section.compute;
    lines.push('');
    lines.push(`Training compute (${c.formula}, D = ${formatCount(c.tokens)} tokens):`);
    for (const [side, est] of [['A', c.a], ['B', c.b]] as const) {
      lines.push(`  ${side}: ${formatFlops(est.flops)} FLOPs (without the input embedding: ${formatFlops(est.flopsNonEmbedding)})`);
    }
  }

  lines.push('');
  lines.push('Notes:');
  for (const note of section.notes) lines.push(`  - ${note}`);
  return lines.join('\n') + '\n';
}

function valueOf(m: ModelArchitecture, field: string): unknown {
  if (field === 'mixerLayout') return m.mixerLayout;
  if (field === 'ffnLayout') return m.ffnLayout;
  if (field === 'vision') return m.vision ? (m.vision.modelType ?? 'present') : null;
  if (field.startsWith('mla.')) return m.mla ? (m.mla as unknown as Record<string, unknown>)[field.slice(4)] : null;
  return (m as unknown as Record<string, unknown>)[field];
}

function formatRelative(r: number | null): string {
  if (r === null) return 'no comparison';
  if (r === 0) return 'exact';
  return `${r > 0 ? '+' : ''}${(r * 100).toPrecision(3)}%`;
}

function formatFlops(f: number | null): string {
  return f === null ? '-' : f.toExponential(2);
}
