/**
 * Attention heads as their circuits (units.ts says what a unit is): a head's q, k, v and o rows
 * are defined only up to what its function keeps, its circuits are not. See attentionCircuits.
 */
import { dots, freezeOperand } from './dots.ts';
import type { Matrix } from './model-view.ts';
import { attentionMatrices, type UnitBuilder, type UnitSource } from './units.ts';

/** Hidden dimensions a head's circuits are cut on: each circuit holds their square (128² entries). */
export const CIRCUIT_DIMS = 128;

/**
 * v centred and scaled to length `scale` (zeros, and false, where it is constant): centerUnit's
 * result times `scale`, in three passes with float64 sums instead of four (a head's circuits are
 * 2·128² floats, cut again for every null draw).
 */
export function centerScaled(v: Float32Array, scale: number): boolean {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i]!;
  const mean = sum / (v.length || 1);
  let ss = 0;
  for (let i = 0; i < v.length; i++) { const x = v[i]! - mean; ss += x * x; }
  if (!(ss > 0)) { v.fill(0); return false; }
  const f = scale / Math.sqrt(ss);
  for (let i = 0; i < v.length; i++) v[i] = (v[i]! - mean) * f;
  return true;
}

/** Whether idx holds each of 0..s−1 once. */
function isPermutation(idx: Int32Array, s: number): boolean {
  if (idx.length !== s) return false;
  const seen = new Uint8Array(s);
  for (let i = 0; i < s; i++) {
    if (seen[idx[i]!]) return false;
    seen[idx[i]!] = 1;
  }
  return true;
}

/** gatherCircuit without signs, each entry centred by `mean` and scaled by `f` as it is written. */
function gatherCentered(c: Float32Array, base: number, s: number, idx: Int32Array, mean: number, f: number, block: Float32Array): void {
  const n = idx.length;
  for (let i = 0; i < n; i++) {
    const row = base + idx[i]! * s;
    const out = i * n;
    for (let j = 0; j < n; j++) block[out + j] = (c[row + idx[j]!]! - mean) * f;
  }
}

/** Entry (i, j) of block: circuit (s × s at `base` in c) at (idx_i, idx_j), times both signs. */
function gatherCircuit(c: Float32Array, base: number, s: number, idx: Int32Array, sg: Float32Array, block: Float32Array): void {
  const n = idx.length;
  for (let i = 0; i < n; i++) {
    const row = base + idx[i]! * s;
    const si = sg[i]!;
    const out = i * n;
    for (let j = 0; j < n; j++) block[out + j] = c[row + idx[j]!]! * si * sg[j]!;
  }
}

/**
 * Query heads as units, each as its two circuits on the hidden dimensions: QK = W_qᵀ·W_k (which
 * pairs of dimensions the head matches, its KV group's keys against its queries) and
 * OV = W_o·W_v (what it writes where it reads), q, k and v with the norm before them folded in.
 * A head's rows are defined only up to what its circuits keep: each RoPE plane of q and k turned
 * and scaled together (as a complex number), v rotated inside its KV group with o's columns
 * alike; raw q, k, v and o rows change under those, the circuits do not (a product over the
 * head's own dimension leaves nothing of its basis). `src.dims` are loaded; each circuit is
 * computed once, in the dots kernel, and a null's shuffled dimensions only reorder its entries.
 */
export function attentionCircuits(src: UnitSource, headDim: number): UnitBuilder | null {
  const loaded = attentionMatrices(src, headDim);
  if (!loaded) return null;
  const { q, k, v, o, heads, groups } = loaded;
  const s = src.dims.length;
  const d = headDim;
  const groupOf = (h: number) => Math.floor(h / (heads / groups));
  const position = new Map(Array.from(src.dims, (dim, i) => [dim, i]));
  const at = (dims: Int32Array) => Int32Array.from(dims, (dim) => {
    const p = position.get(dim);
    if (p === undefined) throw new Error(`attention circuits: dimension ${dim} was not loaded`);
    return p;
  });
  // A head's slice of a matrix, dimensions as rows (s × d): the dots kernel's operands.
  const byDimension = (m: Matrix, unit: number, rowsAreDims: boolean) => {
    const out = new Float32Array(s * d);
    for (let i = 0; i < s; i++) for (let r = 0; r < d; r++) out[i * d + r] = rowsAreDims ? m.data[i * m.cols + unit * d + r]! : m.data[(unit * d + r) * m.cols + i]!;
    return out;
  };
  let circuits: Float32Array | null = null;
  let moments: Float64Array | null = null;
  // heads × [QK, OV], each s × s, row-major.
  const computed = () => {
    if (circuits) return circuits;
    circuits = new Float32Array(heads * 2 * s * s);
    const keys = Array.from({ length: groups }, (_, g) => byDimension(k, g, false));
    const values = Array.from({ length: groups }, (_, g) => byDimension(v, g, false));
    for (let h = 0; h < heads; h++) {
      circuits.set(dots(byDimension(q, h, false), s, keys[groupOf(h)]!, s, d), (2 * h) * s * s);
      circuits.set(dots(byDimension(o, h, true), s, values[groupOf(h)]!, s, d), (2 * h + 1) * s * s);
    }
    // Each circuit's mean and the factor that makes it unit length ×1/√2: the same for any
    // reordering of all its dimensions (a null's shuffle), which then needs one pass, not three.
    moments = new Float64Array(heads * 4);
    for (let e = 0; e < heads * 2; e++) {
      const block = circuits.subarray(e * s * s, (e + 1) * s * s);
      let sum = 0;
      for (let i = 0; i < block.length; i++) sum += block[i]!;
      const mean = sum / block.length;
      let ss = 0;
      for (let i = 0; i < block.length; i++) { const x = block[i]! - mean; ss += x * x; }
      moments[2 * e] = mean;
      moments[2 * e + 1] = ss > 0 ? Math.SQRT1_2 / Math.sqrt(ss) : 0;
    }
    return circuits;
  };
  // Each listed head's circuits on positions idx (B's signs on both sides), centred, unit length, ×1/√2.
  const finish = (data: Float32Array, only: Int32Array | null, n: number, entries: (h: number, which: number, block: Float32Array) => void) => {
    const size = n * n;
    const listed = only ? only.length : heads;
    for (let u = 0; u < listed; u++) {
      for (let c = 0; c < 2; c++) {
        const block = data.subarray((2 * u + c) * size, (2 * u + c + 1) * size);
        entries(only ? only[u]! : u, c, block);
        centerScaled(block, Math.SQRT1_2);
      }
    }
    freezeOperand(data);
    return only ? { count: heads, width: 2 * size, data, rows: only } : { count: heads, width: 2 * size, data };
  };
  const signsOf = (sign: Float32Array | null, n: number) => sign ?? new Float32Array(n).fill(1);
  return {
    count: heads,
    // The matrices it holds (the reference and the energies read them) and the circuits.
    bytes: [q, k, v, o].reduce((n, m) => n + m.data.byteLength, 0) + heads * 2 * s * s * 4,
    build(wanted, sign, only = null) {
      const idx = at(wanted);
      const n = idx.length;
      const c = computed();
      if (!sign && isPermutation(idx, s)) {
        // Every dimension once, no signs: the circuits' own moments centre and scale them.
        const listed = only ? only.length : heads;
        const data = new Float32Array(listed * 2 * n * n);
        for (let u = 0; u < listed; u++) {
          for (let which = 0; which < 2; which++) {
            const e = 2 * (only ? only[u]! : u) + which;
            gatherCentered(c, e * s * s, s, idx, moments![2 * e]!, moments![2 * e + 1]!, data.subarray((2 * u + which) * n * n, (2 * u + which + 1) * n * n));
          }
        }
        freezeOperand(data);
        return only ? { count: heads, width: 2 * n * n, data, rows: only } : { count: heads, width: 2 * n * n, data };
      }
      const sg = signsOf(sign, n);
      return finish(new Float32Array((only ? only.length : heads) * 2 * n * n), only, n, (h, which, block) => gatherCircuit(c, (2 * h + which) * s * s, s, idx, sg, block));
    },
    widthFor(dims) {
      return 2 * dims.length * dims.length;
    },
    buildReference(wanted, sign, only = null) {
      // The circuits as products written out, in float64: no kernel, no precomputed circuit.
      const idx = at(wanted);
      const n = idx.length;
      const sg = signsOf(sign, n);
      return finish(new Float32Array((only ? only.length : heads) * 2 * n * n), only, n, (h, which, block) => {
        const g = groupOf(h);
        for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
          let x = 0;
          for (let r = 0; r < d; r++) {
            x += which === 0
              ? q.data[(h * d + r) * q.cols + idx[i]!]! * k.data[(g * d + r) * k.cols + idx[j]!]!
              : o.data[idx[i]! * o.cols + h * d + r]! * v.data[(g * d + r) * v.cols + idx[j]!]!;
          }
          block[i * n + j] = x * sg[i]! * sg[j]!;
        }
      });
    },
    energy(wanted) {
      const idx = at(wanted);
      return Float64Array.from(idx, (p) => {
        let e = 0;
        for (const m of [q, k, v]) for (let r = 0; r < m.rows; r++) e += m.data[r * m.cols + p]! ** 2;
        for (let c = 0; c < o.cols; c++) e += o.data[p * o.cols + c]! ** 2;
        return e;
      });
    },
  };
}
