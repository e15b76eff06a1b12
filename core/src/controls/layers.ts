/**
 * Layer alignment and within-model baselines. For two roles present in every layer, one that
 * writes the residual stream (attention output by preference) and one that reads it (queries by
 * preference), the mean centered cosine of every layer of A with every layer of B (sampled for
 * large tensors) gives an L_A × L_B matrix; the best monotone alignment through it finds
 * duplicated layers (depth up-scaling), removed and shifted layers. Both sides, because a layer's
 * inputs and outputs can be kept apart: LLaMA Pro's inserted blocks copy a layer's inputs and
 * train its outputs from zero, and by its outputs alone such a block matched no layer of A. The
 * same statistic between layers of A itself, by layer distance (layer 0 excluded), is the
 * baseline a cross-model value is read against: layers of one model trained from scratch are
 * unrelated to each other.
 */
import type { Checkpoint, TensorEntry } from '../checkpoint/folder.ts';
import type { DType } from '../checkpoint/dtype.ts';
import { bytesPerElement, COMPARABLE_DTYPES, elementCount } from '../checkpoint/dtype.ts';
import { LineageError } from '../errors.ts';
import { blockingReader, type BlockingReader } from '../io/blocking.ts';
import { blockScalesFrom, toFloat32, type BlockScales } from '../kernels/decode.ts';
import { classifyTensor } from '../roles/roles.ts';
import { blockScalesByWeight } from '../roles/match.ts';
import { chooseSorted } from '../sample/blocks.ts';
import { Random } from '../synth/random.ts';
import { dots } from '../align/dots.ts';

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
/** The second role, on the other side of the layer where it can be (see the module's comment). */
const READING_ROLES = ['attn.q', 'attn.k', 'mlp.gate', 'mlp.up', 'attn.q_b', 'attn.kv_b', 'attn.v'];
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

interface AlignmentRole { role: string; layersA: Map<number, TensorEntry>; layersB: Map<number, TensorEntry> }

/** The first of `roles` that every layer of both models has, with one shape throughout (and, given `like`, the same layers as it). */
function firstRole(a: Checkpoint, b: Checkpoint, roles: string[], like: AlignmentRole | null = null): AlignmentRole | null {
  const sameLayers = (x: Map<number, TensorEntry>, y: Map<number, TensorEntry>) => x.size === y.size && [...x.keys()].every((l) => y.has(l));
  for (const role of roles) {
    if (role === like?.role) continue;
    const layersA = byLayer(a, role);
    const layersB = byLayer(b, role);
    if (layersA.size < 2 || layersB.size < 2 || layersA.size > MAX_LAYERS || layersB.size > MAX_LAYERS) continue;
    if (like && (!sameLayers(layersA, like.layersA) || !sameLayers(layersB, like.layersB))) continue;
    const shapes = new Set([...layersA.values(), ...layersB.values()].map((t) => t.shape.join('x')));
    if (shapes.size === 1) return { role, layersA, layersB };
  }
  return null;
}

/** The roles the layer alignment reads: a writing one, and a reading one where the models have it. */
export function alignmentRoles(a: Checkpoint, b: Checkpoint): AlignmentRole[] {
  const first = firstRole(a, b, PREFERRED_ROLES);
  if (!first) return [];
  const second = firstRole(a, b, READING_ROLES, first);
  return second ? [first, second] : [first];
}

/** Elements drawn per layer tensor: enough for a cosine to ±0.002, whatever the model's size. */
const MAX_VECTOR_ELEMENTS = 256 * 1024;
const MIN_VECTOR_ELEMENTS = 32 * 1024;

/**
 * Rows of a [rows, cols] tensor that every layer's vector is cut from: the same rows in every
 * layer, so cells compare like with like. `share`: this role's part of the elements a layer's
 * vector holds (two roles read half each: the alignment reads as much as with one).
 */
function vectorRows(shape: readonly number[], seed: number, role: string, share = 1): number[] | null {
  const cols = shape.length >= 2 ? shape[shape.length - 1]! : 1;
  const rows = shape.reduce((x, y) => x * y, 1) / Math.max(1, cols);
  const wanted = share * Math.min(MAX_VECTOR_ELEMENTS, Math.max(MIN_VECTOR_ELEMENTS, CELL_SAMPLE * rows * cols));
  const count = Math.max(1, Math.ceil(wanted / Math.max(1, cols)));
  if (count >= rows / 2) return null;
  return chooseSorted(rows, count, new Random(seed, `layers:${role}`));
}

/**
 * Each layer's tensor read once: the chosen rows (all of it when small), decoded (FP8 block
 * scales applied), centred and scaled to unit length. A cell is then one dot product, so the
 * L_A × L_B matrix and A's L × L baseline cost reads that grow with L, not L². Null for a tensor
 * that cannot be read (its cells stay empty) or that is constant.
 */
function layerVectors(tensors: TensorEntry[], scales: Map<string, TensorEntry>, rows: number[] | null, reader: BlockingReader): (Float32Array | null)[] {
  return tensors.map((t) => {
    try {
      const cols = t.shape.length >= 2 ? t.shape[t.shape.length - 1]! : 1;
      const bpe = bytesPerElement(t.dtype as DType);
      const scaleEntry = scales.get(t.name);
      let blockScales: BlockScales | undefined;
      if (scaleEntry) {
        const raw = new Uint8Array(scaleEntry.byteLength);
        reader.readSync(scaleEntry.file, scaleEntry.offset, raw);
        blockScales = blockScalesFrom(raw, scaleEntry, t);
      }
      const ranges = rows ? rows.map((r) => ({ first: r * cols, count: cols })) : [{ first: 0, count: elementCount(t.shape) }];
      const total = ranges.reduce((n, x) => n + x.count, 0);
      const values = new Float32Array(total);
      // All the rows as one batch (a remote model fetches them at once), decoded row by row (block scales follow the element index).
      const raw = new Uint8Array(total * bpe);
      reader.readRangesSync(t.file, ranges.map(({ first, count }) => ({ offset: t.offset + first * bpe, length: count * bpe })), raw);
      let at = 0;
      for (const { first, count } of ranges) {
        toFloat32(t.dtype as DType, raw.subarray(at * bpe, (at + count) * bpe), values.subarray(at, at + count), count, first, blockScales);
        at += count;
      }
      return unitCentered(values);
    } catch (err) {
      if (err instanceof LineageError) return null;
      throw err;
    }
  });
}

function unitCentered(values: Float32Array): Float32Array | null {
  // Indexed loops, no iterator or closure: 32-256 Ki values per layer tensor, every layer of both
  // models. In place: each value is (v − mean)·scale in float64, then stored as float32 (what the
  // float32 dot products take), and a non-finite one as 0.
  let mean = 0;
  let n = 0;
  for (let i = 0; i < values.length; i++) { const v = values[i]!; if (v - v === 0) { mean += v; n++; } }
  if (n < 2) return null;
  mean /= n;
  let ss = 0;
  for (let i = 0; i < values.length; i++) { const v = values[i]!; if (v - v === 0) { const x = v - mean; ss += x * x; } }
  if (!(ss > 0)) return null;
  const scale = 1 / Math.sqrt(ss);
  for (let i = 0; i < values.length; i++) { const v = values[i]!; values[i] = v - v === 0 ? (v - mean) * scale : 0; }
  return values;
}

/**
 * Each layer's vectors of several roles as one: side by side, each ×1/√roles. A role whose tensor
 * could not be read leaves zeros (its part adds nothing); a layer with none readable is null.
 */
function joined(byRole: (Float32Array | null)[][]): (Float32Array | null)[] {
  if (byRole.length === 1) return byRole[0]!;
  const widths = byRole.map((vs) => vs.find((v) => v)?.length ?? 0);
  const scale = 1 / Math.sqrt(byRole.length);
  return byRole[0]!.map((_, layer) => {
    if (byRole.every((vs) => !vs[layer])) return null;
    const out = new Float32Array(widths.reduce((x, y) => x + y, 0));
    let at = 0;
    byRole.forEach((vs, r) => {
      const v = vs[layer];
      if (v && v.length === widths[r]) for (let i = 0; i < v.length; i++) out[at + i] = v[i]! * scale;
      at += widths[r]!;
    });
    return out;
  });
}

/** Every row vector against every column vector, by the aligned tests' WebAssembly SIMD dot products (float32, sums over 16 lanes: cosines to ~1e-5). */
function cosineMatrix(rows: (Float32Array | null)[], cols: (Float32Array | null)[]): (number | null)[][] {
  const width = rows.find((v) => v)?.length ?? cols.find((v) => v)?.length ?? 0;
  const pack = (vs: (Float32Array | null)[]) => {
    const out = new Float32Array(vs.length * width);
    vs.forEach((v, i) => { if (v && v.length === width) out.set(v, i * width); });
    return out;
  };
  const products = width ? dots(pack(rows), rows.length, pack(cols), cols.length, width) : null;
  return rows.map((x, i) => cols.map((y, j) => (products && x && y && x.length === width && y.length === width ? products[i * cols.length + j]! : null)));
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
  a: Checkpoint, b: Checkpoint, related: (value: number | null, n: number) => boolean, options: { seed?: number } = {},
): Promise<{ alignment: LayerAlignment; baseline: BaselinePoint[] } | null> {
  const roles = alignmentRoles(a, b);
  if (roles.length === 0) return null;
  const reader = blockingReader();
  const perRole: { a: (Float32Array | null)[]; b: (Float32Array | null)[] }[] = [];
  try {
    for (const chosen of roles) {
      const rowsA = [...chosen.layersA.entries()].sort((x, y) => x[0] - y[0]).map(([, t]) => t);
      const colsB = [...chosen.layersB.entries()].sort((x, y) => x[0] - y[0]).map(([, t]) => t);
      const rows = vectorRows(rowsA[0]!.shape, options.seed ?? 1, chosen.role, 1 / roles.length);
      perRole.push({ a: layerVectors(rowsA, blockScalesByWeight(a.tensors), rows, reader), b: layerVectors(colsB, blockScalesByWeight(b.tensors), rows, reader) });
    }
  } finally {
    reader.close();
  }
  // One vector per layer, the roles' unit vectors side by side, each scaled by 1/√roles: a dot
  // product is then the mean of the roles' centered cosines.
  const vectorsA = joined(perRole.map((p) => p.a));
  const vectorsB = joined(perRole.map((p) => p.b));
  const [layersA, layersB] = [vectorsA.length, vectorsB.length];
  const n = vectorsA.find((v) => v)?.length ?? 0;
  const matrix = cosineMatrix(vectorsA, vectorsB);
  const alignment = monotoneAlignment(matrix);
  const isRelated = (v: number | null) => related(v, n);
  // Within A: layers 1.. against each other, by distance.
  const within = cosineMatrix(vectorsA, vectorsA);
  const byDistance = new Map<number, number[]>();
  for (let i = 1; i < layersA; i++) for (let j = i + 1; j < layersA; j++) {
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
    alignment: { role: roles.map((r) => r.role).join(' + '), layersA, layersB, matrix, alignment, pattern: patternOf(alignment, layersA, layersB, isRelated, matrix) },
    baseline,
  };
}
