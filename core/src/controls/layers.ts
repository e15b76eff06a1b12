/**
 * Layer alignment and within-model baselines. For one role present in every layer (attention
 * output by preference), the centered cosine of every layer of A with every layer of B (sampled
 * for large tensors) gives an L_A × L_B matrix; the best monotone alignment through it finds
 * duplicated layers (depth up-scaling), removed and shifted layers. The same statistic between
 * layers of A itself, by layer distance (layer 0 excluded), is the baseline a cross-model value is
 * read against: layers of one model trained from scratch are unrelated to each other.
 */
import type { Checkpoint, TensorEntry } from '../checkpoint/folder.ts';
import type { DType } from '../checkpoint/dtype.ts';
import { compareCrossPairs, type CrossPair } from '../compare/cross-pairs.ts';
import { tensorRef as ref } from '../plan/plan.ts';
import { classifyTensor } from '../roles/roles.ts';
import { blockScalesByWeight } from '../roles/match.ts';
import { finalizeMoments } from '../stats/moments.ts';
import { COMPARABLE_DTYPES } from '../checkpoint/dtype.ts';

export interface LayerAlignment {
  role: string;
  layersA: number;
  layersB: number;
  /** Centered cosine, rows = A's layers, columns = B's. */
  matrix: (number | null)[][];
  /** For each layer of B, the layer of A it aligns with (monotone), and the value there. */
  alignment: { a: number; b: number; value: number | null }[];
  pattern: 'identity' | 'shifted' | 'duplicated' | 'removed' | 'reordered' | 'none';
}

export interface BaselinePoint {
  distance: number;
  n: number;
  mean: number;
  sd: number;
}

const PREFERRED_ROLES = ['attn.o', 'attn.v', 'mlp.down', 'shared.down', 'attn.q_b', 'attn.kv_b'];
/** L×L cells are many: large tensors are compared on a sample of their rows. */
const CELL_SAMPLE = 0.05;
const MAX_LAYERS = 160;

function byLayer(ck: Checkpoint, role: string): Map<number, TensorEntry> {
  const out = new Map<number, TensorEntry>();
  for (const t of ck.tensors) {
    const r = classifyTensor(t.name);
    if (r.role === role && r.layer !== null && r.expert === null && COMPARABLE_DTYPES.has(t.dtype as DType)) out.set(r.layer, t);
  }
  return out;
}

/** A role that every layer of both models has, with one shape throughout. */
export function alignmentRole(a: Checkpoint, b: Checkpoint): { role: string; layersA: Map<number, TensorEntry>; layersB: Map<number, TensorEntry> } | null {
  for (const role of PREFERRED_ROLES) {
    const layersA = byLayer(a, role);
    const layersB = byLayer(b, role);
    if (layersA.size < 2 || layersB.size < 2 || layersA.size > MAX_LAYERS || layersB.size > MAX_LAYERS) continue;
    const shapes = new Set([...layersA.values(), ...layersB.values()].map((t) => t.shape.join('x')));
    if (shapes.size === 1) return { role, layersA, layersB };
  }
  return null;
}

async function matrixOf(
  rows: TensorEntry[], cols: TensorEntry[], options: { threads?: number; seed?: number },
  scales: { a: Map<string, TensorEntry>; b: Map<string, TensorEntry> } = { a: new Map(), b: new Map() },
): Promise<(number | null)[][]> {
  const pairs: CrossPair[] = [];
  const scaleRef = (map: Map<string, TensorEntry>, t: TensorEntry) => { const s = map.get(t.name); return s ? ref(s) : null; };
  for (const r of rows) for (const c of cols) pairs.push({ a: ref(r), b: ref(c), scalesA: scaleRef(scales.a, r), scalesB: scaleRef(scales.b, c) });
  const { moments } = await compareCrossPairs(pairs, { sample: CELL_SAMPLE, seed: options.seed, threads: options.threads });
  return rows.map((_, i) => cols.map((_, j) => {
    const m = moments[i * cols.length + j];
    return m ? finalizeMoments(m).centeredCosine : null;
  }));
}

/** Best non-decreasing map from B's layers to A's layers (dynamic programming, O(L_A·L_B)). */
export function monotoneAlignment(matrix: (number | null)[][]): { a: number; b: number; value: number | null }[] {
  const la = matrix.length;
  const lb = matrix[0]?.length ?? 0;
  const score = (i: number, j: number) => matrix[i]![j] ?? -1;
  // best[j][i]: the best total for B's layers 0..j with B layer j mapped to A layer i.
  const best: number[][] = Array.from({ length: lb }, () => new Array<number>(la).fill(-Infinity));
  const from: number[][] = Array.from({ length: lb }, () => new Array<number>(la).fill(-1));
  for (let i = 0; i < la; i++) best[0]![i] = score(i, 0);
  for (let j = 1; j < lb; j++) {
    let runMax = -Infinity;
    let runArg = -1;
    for (let i = 0; i < la; i++) {
      if (best[j - 1]![i]! > runMax) { runMax = best[j - 1]![i]!; runArg = i; }
      best[j]![i] = runMax + score(i, j);
      from[j]![i] = runArg;
    }
  }
  let i = best[lb - 1]!.indexOf(Math.max(...best[lb - 1]!));
  const out: { a: number; b: number; value: number | null }[] = [];
  for (let j = lb - 1; j >= 0; j--) {
    out.push({ a: i, b: j, value: matrix[i]![j] ?? null });
    i = from[j]![i]!;
  }
  return out.reverse();
}

function patternOf(alignment: { a: number; b: number; value: number | null }[], la: number, lb: number, related: (v: number | null) => boolean, matrix: (number | null)[][]): LayerAlignment['pattern'] {
  const relatedShare = alignment.filter((x) => related(x.value)).length / Math.max(1, alignment.length);
  if (relatedShare < 0.5) {
    // Related layers out of order would not survive a monotone alignment.
    const anyRelated = matrix.some((row) => row.some(related));
    return anyRelated ? 'reordered' : 'none';
  }
  if (la === lb && alignment.every((x) => x.a === x.b)) return 'identity';
  const used = new Set(alignment.map((x) => x.a));
  if (lb > la || used.size < alignment.length) return 'duplicated';
  if (lb < la) return 'removed';
  return 'shifted';
}

export async function alignLayers(
  a: Checkpoint, b: Checkpoint, related: (value: number | null, n: number) => boolean, options: { threads?: number; seed?: number } = {},
): Promise<{ alignment: LayerAlignment; baseline: BaselinePoint[] } | null> {
  const chosen = alignmentRole(a, b);
  if (!chosen) return null;
  const rowsA = [...chosen.layersA.entries()].sort((x, y) => x[0] - y[0]).map(([, t]) => t);
  const colsB = [...chosen.layersB.entries()].sort((x, y) => x[0] - y[0]).map(([, t]) => t);
  const n = rowsA[0]!.shape.reduce((x, y) => x * y, 1);
  const scalesA = blockScalesByWeight(a.tensors);
  const scalesB = blockScalesByWeight(b.tensors);
  const matrix = await matrixOf(rowsA, colsB, options, { a: scalesA, b: scalesB });
  const alignment = monotoneAlignment(matrix);
  const isRelated = (v: number | null) => related(v, n);
  // Within A: layers 1.. against each other, by distance.
  const within = await matrixOf(rowsA, rowsA, options, { a: scalesA, b: scalesA });
  const byDistance = new Map<number, number[]>();
  for (let i = 1; i < rowsA.length; i++) for (let j = i + 1; j < rowsA.length; j++) {
    const v = within[i]![j];
    if (v === null || v === undefined) continue;
    const list = byDistance.get(j - i) ?? [];
    list.push(v);
    byDistance.set(j - i, list);
  }
  const baseline = [...byDistance].sort((x, y) => x[0] - y[0]).map(([distance, values]) => {
    const mean = values.reduce((s, x) => s + x, 0) / values.length;
    const sd = Math.sqrt(values.reduce((s, x) => s + (x - mean) ** 2, 0) / Math.max(1, values.length - 1));
    return { distance, n: values.length, mean, sd };
  });
  return {
    alignment: { role: chosen.role, layersA: rowsA.length, layersB: colsB.length, matrix, alignment, pattern: patternOf(alignment, rowsA.length, colsB.length, isRelated, matrix) },
    baseline,
  };
}
