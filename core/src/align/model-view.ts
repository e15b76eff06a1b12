/**
 * One model's weights as the alignment sees them: matrices by (role, layer), decoded to float32,
 * and *effective* input-side matrices, W·diag(γ), with the norm vector γ that precedes them
 * folded in. A norm folded into the next matrix (or scaled against it) computes the same
 * function, and the effective matrix is the same either way: comparing effective matrices makes
 * every statistic here invariant to that rescaling.
 *
 * Matrices are read whole (one at a time, dropped after use); larger ones than `maxElements` are
 * left out with a note rather than held in memory.
 */
import type { Checkpoint, TensorEntry } from '../checkpoint/folder.ts';
import { bytesPerElement, COMPARABLE_DTYPES, type DType } from '../checkpoint/dtype.ts';
import { blockingReader, type ByteRange } from '../io/blocking.ts';
import { blockScalesFrom, toFloat32, type BlockScales } from '../kernels/decode.ts';
import { archOf, FUSED_ROLES, linearPartRuns, splitFused, splitFusedExperts } from '../roles/fused.ts';
import { familyOf } from '../arch/families.ts';
import { classifyTensor } from '../roles/roles.ts';
import { runSteps, type Steps } from '../steps.ts';
import { columnsInWasm, lineSquaresInWasm } from './lines-wasm.ts';
import { LineageError } from '../errors.ts';

export interface Matrix {
  rows: number;
  cols: number;
  /** Row-major. */
  data: Float32Array;
}

/** Which norm feeds which input-side matrix (the norm is folded into its columns). */
const PRECEDING_NORM: Record<string, string> = {
  'attn.q': 'norm.input', 'attn.k': 'norm.input', 'attn.v': 'norm.input',
  'mlp.gate': 'norm.post_attn', 'mlp.up': 'norm.post_attn', 'router.weight': 'norm.post_attn',
  'shared.gate': 'norm.post_attn', 'shared.up': 'norm.post_attn',
  'expert.gate': 'norm.post_attn', 'expert.up': 'norm.post_attn',
  lm_head: 'norm.final',
};

export const DEFAULT_MAX_ELEMENTS = 64 * 1024 * 1024;

export interface AttentionShape {
  heads: number;
  kvHeads: number;
  headDim: number;
}

export class ModelView {
  readonly layers: number[];
  readonly hidden: number | null;
  /** Tensors that could not be read, with the reason: left out (as absent) rather than failing the tests. */
  readonly unreadable = new Map<string, string>();
  /** How fused projections were read as their parts, or why they were not (one line a kind). */
  readonly fusedNotes: readonly string[];
  /** What the family's RMSNorm adds to its stored weight (1 for Gemma and Qwen3-Next, else 0). */
  readonly normOffset: number;
  private readonly byKey: ReadonlyMap<string, ViewTensor>;
  /** FP8 block scales by the name of the weight they scale (DeepSeek-V3 `weight_scale_inv`). */
  private readonly scales: ReadonlyMap<string, TensorEntry>;
  private readonly reader = blockingReader();
  private readonly vectors = new Map<string, Float32Array | null>();

  constructor(readonly checkpoint: Checkpoint, private readonly maxElements = DEFAULT_MAX_ELEMENTS) {
    const index = tensorIndex(checkpoint);
    this.byKey = index.byKey;
    this.scales = index.scales;
    this.layers = [...index.layers];
    this.fusedNotes = index.fusedNotes;
    this.normOffset = index.normOffset;
    const embed = this.tensor('embedding', null);
    const hidden = checkpoint.config?.hidden_size;
    this.hidden = typeof hidden === 'number' ? hidden : embed?.shape[1] ?? null;
  }

  close(): void {
    this.reader.close();
  }

  tensor(role: string, layer: number | null, expert: number | null = null): ViewTensor | null {
    return this.byKey.get(key(role, layer, expert)) ?? null;
  }

  /** Expert indices present for a role in a layer. */
  experts(role: string, layer: number): number[] {
    const out: number[] = [];
    for (let e = 0; this.byKey.has(key(role, layer, e)); e++) out.push(e);
    return out;
  }

  /** Heads as the config states them, checked against the q/k shapes of the first layer. */
  attention(): AttentionShape | null {
    const c = this.checkpoint.config ?? {};
    const q = this.tensor('attn.q', this.layers[0] ?? 0);
    const k = this.tensor('attn.k', this.layers[0] ?? 0);
    const heads = typeof c.num_attention_heads === 'number' ? c.num_attention_heads : null;
    if (!q || !k || !heads) return null;
    const kvHeads = typeof c.num_key_value_heads === 'number' ? c.num_key_value_heads : heads;
    const headDim = typeof c.head_dim === 'number' ? c.head_dim : q.shape[0]! / heads;
    if (q.shape[0] !== heads * headDim || k.shape[0] !== kvHeads * headDim || !Number.isInteger(headDim)) return null;
    return { heads, kvHeads, headDim };
  }

  /**
   * A 1-D tensor; a norm's as the multiplier its forward pass applies (Gemma's and Qwen3-Next's
   * RMSNorm scale by 1 + w: a weight stored as 0 multiplies by 1, and folding it into the next
   * matrix stores 0, which read raw would zero every effective matrix).
   */
  vector(role: string, layer: number | null): Float32Array | null {
    const t = this.tensor(role, layer);
    if (!t || t.shape.length !== 1) return null;
    // Norm vectors are asked for with every effective matrix: read once (a remote read is a round trip).
    if (!this.vectors.has(t.name)) {
      const v = this.decode(t);
      if (v && this.normOffset !== 0 && role.startsWith('norm.')) for (let i = 0; i < v.length; i++) v[i] = v[i]! + this.normOffset;
      this.vectors.set(t.name, v);
    }
    return this.vectors.get(t.name)!;
  }

  matrix(role: string, layer: number | null, expert: number | null = null): Matrix | null {
    const t = this.tensor(role, layer, expert);
    if (!t || t.shape.length !== 2) return null;
    if (t.shape[0]! * t.shape[1]! > this.maxElements) return null;
    const data = this.decode(t);
    return data ? { rows: t.shape[0]!, cols: t.shape[1]!, data } : null;
  }

  /**
   * Only the given rows of a 2-D tensor (token rows of an embedding or lm_head: a few thousand of
   * a vocabulary of hundreds of thousands), read row by row; `effective` folds the preceding norm
   * in as `effective()` does. Null when absent, unreadable or a row is out of range.
   */
  rows(role: string, layer: number | null, rows: ArrayLike<number>, effective = false, expert: number | null = null): Matrix | null {
    const t = this.tensor(role, layer, expert);
    if (!t || t.shape.length !== 2 || this.unreadable.has(t.name)) return null;
    const [count, cols] = [t.shape[0]!, t.shape[1]!];
    const list = Array.from(rows);
    if (list.some((r) => !Number.isInteger(r) || r < 0 || r >= count)) return null;
    // FP8 rows need their block scales, a transposed expert slice its whole: read whole (embeddings are rarely either).
    if (t.dtype === 'F8_E4M3' || t.transposed) {
      const m = effective ? this.effective(role, layer, expert) : this.matrix(role, layer, expert);
      if (!m) return null;
      const sub: Matrix = { rows: list.length, cols, data: new Float32Array(list.length * cols) };
      list.forEach((r, k) => sub.data.set(m.data.subarray(r * cols, (r + 1) * cols), k * cols));
      return sub;
    }
    const bpe = bytesPerElement(t.dtype as DType);
    const data = new Float32Array(list.length * cols);
    const rowBytes = cols * bpe;
    try {
      // In bands of rows (bounded memory), each band's rows as one batch of ranges.
      const band = Math.max(1, Math.floor((8 << 20) / rowBytes));
      for (let k0 = 0; k0 < list.length; k0 += band) {
        const part = list.slice(k0, k0 + band);
        const raw = new Uint8Array(part.length * rowBytes);
        this.readRanges(t, part.map((r) => ({ offset: r * rowBytes, length: rowBytes })), raw);
        toFloat32(t.dtype as DType, raw, data.subarray(k0 * cols, (k0 + part.length) * cols), part.length * cols);
      }
    } catch (err) {
      if (!(err instanceof LineageError)) throw err;
      this.unreadable.set(t.name, err.message);
      return null;
    }
    const gamma = effective ? this.precedingNorm(role, layer) : null;
    if (gamma && gamma.length === cols) for (let k = 0; k < list.length; k++) for (let j = 0; j < cols; j++) data[k * cols + j] = data[k * cols + j]! * gamma[j]!;
    return { rows: list.length, cols, data };
  }

  /**
   * Σv² of each row (byRow) or column of a 2-D tensor, streamed in bands of rows: the profile
   * features need norms, not the matrix (a 4096 × 14336 matrix is 235 MB as float32).
   */
  lineSquares(role: string, layer: number | null, byRow: boolean): Float64Array | null {
    const t = this.tensor(role, layer);
    if (!t || t.shape.length !== 2 || this.unreadable.has(t.name)) return null;
    if ((t.dtype === 'BF16' || t.dtype === 'F32') && !t.transposed) {
      const [rows, width] = [t.shape[0]!, t.shape[1]!];
      const bf16 = t.dtype === 'BF16';
      const out = this.readingBands(t, () => lineSquaresInWasm((at, target) => this.readAt(t, at, target), bf16, rows, width, bandRows(width, bf16 ? 2 : 4), byRow));
      if (out !== undefined) return out;
    }
    return this.lineSquaresReference(role, layer, byRow);
  }

  /** `lineSquares` in JavaScript (the reference its WebAssembly is tested against; other dtypes). */
  lineSquaresReference(role: string, layer: number | null, byRow: boolean): Float64Array | null {
    const t = this.tensor(role, layer);
    if (!t || t.shape.length !== 2 || this.unreadable.has(t.name)) return null;
    const [rows, width] = [t.shape[0]!, t.shape[1]!];
    const out = new Float64Array(byRow ? rows : width);
    if ((t.dtype !== 'BF16' && t.dtype !== 'F32') || t.transposed) {
      const m = this.matrix(role, layer);
      if (!m) return null;
      for (let r = 0; r < rows; r++) for (let c = 0; c < width; c++) { const v = m.data[r * width + c]!; out[byRow ? r : c] += v * v; }
      return out;
    }
    const bpe = t.dtype === 'BF16' ? 2 : 4;
    const band = bandRows(width, bpe);
    const raw = new Uint8Array(Math.min(rows, band) * width * bpe);
    const values = new Float32Array(Math.min(rows, band) * width);
    try {
      for (let r0 = 0; r0 < rows; r0 += band) {
        const n = Math.min(band, rows - r0);
        const chunk = raw.subarray(0, n * width * bpe);
        this.readAt(t, r0 * width * bpe, chunk);
        toFloat32(t.dtype as DType, chunk, values, n * width);
        for (let r = 0; r < n; r++) {
          if (byRow) {
            let s = 0;
            for (let c = 0; c < width; c++) { const v = values[r * width + c]!; s += v * v; }
            out[r0 + r] = s;
          } else {
            for (let c = 0; c < width; c++) { const v = values[r * width + c]!; out[c] += v * v; }
          }
        }
      }
    } catch (err) {
      if (!(err instanceof LineageError)) throw err;
      this.unreadable.set(t.name, err.message);
      return null;
    }
    return out;
  }

  /**
   * Only the given columns of a 2-D tensor (the hidden dimensions a matching compares: 128-256 of
   * thousands), for every row; `effective` folds the preceding norm in. The bytes are read whole
   * (rows are contiguous), but only the chosen columns are decoded and kept: 1/16 of the memory
   * and decoding at hidden 4096.
   */
  columns(role: string, layer: number | null, cols: Int32Array, effective = false, expert: number | null = null): Matrix | null {
    const t = this.tensor(role, layer, expert);
    if (!t || t.shape.length !== 2 || this.unreadable.has(t.name)) return null;
    const [rows, width] = [t.shape[0]!, t.shape[1]!];
    if (cols.some((c) => c < 0 || c >= width)) return null;
    if ((t.dtype === 'BF16' || t.dtype === 'F32') && !t.transposed) {
      const gamma = effective ? this.precedingNorm(role, layer) : null;
      const bf16 = t.dtype === 'BF16';
      const data = this.readingBands(t, () => columnsInWasm((at, target) => this.readAt(t, at, target), bf16, rows, width, bandRows(width, bf16 ? 2 : 4), cols, gamma && gamma.length === width ? gamma : null));
      if (data !== undefined) return data && { rows, cols: cols.length, data };
    }
    return this.columnsReference(role, layer, cols, effective, expert);
  }

  /** `columns` in JavaScript (the reference its WebAssembly is tested against; other dtypes). */
  columnsReference(role: string, layer: number | null, cols: Int32Array, effective = false, expert: number | null = null): Matrix | null {
    const t = this.tensor(role, layer, expert);
    if (!t || t.shape.length !== 2 || this.unreadable.has(t.name)) return null;
    const [rows, width] = [t.shape[0]!, t.shape[1]!];
    if (cols.some((c) => c < 0 || c >= width)) return null;
    const gamma = effective ? this.precedingNorm(role, layer) : null;
    const g = gamma && gamma.length === width ? gamma : null;
    const data = new Float32Array(rows * cols.length);
    if ((t.dtype === 'BF16' || t.dtype === 'F32') && !t.transposed) {
      const bpe = t.dtype === 'BF16' ? 2 : 4;
      // A band of rows at a time: bounded memory whatever the matrix.
      const band = bandRows(width, bpe);
      const raw = new Uint8Array(Math.min(rows, band) * width * bpe);
      const bits = new Uint32Array(data.buffer);
      try {
        for (let r0 = 0; r0 < rows; r0 += band) {
          const n = Math.min(band, rows - r0);
          const chunk = raw.subarray(0, n * width * bpe);
          this.readAt(t, r0 * width * bpe, chunk);
          if (bpe === 2) {
            const halves = new Uint16Array(chunk.buffer, chunk.byteOffset, n * width);
            for (let r = 0; r < n; r++) for (let k = 0; k < cols.length; k++) bits[(r0 + r) * cols.length + k] = halves[r * width + cols[k]!]! << 16;
          } else {
            const floats = new Float32Array(chunk.buffer, chunk.byteOffset, n * width);
            for (let r = 0; r < n; r++) for (let k = 0; k < cols.length; k++) data[(r0 + r) * cols.length + k] = floats[r * width + cols[k]!]!;
          }
        }
      } catch (err) {
        if (!(err instanceof LineageError)) throw err;
        this.unreadable.set(t.name, err.message);
        return null;
      }
    } else {
      // Other dtypes (F16, FP8 with block scales) and transposed expert slices: decoded whole, then cut.
      const m = this.matrix(role, layer, expert);
      if (!m) return null;
      for (let r = 0; r < rows; r++) for (let k = 0; k < cols.length; k++) data[r * cols.length + k] = m.data[r * width + cols[k]!]!;
    }
    if (g) for (let r = 0; r < rows; r++) for (let k = 0; k < cols.length; k++) data[r * cols.length + k] = data[r * cols.length + k]! * g[cols[k]!]!;
    return { rows, cols: cols.length, data };
  }

  /**
   * A kernel's answer (undefined: it could not run, the JavaScript loops will), or null with the
   * tensor noted unreadable where a read failed.
   */
  private readingBands<T>(t: TensorEntry, run: () => T | null): T | null | undefined {
    try {
      return run() ?? undefined;
    } catch (err) {
      if (!(err instanceof LineageError)) throw err;
      this.unreadable.set(t.name, err.message);
      return null;
    }
  }

  /** The norm vector γ folded into an input-side matrix (null for other roles, or when absent). */
  precedingNorm(role: string, layer: number | null): Float32Array | null {
    const normRole = PRECEDING_NORM[role];
    return normRole ? this.vector(normRole, normRole === 'norm.final' ? null : layer) : null;
  }

  /** W·diag(γ) for an input-side matrix (γ: the norm before it); the plain matrix otherwise. */
  effective(role: string, layer: number | null, expert: number | null = null): Matrix | null {
    const m = this.matrix(role, layer, expert);
    if (!m) return m;
    const gamma = this.precedingNorm(role, layer);
    if (!gamma || gamma.length !== m.cols) return m;
    for (let r = 0; r < m.rows; r++) {
      const row = m.data.subarray(r * m.cols, (r + 1) * m.cols);
      for (let j = 0; j < m.cols; j++) row[j] = row[j]! * gamma[j]!;
    }
    return m;
  }

  /** A part of an expert slice stored transposed: the slice read whole, the part's columns as rows. */
  private decodeTransposed(t: ViewTensor, from: TransposedSlice): Float32Array | null {
    const stored = new Float32Array(from.rows * from.cols);
    try {
      const raw = new Uint8Array(from.rows * from.cols * bytesPerElement(t.dtype as DType));
      this.reader.readSync(t.file, t.offset, raw);
      toFloat32(t.dtype as DType, raw, stored, stored.length);
    } catch (err) {
      if (!(err instanceof LineageError)) throw err;
      this.unreadable.set(t.name, err.message);
      return null;
    }
    const [count, width] = [t.shape[0]!, t.shape[1]!];
    const out = new Float32Array(count * width);
    for (let r = 0; r < count; r++) {
      const col = from.first + r * from.step;
      for (let c = 0; c < width; c++) out[r * width + c] = stored[c * from.cols + col]!;
    }
    return out;
  }

  /** Bytes [at, at + target.length) of the tensor as the view sees it (a fused matrix's part: its runs, in order). */
  private readAt(t: ViewTensor, at: number, target: Uint8Array): void {
    if (t.transposed) throw new Error(`${t.name}: a transposed part is read whole, never by range`);
    if (!t.runs) this.reader.readSync(t.file, t.offset + at, target);
    else this.reader.readRangesSync(t.file, physicalRanges(t.runs, [{ offset: at, length: target.length }]), target);
  }

  /** Several ranges of the tensor (offsets from its start), back to back into `target`. */
  private readRanges(t: ViewTensor, ranges: ByteRange[], target: Uint8Array): void {
    if (t.transposed) throw new Error(`${t.name}: a transposed part is read whole, never by range`);
    if (!t.runs) this.reader.readRangesSync(t.file, ranges.map((r) => ({ offset: t.offset + r.offset, length: r.length })), target);
    else this.reader.readRangesSync(t.file, physicalRanges(t.runs, ranges), target);
  }

  private decode(t: ViewTensor): Float32Array | null {
    if (this.unreadable.has(t.name)) return null;
    if (t.transposed) return this.decodeTransposed(t, t.transposed);
    const n = t.shape.reduce((x, y) => x * y, 1);
    const raw = new Uint8Array(t.byteLength);
    // FP8 weights are compared dequantized, with their block scales, as the weights pass does.
    const scale = t.dtype === 'F8_E4M3' ? this.scales.get(t.name) : undefined;
    let scales: BlockScales | undefined;
    try {
      this.readAt(t, 0, raw);
      if (scale) {
        const bytes = new Uint8Array(scale.byteLength);
        this.reader.readSync(scale.file, scale.offset, bytes);
        scales = blockScalesFrom(bytes, scale, t);
      }
    } catch (err) {
      if (!(err instanceof LineageError)) throw err;
      this.unreadable.set(t.name, err.message);
      return null;
    }
    const out = new Float32Array(n);
    toFloat32(t.dtype as DType, raw, out, n, 0, scales);
    return out;
  }
}

/**
 * A tensor as a view reads it: a checkpoint's tensor, or a part of a fused projection (q of a
 * `qkv_proj`), whose bytes are `runs` of the fused tensor's (file offsets, in the part's row order).
 */
export interface ViewTensor extends TensorEntry {
  runs?: ByteRange[];
  /** A part of an expert's slice stored transposed (Llama 4, gpt-oss): the slice at `offset`, this part its columns. */
  transposed?: TransposedSlice;
}

/** A stored rows × cols matrix whose columns first, first + step, … are the part's rows. */
export interface TransposedSlice {
  rows: number;
  cols: number;
  first: number;
  step: number;
}

interface TensorIndex {
  byKey: Map<string, ViewTensor>;
  scales: Map<string, TensorEntry>;
  layers: number[];
  fusedNotes: string[];
  normOffset: number;
}

/**
 * A checkpoint's tensors by (role, layer, expert), made once per checkpoint and thread: every
 * part of the aligned tests opens views of both models, and classifying a 48 × 128 MoE's ~19k
 * tensor names each time was a tenth of its controls.
 */
const indexes = new WeakMap<Checkpoint, TensorIndex>();

function tensorIndex(checkpoint: Checkpoint): TensorIndex {
  return indexes.get(checkpoint) ?? runSteps(tensorIndexSteps(checkpoint));
}

/** Tensors indexed between two steps. */
const STEP_TENSORS = 256;

function* tensorIndexSteps(checkpoint: Checkpoint): Steps<TensorIndex> {
  const known = indexes.get(checkpoint);
  if (known) return known;
  const index: TensorIndex = { byKey: new Map(), scales: new Map(), layers: [], fusedNotes: [], normOffset: normOffsetOf(checkpoint.config) };
  const fused: { entry: TensorEntry; role: string; layer: number }[] = [];
  const fusedExperts: { entry: TensorEntry; role: string; layer: number }[] = [];
  const layers = new Set<number>();
  const { tensors } = checkpoint;
  for (let i = 0; i < tensors.length; i++) {
    if (i > 0 && i % STEP_TENSORS === 0) yield;
    const t = tensors[i]!;
    if (/_scale_inv$/.test(t.name)) index.scales.set(t.name.replace(/_scale_inv$/, ''), t);
    if (!COMPARABLE_DTYPES.has(t.dtype as DType)) continue;
    const r = classifyTensor(t.name);
    if (r.fusedExperts) {
      if (r.layer !== null && (r.role === 'expert.gate_up' || r.role === 'expert.down')) fusedExperts.push({ entry: t, role: r.role, layer: r.layer });
      continue;
    }
    if (r.layer !== null) layers.add(r.layer);
    index.byKey.set(key(r.role, r.layer, r.expert), t);
    if (FUSED_ROLES[r.role] && r.layer !== null && r.expert === null) fused.push({ entry: t, role: r.role, layer: r.layer });
  }
  index.layers = [...layers].sort((x, y) => x - y);
  index.fusedNotes = [...splitFusedProjections(index.byKey, fused, checkpoint.config), ...splitFusedExpertTensors(index.byKey, fusedExperts, checkpoint.config)];
  indexes.set(checkpoint, index);
  return index;
}

/**
 * Each fused projection's parts indexed under their own roles (a layer that also has the split
 * tensors keeps those), as runs of the fused tensor's rows; the notes say how, once a kind.
 * FP8 matrices stay whole: their block scales are indexed by the fused tensor's name.
 */
function splitFusedProjections(byKey: Map<string, ViewTensor>, fused: { entry: TensorEntry; role: string; layer: number }[], config: Record<string, unknown> | null): string[] {
  const notes = new Map<string, string>();
  for (const { entry, role, layer } of fused) {
    const partsRoles = FUSED_ROLES[role]!;
    if (partsRoles.some((p) => byKey.has(key(p, layer, null)))) continue;
    const kind = entry.name.replace(/\.\d+\./, '.*.');
    const split = entry.dtype === 'F8_E4M3' ? { reason: 'FP8 with block scales is not split' } : splitFused(role, entry.shape, config);
    if ('reason' in split) {
      notes.set(kind, `${kind} (fused ${partsRoles.map((p) => p.split('.')[1]).join(', ')}) could not be read as its parts, so they were not compared: ${split.reason}`);
      continue;
    }
    const rowBytes = entry.byteLength / entry.shape[0]!;
    for (const part of split.parts) {
      const rows = part.rows.reduce((n, [, count]) => n + count, 0);
      const runs = part.rows.map(([first, count]) => ({ offset: entry.offset + first * rowBytes, length: count * rowBytes }));
      byKey.set(key(part.role, layer, null), { ...entry, name: `${entry.name}[${part.role.split('.')[1]}]`, shape: [rows, entry.shape[1]!], byteLength: rows * rowBytes, offset: runs[0]!.offset, runs });
    }
    notes.set(kind, `${kind} read as its parts ${partsRoles.map((p) => p.split('.')[1]).join(', ')}: ${split.layout}`);
  }
  return [...notes.values()];
}

/**
 * Each expert's gate, up and down from a layer's fused-experts tensors (one 3-D tensor for all its
 * experts), indexed as a per-expert checkpoint indexes them: the slices are contiguous, their
 * parts row runs or, stored transposed, columns read whole. Expert layers of a 100B MoE hold
 * ~128 experts: the entries are a few per expert, their runs at most one per row of a part.
 */
function splitFusedExpertTensors(byKey: Map<string, ViewTensor>, fused: { entry: TensorEntry; role: string; layer: number }[], config: Record<string, unknown> | null): string[] {
  const notes = new Map<string, string>();
  for (const { entry, role, layer } of fused) {
    const kind = entry.name.replace(/\.\d+\./, '.*.');
    const split = entry.dtype === 'F8_E4M3' ? { reason: 'FP8 with block scales is not split' } : splitFusedExperts(role, entry.shape, config);
    if ('reason' in split) {
      notes.set(kind, `${kind} (all experts' ${role === 'expert.down' ? 'down' : 'gate and up'} in one tensor) could not be read expert by expert, so the routed experts' cells leave it out: ${split.reason}`);
      continue;
    }
    const [experts, a, b] = [entry.shape[0]!, entry.shape[1]!, entry.shape[2]!];
    const sliceBytes = entry.byteLength / experts;
    const rowBytes = sliceBytes / a;
    const bpe = rowBytes / b;
    for (let e = 0; e < experts; e++) {
      const at = entry.offset + e * sliceBytes;
      for (const part of split.parts) {
        if (byKey.has(key(part.role, layer, e))) continue;
        const name = `${entry.name}[${e}].${part.role.split('.')[1]}`;
        if (split.transposed) {
          byKey.set(key(part.role, layer, e), { ...entry, name, shape: [part.count, a], byteLength: part.count * a * bpe, offset: at, transposed: { rows: a, cols: b, first: part.first, step: part.step } });
        } else {
          const runs = linearPartRuns(entry.offset, entry.shape, bpe, e, part);
          byKey.set(key(part.role, layer, e), { ...entry, name, shape: [part.count, b], byteLength: part.count * rowBytes, offset: runs[0]!.offset, runs });
        }
      }
    }
    notes.set(kind, `${kind} read expert by expert as ${split.parts.map((p) => p.role.split('.')[1]).join(' and ')}: ${split.layout}`);
  }
  return [...notes.values()];
}

/** What the model's RMSNorm adds to its stored weight, by its family (0 where the config says nothing we know). */
function normOffsetOf(config: Record<string, unknown> | null): number {
  const arch = archOf(config);
  return 'reason' in arch ? 0 : familyOf(arch.family, [])?.normOffset ?? 0;
}

/**
 * The file ranges that hold `ranges` (offsets from the part's start) of a part made of `runs`,
 * in order: a range that crosses from one run into the next becomes two.
 */
export function physicalRanges(runs: readonly ByteRange[], ranges: readonly ByteRange[]): ByteRange[] {
  const out: ByteRange[] = [];
  for (const r of ranges) {
    let at = r.offset;
    let left = r.length;
    let start = 0;
    for (const run of runs) {
      if (left === 0) break;
      const end = start + run.length;
      if (at < end) {
        const take = Math.min(left, end - at);
        out.push({ offset: run.offset + (at - start), length: take });
        at += take;
        left -= take;
      }
      start = end;
    }
    if (left > 0) throw new RangeError(`bytes [${r.offset}, ${r.offset + r.length}) are past the part's ${start}`);
  }
  return out;
}

/**
 * Builds a checkpoint's tensor index ahead of its first view, in steps of a few hundred tensors:
 * the comparison's thread does it while the control tasks run, so that planning the aligned cells
 * does not wait on it.
 */
export function* indexTensorsSteps(checkpoint: Checkpoint): Steps<void> {
  yield* tensorIndexSteps(checkpoint);
}

/** Rows read at a time from a matrix `width` elements wide: bounded memory whatever the matrix. */
function bandRows(width: number, bytesPerElement: number): number {
  return Math.max(1, Math.floor((8 << 20) / (width * bytesPerElement)));
}

function key(role: string, layer: number | null, expert: number | null): string {
  return `${role}|${layer ?? ''}|${expert ?? ''}`;
}
