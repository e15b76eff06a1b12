/**
 * Units inside a layer, matched whatever their order: MLP neurons (a row of gate and of up with
 * the matching column of down), attention heads (each as its QK and OV circuits), router rows
 * (experts). Each unit is a set of blocks restricted to the hidden dimensions the alignment paired
 * (B's signs applied), every block centred and scaled to unit length: a unit's similarity is the
 * mean centered cosine of its blocks, which no edit that keeps the function can change (up×s with
 * down÷s per neuron; a head's q and k planes turned and scaled, its v rotated with o; a norm
 * folded into the next matrix: the matrices are the effective ones, see model-view.ts).
 *
 * A cell compares layer la of A with layer lb of B and gives one statistic: for neurons, the mean
 * over a seeded sample of A's neurons of the best similarity with any of B's (nearest neighbour:
 * 14,336 neurons cannot be assigned one to one cheaply, and the null pays the same maximum); for
 * heads and routers, the mean similarity under the best one-to-one assignment.
 */
import { maximizeAssignmentFlat } from '../controls/assignment.ts';
import type { DimMap } from './hidden.ts';
import type { Matrix, ModelView } from './model-view.ts';
import { centerUnit } from './stats.ts';
import { dots, dotsSignFreeTail, freezeOperand } from './dots.ts';
import { UnitCutter } from './units-wasm.ts';

/** Dimensions compared: A's and B's indices of matched pairs, and B's sign for each. */
export interface DimSelection {
  a: Int32Array;
  b: Int32Array;
  sign: Float32Array;
}

/** At most `max` matched dimensions (a seeded choice), in A's order. */
export function selectDims(map: DimMap, max: number, uniform: () => number): DimSelection {
  const pairs: number[] = [];
  map.toB.forEach((j, i) => { if (j >= 0) pairs.push(i); });
  for (let i = pairs.length - 1; i > 0 && pairs.length > max; i--) {
    const k = Math.floor(uniform() * (i + 1));
    [pairs[i], pairs[k]] = [pairs[k]!, pairs[i]!];
  }
  const chosen = pairs.slice(0, max).sort((x, y) => x - y);
  return {
    a: Int32Array.from(chosen),
    b: Int32Array.from(chosen, (i) => map.toB[i]!),
    sign: Float32Array.from(chosen, (i) => map.sign[i]!),
  };
}

/** Unit vectors, `count` rows of `width` floats (blocks concatenated, each scaled by 1/√blocks); never written once built (dots.ts may reuse its copy of `data`). */
export interface Units {
  count: number;
  width: number;
  data: Float32Array;
  /**
   * Built for these units only (`build`'s `only`): `data` holds just them, in this order
   * (rows.length × width). Absent: all `count` units, in order.
   */
  rows?: Int32Array;
  /**
   * Per unit (indexed by unit, listed or not), Σ over its blocks of log ‖block‖ before centring (MLP neurons: log‖gate_r‖ +
   * log‖up_r‖ + log‖down_r‖ on the compared dimensions, the norm folded in): unchanged by
   * up×s with down÷s, so a magnitude a function-preserving edit cannot move. Absent for other units.
   */
  magnitude?: Float64Array;
  /**
   * From this column on, the unit's blocks can all change sign together without changing what it
   * computes (a gated MLP's up row with its down column: silu(g·x)·(u·x)·d = silu(g·x)·(−u·x)·(−d)):
   * `similarities` takes the better of both signs. Absent: no such freedom.
   */
  flipFrom?: number;
}

/** Rows `rowFrom..rowTo` of m restricted to columns `cols` (signs applied), as one block. */
function rowBlock(m: Matrix, rowFrom: number, rowTo: number, cols: Int32Array, sign: Float32Array | null, out: Float32Array): void {
  let k = 0;
  for (let r = rowFrom; r < rowTo; r++) for (let c = 0; c < cols.length; c++) out[k++] = m.data[r * m.cols + cols[c]!]! * (sign ? sign[c]! : 1);
}

/** Columns `colFrom..colTo` of m restricted to rows `rows` (signs applied), as one block. */
function colBlock(m: Matrix, colFrom: number, colTo: number, rows: Int32Array, sign: Float32Array | null, out: Float32Array): void {
  let k = 0;
  for (let c = colFrom; c < colTo; c++) for (let r = 0; r < rows.length; r++) out[k++] = m.data[rows[r]! * m.cols + c]! * (sign ? sign[r]! : 1);
}

type BlockSpec = { m: Matrix; side: 'rows' | 'cols'; span: number };

/**
 * Units of one layer, with their matrices loaded once: `build` cuts them for a choice of hidden
 * dimensions (the observed alignment, or a null's shuffled one) without reading again.
 */
export interface UnitBuilder {
  count: number;
  /** Bytes of the matrices it holds. */
  bytes: number;
  /** `only`: build just these units (`rows` of the result): a null draw needs only the units its statistic reads. */
  build(dims: Int32Array, sign: Float32Array | null, only?: Int32Array | null): Units;
  /** The width of the units `build` makes on these dimensions (nothing is cut). */
  widthFor(dims: Int32Array): number;
  /** `build` as first written (a closure per block, columns walked with a stride): the reference tests compare `build` against. */
  buildReference(dims: Int32Array, sign: Float32Array | null, only?: Int32Array | null): Units;
  /** Energy (sum of squares) of each chosen dimension over the blocks: used to stratify nulls. */
  energy(dims: Int32Array): Float64Array;
}

/** A block's magnitude, centring and scale, as first written (centerUnit, then the scale). */
function finishBlockReference(block: Float32Array, scale: number, magnitude: Float64Array | undefined, u: number): void {
  if (magnitude) {
    let ss = 0;
    for (let k = 0; k < block.length; k++) ss += block[k]! * block[k]!;
    magnitude[u] += 0.5 * Math.log(ss + 1e-30);
  }
  centerUnit(block);
  for (let k = 0; k < block.length; k++) block[k] = block[k]! * scale;
}

/**
 * Unit u takes rows (or columns) u·span..(u+1)·span of each matrix. `kept`: the matrices hold only
 * these hidden dimensions (columns of a 'rows' block, rows of a 'cols' block), in this order;
 * `build` and `energy` name dimensions, which are found among them. Null: the matrices are whole.
 *
 * `build` is the hot loop of the aligned tests (every null draw cuts units again): it runs in
 * WebAssembly (units-wasm.ts), which gives `buildReference`'s numbers bit for bit; the reference
 * (the loops as first written) is what tests compare it with, and what runs without WebAssembly.
 */
function builder(specs: BlockSpec[], count: number, kept: Int32Array | null = null, withMagnitude = false, signFreeFrom: number | null = null): UnitBuilder {
  const position = kept ? new Map(Array.from(kept, (d, i) => [d, i])) : null;
  const at = (dims: Int32Array) => {
    if (!position) return dims;
    return Int32Array.from(dims, (d) => {
      const p = position.get(d);
      if (p === undefined) throw new Error(`unit builder: dimension ${d} was not loaded`);
      return p;
    });
  };
  const scale = 1 / Math.sqrt(specs.length);
  // Where the blocks that may change sign together start, on a cut of n dimensions.
  const flipped = (n: number) => (signFreeFrom === null ? {} : { flipFrom: specs.slice(0, signFreeFrom).reduce((w, sp) => w + sp.span * n, 0) });
  let cutter: UnitCutter | null = null;
  const self: UnitBuilder = {
    count,
    bytes: specs.reduce((n, s) => n + s.m.data.byteLength, 0),
    build(wanted, sign, only = null) {
      cutter ??= new UnitCutter(specs.map((s) => ({ data: s.m.data, rows: s.m.rows, cols: s.m.cols, byColumn: s.side === 'cols', span: s.span })));
      const cut = cutter.cut(at(wanted), sign, count, only, scale);
      if (!cut) return self.buildReference(wanted, sign, only);
      const { data, squares, width } = cut;
      freezeOperand(data);
      if (!withMagnitude) return only ? { count, width, data, rows: only, ...flipped(wanted.length) } : { count, width, data, ...flipped(wanted.length) };
      // Σ over blocks of log‖block‖, added in block order as the reference adds them.
      const magnitude = new Float64Array(count);
      const listed = only ? only.length : count;
      for (let n = 0; n < listed; n++) {
        const u = only ? only[n]! : n;
        for (let i = 0; i < specs.length; i++) magnitude[u] += 0.5 * Math.log(squares[i * listed + n]! + 1e-30);
      }
      return only ? { count, width, data, rows: only, magnitude, ...flipped(wanted.length) } : { count, width, data, magnitude, ...flipped(wanted.length) };
    },
    widthFor(dims) {
      return specs.reduce((w, s) => w + s.span * dims.length, 0);
    },
    buildReference(wanted, sign, only = null) {
      const dims = at(wanted);
      const sizes = specs.map((s) => s.span * dims.length);
      const width = sizes.reduce((x, y) => x + y, 0);
      const data = new Float32Array((only ? only.length : count) * width);
      const magnitude = withMagnitude ? new Float64Array(count) : undefined;
      for (let n = 0; n < (only ? only.length : count); n++) {
        const u = only ? only[n]! : n;
        let offset = n * width;
        specs.forEach((s, i) => {
          const block = data.subarray(offset, offset + sizes[i]!);
          if (s.side === 'rows') rowBlock(s.m, u * s.span, (u + 1) * s.span, dims, sign, block);
          else colBlock(s.m, u * s.span, (u + 1) * s.span, dims, sign, block);
          finishBlockReference(block, scale, magnitude, u);
          offset += sizes[i]!;
        });
      }
      freezeOperand(data);
      const listed = only ? { rows: only } : {};
      return magnitude ? { count, width, data, ...listed, magnitude, ...flipped(wanted.length) } : { count, width, data, ...listed, ...flipped(wanted.length) };
    },
    energy(wanted) {
      const dims = at(wanted);
      const out = new Float64Array(dims.length);
      for (const s of specs) {
        for (let k = 0; k < dims.length; k++) {
          const d = dims[k]!;
          let e = 0;
          if (s.side === 'rows') for (let r = 0; r < s.m.rows; r++) e += s.m.data[r * s.m.cols + d]! ** 2;
          else for (let c = 0; c < s.m.cols; c++) e += s.m.data[d * s.m.cols + c]! ** 2;
          out[k] += e;
        }
      }
      return out;
    },
  };
  return self;
}

export interface UnitSource {
  view: ModelView;
  layer: number;
  expert?: number | null;
  /** The hidden dimensions the units will be cut on: only these are loaded. */
  dims: Int32Array;
}

const MLP_ROLES: Record<string, [string, string, string]> = {
  mlp: ['mlp.gate', 'mlp.up', 'mlp.down'],
  shared: ['shared.gate', 'shared.up', 'shared.down'],
  expert: ['expert.gate', 'expert.up', 'expert.down'],
};
export type MlpKind = keyof typeof MLP_ROLES;

/** MLP neurons as units: [gate row, up row, down column]. */
export function mlpUnits(src: UnitSource, kind: MlpKind): UnitBuilder | null {
  const [g, u, d] = MLP_ROLES[kind]!;
  const expert = src.expert ?? null;
  const gate = src.view.columns(g, src.layer, src.dims, true, expert);
  const up = src.view.columns(u, src.layer, src.dims, true, expert);
  const down = src.view.rows(d, src.layer, src.dims, false, expert);
  const specs: BlockSpec[] = [];
  let count = 0;
  for (const [m, side] of [[gate, 'rows'], [up, 'rows'], [down, 'cols']] as const) {
    if (!m) continue;
    const n = side === 'rows' ? m.rows : m.cols;
    if (count && n !== count) return null;
    count = n;
    specs.push({ m, side, span: 1 });
  }
  // With a gate, up and down may flip sign together (the gate, inside the nonlinearity, cannot);
  // without one (GELU, ReLU) no sign change keeps the function.
  return specs.length ? builder(specs, count, src.dims, true, gate && specs.length > 1 ? 1 : null) : null;
}

/** A layer's q, k, v (the norm before them folded in) and o on `src.dims`, with its counts of query heads and KV groups; null where they do not fit together. */
export function attentionMatrices(src: UnitSource, headDim: number): { q: Matrix; k: Matrix; v: Matrix; o: Matrix; heads: number; groups: number } | null {
  const q = src.view.columns('attn.q', src.layer, src.dims, true);
  const k = src.view.columns('attn.k', src.layer, src.dims, true);
  const v = src.view.columns('attn.v', src.layer, src.dims, true);
  const o = src.view.rows('attn.o', src.layer, src.dims);
  if (!q || !k || !v || !o) return null;
  const heads = q.rows / headDim;
  const groups = k.rows / headDim;
  if (!Number.isInteger(heads) || !Number.isInteger(groups) || heads % groups !== 0 || o.cols !== q.rows || v.rows !== k.rows) return null;
  return { q, k, v, o, heads, groups };
}

/**
 * Query heads as their raw rows ([q rows of the head, o columns of the head]) and KV groups ([k
 * rows, v rows]): what a comparison index by index sees, which the bench's adversary reorders to
 * best match (bench/adversary.ts). The aligned tests compare heads as circuits (circuits.ts).
 */
export function attentionRowUnits(src: UnitSource, headDim: number): { heads: UnitBuilder; groups: UnitBuilder } | null {
  const loaded = attentionMatrices(src, headDim);
  if (!loaded) return null;
  const { q, k, v, o, heads, groups } = loaded;
  return {
    heads: builder([{ m: q, side: 'rows', span: headDim }, { m: o, side: 'cols', span: headDim }], heads, src.dims),
    groups: builder([{ m: k, side: 'rows', span: headDim }, { m: v, side: 'rows', span: headDim }], groups, src.dims),
  };
}

/** Router rows (one per expert) as units. */
export function routerUnits(src: UnitSource): UnitBuilder | null {
  const r = src.view.columns('router.weight', src.layer, src.dims, true);
  if (!r || r.rows < 2) return null;
  // A softmax router's logits can all move by one vector·x without changing a choice or a weight
  // (top-k and softmax see differences): rows are compared less their mean row.
  return builder([{ m: withoutMeanRow(r), side: 'rows', span: 1 }], r.rows, src.dims);
}

/**
 * m less its mean row. What a vector added to every row cannot change: the softmax after a
 * router or an lm_head sees only differences between rows' logits.
 */
export function withoutMeanRow(m: Matrix): Matrix {
  const mean = new Float64Array(m.cols);
  for (let r = 0; r < m.rows; r++) for (let c = 0; c < m.cols; c++) mean[c] += m.data[r * m.cols + c]!;
  for (let c = 0; c < m.cols; c++) mean[c] /= m.rows || 1;
  const data = new Float32Array(m.data.length);
  for (let r = 0; r < m.rows; r++) for (let c = 0; c < m.cols; c++) data[r * m.cols + c] = m.data[r * m.cols + c]! - mean[c]!;
  return { rows: m.rows, cols: m.cols, data };
}

/**
 * Token rows of the embedding (or the effective lm_head) as units, for the given token rows. The
 * lm_head's less their mean row: one vector added to every row moves every logit alike, which
 * the softmax over the vocabulary never sees (B's rows are the same tokens, so B's mean is the
 * same tokens' mean).
 */
export function tokenUnits(view: ModelView, role: 'embedding' | 'lm_head', rows: number[]): UnitBuilder | null {
  // Only the rows compared are read (a few hundred of a vocabulary of up to ~200k).
  const sub = view.rows(role, null, rows, role === 'lm_head');
  if (!sub) return null;
  return builder([{ m: role === 'lm_head' ? withoutMeanRow(sub) : sub, side: 'rows', span: 1 }], rows.length);
}

/** Similarities of the chosen units of x against every unit of y (rows: x's chosen units). */
export function similarities(x: Units, chosen: Int32Array | null, y: Units): Float64Array {
  // Columns are y's units and, without `chosen`, rows x's: both must be whole there.
  if (y.rows || (!chosen && x.rows)) throw new Error('similarities: units built for some units only are compared only through `chosen`');
  const n = chosen ? chosen.length : x.count;
  const rows = !chosen || x.rows === chosen ? null : x.rows ? positionsIn(x.rows, chosen) : chosen;
  if (x.flipFrom === undefined) return dots(x.data, n, y.data, y.count, x.width, rows);
  // The blocks before flipFrom and those after, compared apart: each pair keeps the better sign of
  // the second part (a·b + |c·d|), for the products' cost of one comparison.
  return dotsSignFreeTail(x.data, n, y.data, y.count, x.width, x.flipFrom, rows);
}

/** Where each of `units` sits among `rows` (a unit built for some units only, read for a subset of them). */
function positionsIn(rows: Int32Array, units: Int32Array): Int32Array {
  const at = new Map(Array.from(rows, (u, i) => [u, i]));
  return Int32Array.from(units, (u) => {
    const i = at.get(u);
    if (i === undefined) throw new Error(`unit ${u} was not built`);
    return i;
  });
}

/** Mean over rows of the best similarity in the row, the share whose best sits at the same index, and each row's best column. */
export function nearestNeighbour(sim: Float64Array, rows: number, cols: number, chosen: Int32Array | null): { statistic: number; sameIndexShare: number; matches: Int32Array } {
  let total = 0;
  let same = 0;
  const matches = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    let best = -Infinity;
    let at = -1;
    for (let j = 0; j < cols; j++) if (sim[i * cols + j]! > best) { best = sim[i * cols + j]!; at = j; }
    total += best;
    matches[i] = at;
    if (at === (chosen ? chosen[i]! : i)) same++;
  }
  return { statistic: rows ? total / rows : 0, sameIndexShare: rows ? same / rows : 0, matches };
}

/** Pearson correlation of the magnitudes of matched units (x's unit xs[i] with y's ys[i]); null when either side has no spread. */
export function magnitudeCorrelation(x: Float64Array, xs: ArrayLike<number>, y: Float64Array, ys: ArrayLike<number>): number | null {
  const n = xs.length;
  if (n < 3) return null;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) { ma += x[xs[i]!]!; mb += y[ys[i]!]!; }
  ma /= n;
  mb /= n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    const da = x[xs[i]!]! - ma;
    const db = y[ys[i]!]! - mb;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  // Magnitudes equal to rounding on a side (a synthetic init, a constant layer): nothing to correlate.
  if (!(saa > 1e-12 * n) || !(sbb > 1e-12 * n)) return null;
  return sab / Math.sqrt(saa * sbb);
}

/** Mean similarity under the best one-to-one assignment, and the share assigned to the same index. */
export function assigned(sim: Float64Array, rows: number, cols: number): { statistic: number; sameIndexShare: number } {
  const { rowToCol } = maximizeAssignmentFlat(sim, rows, cols);
  let total = 0;
  let n = 0;
  let same = 0;
  rowToCol.forEach((j, i) => { if (j >= 0) { total += sim[i * cols + j]!; n++; if (j === i) same++; } });
  return { statistic: n ? total / n : 0, sameIndexShare: n ? same / n : 0 };
}
