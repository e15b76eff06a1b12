/**
 * Layers paired through what they compute, where the depths differ (a layer removed, a block
 * inserted) and the weights may be reparametrized (run where the raw-row alignment pairs nothing
 * it finds related: controls/index.ts). The layer alignment of stage 1
 * (controls/layers.ts) compares raw rows, which a permutation of heads or a rotation of the
 * hidden basis scrambles: a model with a layer removed and its heads permuted read attention
 * "mixed", and one with a block inserted and its stream rotated read attention and MLP "mixed"
 * (both partially-derived where they are derived).
 *
 * Here each layer is summed over its units, on the aligned dimensions (or the token basis) the
 * cells use, so nothing inside a block that keeps its function changes it:
 * - attention: Σ_h W_q,hᵀ W_k,g(h) and Σ_h W_o,h W_v,g(h) (no head order, RoPE plane turn or
 *   scale, value rotation);
 * - MLP: W_down W_up (no neuron order, sign of up with down, scale of up against down).
 * Both kinds together (an inserted LLaMA Pro block copies its layer's q, k and up and trains its o
 * and down from zero: half of it pairs), and the best monotone path through the layers' cosines
 * pairs them.
 *
 * Chosen pairs are the most alike, so a cell over a chosen pair could start above its nulls (B's
 * other layers) between independent models. The calibration set's independent pairs of 4 and of
 * 3 layers, and of 4 and 2, all paired so (alignModels), check that it does not
 * (bench/calibration.ts: 0 of 528 and 0 of 396 cells related). Pairing each group by
 * the other kind of weights only (attention through the MLPs) would avoid it by construction, but
 * left LLaMA Pro's inserted blocks unpaired: their MLP is new.
 */
import { monotoneAlignment } from '../controls/layers.ts';
import { dots } from './dots.ts';
import type { Matrix, ModelView } from './model-view.ts';
import { centerScaled } from './circuits.ts';
import { attentionMatrices, type DimSelection } from './units.ts';

/** Dimensions the signatures are cut on: 2·32² attention entries and 32² MLP entries per layer. */
export const PAIRING_DIMS = 32;

/** Rows first..first+count of `m` (its first `width` columns), transposed: width × count, so the dimensions are the kernel's rows. */
function columnsAsRows(m: Matrix, rows: [number, number], width: number): Float32Array {
  const [first, count] = rows;
  const out = new Float32Array(width * count);
  for (let r = 0; r < count; r++) for (let i = 0; i < width; i++) out[i * count + r] = m.data[(first + r) * m.cols + i]!;
  return out;
}

/** An n × n block into out[at…], B's signs applied to both indices, centred and of length `scale`; false when constant. */
function finished(block: Float64Array, n: number, sign: Float32Array | null, scale: number, out: Float32Array, at: number): boolean {
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[at + i * n + j] = block[i * n + j]! * (sign ? sign[i]! * sign[j]! : 1);
  return centerScaled(out.subarray(at, at + n * n), scale);
}

/** A layer's attention summed over its heads on `dims`: [QK, OV], each n × n, centred, ×1/√2. */
function attentionSignature(view: ModelView, layer: number, dims: Int32Array, sign: Float32Array | null, headDim: number): Float32Array | null {
  const m = attentionMatrices({ view, layer, dims }, headDim);
  if (!m) return null;
  const { q, k, v, o, heads, groups } = m;
  const n = dims.length;
  const perGroup = heads / groups;
  const qk = new Float64Array(n * n);
  const ov = new Float64Array(n * n);
  for (let g = 0; g < groups; g++) {
    // The group's query heads summed (its keys are theirs too), then one product per group.
    const qSum = new Float32Array(headDim * n);
    const oSum = new Float32Array(n * headDim);
    for (let h = g * perGroup; h < (g + 1) * perGroup; h++) {
      for (let e = 0; e < headDim * n; e++) qSum[e] = qSum[e]! + q.data[h * headDim * n + e]!;
      for (let i = 0; i < n; i++) for (let r = 0; r < headDim; r++) oSum[i * headDim + r] = oSum[i * headDim + r]! + o.data[i * o.cols + h * headDim + r]!;
    }
    const qT = columnsAsRows({ rows: headDim, cols: n, data: qSum }, [0, headDim], n);
    const kT = columnsAsRows(k, [g * headDim, headDim], n);
    const vT = columnsAsRows(v, [g * headDim, headDim], n);
    const a = dots(qT, n, kT, n, headDim);
    const b = dots(oSum, n, vT, n, headDim);
    for (let e = 0; e < n * n; e++) { qk[e] = qk[e]! + a[e]!; ov[e] = ov[e]! + b[e]!; }
  }
  const out = new Float32Array(2 * n * n);
  return finished(qk, n, sign, Math.SQRT1_2, out, 0) && finished(ov, n, sign, Math.SQRT1_2, out, n * n) ? out : null;
}

/** A layer's dense (else shared-expert) MLP as W_down W_up on `dims`, n × n, centred, unit length. */
function mlpSignature(view: ModelView, layer: number, dims: Int32Array, sign: Float32Array | null): Float32Array | null {
  const prefix = ['mlp', 'shared'].find((p) => view.tensor(`${p}.up`, layer) && view.tensor(`${p}.down`, layer));
  if (!prefix) return null;
  const down = view.rows(`${prefix}.down`, layer, dims);
  const up = view.columns(`${prefix}.up`, layer, dims, true);
  if (!down || !up || down.cols !== up.rows) return null;
  const n = dims.length;
  const upT = columnsAsRows(up, [0, up.rows], n);
  const u = Float64Array.from(dots(down.data, n, upT, n, down.cols));
  const out = new Float32Array(n * n);
  return finished(u, n, sign, 1, out, 0) ? out : null;
}

/** The best monotone pairing of B's layers with A's by the signatures' cosines; null when a layer has none. */
function paired(a: ModelView, b: ModelView, signature: (view: ModelView, layer: number, side: 'a' | 'b') => Float32Array | null): [number, number][] | null {
  const va = a.layers.map((l) => signature(a, l, 'a'));
  const vb = b.layers.map((l) => signature(b, l, 'b'));
  if (va.some((x) => !x) || vb.some((x) => !x)) return null;
  const width = va[0]!.length;
  if ([...va, ...vb].some((x) => x!.length !== width)) return null;
  const pack = (vs: (Float32Array | null)[]) => {
    const out = new Float32Array(vs.length * width);
    vs.forEach((x, i) => out.set(x!, i * width));
    return out;
  };
  const products = dots(pack(va), va.length, pack(vb), vb.length, width);
  const matrix = va.map((_, i) => vb.map((__, j) => products[i * vb.length + j]!));
  return monotoneAlignment(matrix).map(({ a: i, b: j }) => [a.layers[i]!, b.layers[j]!]);
}

/**
 * B's layers paired with A's through both kinds of signature together (each half the cosine;
 * either alone where a model lacks the other), in the views' basis, on PAIRING_DIMS of `sel`;
 * null where neither can be made for every layer.
 */
export function circuitLayerPairs(a: ModelView, b: ModelView, sel: DimSelection): [number, number][] | null {
  const keep = Array.from({ length: Math.min(PAIRING_DIMS, sel.a.length) }, (_, i) => Math.round((i * (sel.a.length - 1)) / Math.max(1, Math.min(PAIRING_DIMS, sel.a.length) - 1)));
  const dims = { a: Int32Array.from(keep, (i) => sel.a[i]!), b: Int32Array.from(keep, (i) => sel.b[i]!) };
  const sign = Float32Array.from(keep, (i) => sel.sign[i]!);
  const [ha, hb] = [a.attention(), b.attention()];
  const attention = (view: ModelView, layer: number, side: 'a' | 'b') => (ha && hb
    ? attentionSignature(view, layer, dims[side], side === 'b' ? sign : null, (side === 'a' ? ha : hb).headDim) : null);
  const mlp = (view: ModelView, layer: number, side: 'a' | 'b') => mlpSignature(view, layer, dims[side], side === 'b' ? sign : null);
  const both = (view: ModelView, layer: number, side: 'a' | 'b') => {
    const [x, y] = [attention(view, layer, side), mlp(view, layer, side)];
    if (!x || !y) return null;
    const out = new Float32Array(x.length + y.length);
    for (let i = 0; i < x.length; i++) out[i] = x[i]! * Math.SQRT1_2;
    for (let i = 0; i < y.length; i++) out[x.length + i] = y[i]! * Math.SQRT1_2;
    return out;
  };
  return paired(a, b, both) ?? paired(a, b, attention) ?? paired(a, b, mlp);
}
