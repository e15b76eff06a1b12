/**
 * A basis of the residual stream that each model makes from its own blocks, for where B may be A
 * rotated (x → Qx, norms folded) and nothing shared is left to anchor a basis: the token embedding
 * replaced or retrained, or no tokens shared at all.
 *
 * Every layer holds matrices from the stream to itself that no function-preserving edit inside the
 * block changes, only the rotation (M → Q M Qᵀ):
 * - K = Σ_h ‖OV_h‖ W_q,hᵀ W_k,h (each query head with its KV head, weighted by the size of what it
 *   writes, so a head whose output is zeroed adds nothing): no head order, RoPE plane turn or
 *   plane scale changes it;
 * - V = W_o W_v (likewise): no value rotation inside a KV group or scale of v against o;
 * - U = W_down W_up: no neuron order, sign flip of up with down, or scale of up against down;
 * and their transposes. Read matrices are taken with their norm folded in (`effective`), as the
 * rotation folds it. A start vector with no sign or scale left free is the mean of a layer's gate
 * rows (inside the nonlinearity, a gate row can be neither flipped nor scaled), each weighted by
 * its neuron's u·d (up row with down column): a neuron split among copies of its gate row weighs
 * what it did, and one whose down column is zero nothing; it turns as Q m.
 *
 * The probes are words in these operators applied to the starts (m, K m, V U m, …), in one fixed
 * order both sides share: each is A's probe turned by Q, up to the drift of fine-tuning, which a
 * word of length k multiplies about k-fold. Unlike eigenvectors, a probe has no sign to choose and
 * does not mix with its neighbours when two eigenvalues come close. Each is scaled to unit length,
 * which removes a global scale of the stream's writes (RMSNorm ignores it).
 *
 * The geometry of the probes (their cosine Gram matrix) is the same on both sides of a rotated
 * copy and unrelated between independent models: `probeGeometry` is the gate, the cells (through
 * ProbeBasisView) the evidence.
 */
import type { Checkpoint } from '../checkpoint/folder.ts';
import { dotsCompact } from './dots.ts';
import type { Matrix, ModelView } from './model-view.ts';
import { ProbeBasisView } from './token-basis.ts';

/** Operators by name; the same list on both sides, fixed by the roles both have. */
export type OperatorName = 'K' | 'Kt' | 'V' | 'Vt' | 'U' | 'Ut';

/** y = M x for every column-vector x of `xs` (rows of xs are vectors of length m.cols). */
function apply(m: Matrix, xs: Float32Array, count: number): Float32Array {
  return Float32Array.from(dotsCompact(xs, count, m.data, m.rows, m.cols));
}

/**
 * Mᵀ x for many vectors at once: M transposed once (kept for the operator's later calls) and the
 * dots kernel, instead of applyT's JavaScript loop (a 256-probe basis at 4096 wide spent 11.7 of
 * its 20 s there). A few vectors (the gate's words of one letter) keep the loop: no copy of M.
 */
function transposeApplier(m: Matrix, mT: Float32Array | null = null): (xs: Float32Array, count: number) => Float32Array {
  let t: Matrix | null = mT && { rows: m.cols, cols: m.rows, data: mT };
  return (xs, count) => {
    if (count < BATCH_FOR_KERNEL) return applyT(m, xs, count);
    t ??= { rows: m.cols, cols: m.rows, data: transposed(m) };
    return apply(t, xs, count);
  };
}

/** From this many vectors, Mᵀx goes through a transposed copy and the kernel. */
const BATCH_FOR_KERNEL = 8;

/** y = Mᵀ x for each vector (length m.rows) of `xs`: one pass over M for all the vectors. */
function applyT(m: Matrix, xs: Float32Array, count: number): Float32Array {
  const acc = new Float64Array(count * m.cols);
  for (let r = 0; r < m.rows; r++) {
    const row = m.data.subarray(r * m.cols, (r + 1) * m.cols);
    for (let v = 0; v < count; v++) {
      const f = xs[v * m.rows + r]!;
      if (f === 0) continue;
      const at = v * m.cols;
      for (let j = 0; j < m.cols; j++) acc[at + j] = acc[at + j]! + f * row[j]!;
    }
  }
  return Float32Array.from(acc);
}

/** Mᵀ row-major, in tiles (a 4096 × 4096 o in a fraction of the time a plain strided loop takes). */
function transposed(m: Matrix): Float32Array {
  const out = new Float32Array(m.rows * m.cols);
  const T = 64;
  for (let r0 = 0; r0 < m.rows; r0 += T) for (let c0 = 0; c0 < m.cols; c0 += T) {
    const [r1, c1] = [Math.min(m.rows, r0 + T), Math.min(m.cols, c0 + T)];
    for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) out[c * m.rows + r] = m.data[r * m.cols + c]!;
  }
  return out;
}

/** Key/value heads spread to their query heads (each query head gets its group's slice). */
function expandHeads(xs: Float32Array, count: number, kvHeads: number, heads: number, headDim: number): Float32Array {
  const group = heads / kvHeads;
  const out = new Float32Array(count * heads * headDim);
  for (let v = 0; v < count; v++) for (let h = 0; h < heads; h++) {
    const g = Math.floor(h / group);
    out.set(xs.subarray((v * kvHeads + g) * headDim, (v * kvHeads + g + 1) * headDim), (v * heads + h) * headDim);
  }
  return out;
}

/** Query heads summed into their KV group (expandHeads' transpose). */
function reduceHeads(xs: Float32Array, count: number, kvHeads: number, heads: number, headDim: number): Float32Array {
  const group = heads / kvHeads;
  const out = new Float32Array(count * kvHeads * headDim);
  for (let v = 0; v < count; v++) for (let h = 0; h < heads; h++) {
    const g = Math.floor(h / group);
    for (let i = 0; i < headDim; i++) out[(v * kvHeads + g) * headDim + i] = out[(v * kvHeads + g) * headDim + i]! + xs[(v * heads + h) * headDim + i]!;
  }
  return out;
}

type Operator = (xs: Float32Array, count: number) => Float32Array;

/** Each query head's slice of every vector times that head's weight (in place). */
function byHead(xs: Float32Array, count: number, weights: Float64Array, headDim: number): Float32Array {
  const heads = weights.length;
  for (let v = 0; v < count; v++) for (let h = 0; h < heads; h++) {
    const at = (v * heads + h) * headDim;
    for (let i = 0; i < headDim; i++) xs[at + i] = xs[at + i]! * weights[h]!;
  }
  return xs;
}

/**
 * ‖W_o,h W_v,g(h)‖_F for every query head h: what the head writes, whatever its parametrization.
 * ‖AB‖² = Σ_ij (AᵀA)_ij (BBᵀ)_ij, with AᵀA and BBᵀ head_dim wide, so no d × d product is formed.
 */
function headOutputNorms(o: Matrix, oT: Float32Array, v: Matrix, shape: { heads: number; kvHeads: number; headDim: number }): Float64Array {
  const { heads, kvHeads, headDim } = shape;
  const d = o.rows;
  const vv = Array.from({ length: kvHeads }, (_, g) => {
    const rows = v.data.subarray(g * headDim * v.cols, (g + 1) * headDim * v.cols);
    return dotsCompact(rows, headDim, rows, headDim, v.cols);
  });
  const group = heads / kvHeads;
  return Float64Array.from({ length: heads }, (_, h) => {
    const rows = oT.subarray(h * headDim * d, (h + 1) * headDim * d);
    const oo = dotsCompact(rows, headDim, rows, headDim, d);
    const b = vv[Math.floor(h / group)]!;
    let ss = 0;
    for (let i = 0; i < headDim * headDim; i++) ss += oo[i]! * b[i]!;
    return Math.sqrt(Math.max(0, ss));
  });
}

/** The MLP whose gate and up/down make a layer's start and U: dense, else shared experts. */
function mlpPrefix(view: ModelView, layer: number): 'mlp' | 'shared' | null {
  for (const p of ['mlp', 'shared'] as const) {
    if (view.tensor(`${p}.up`, layer) && view.tensor(`${p}.down`, layer)) return p;
  }
  return null;
}

/** Which operators a layer of this model can give (both sides then use the ones both have). */
export function availableOperators(view: ModelView, layer: number): OperatorName[] {
  const out: OperatorName[] = [];
  if (view.attention() && ['attn.q', 'attn.k', 'attn.v', 'attn.o'].every((r) => view.tensor(r, layer))) out.push('K', 'Kt', 'V', 'Vt');
  if (mlpPrefix(view, layer)) out.push('U', 'Ut');
  return out;
}

/** Whether a layer has a dense or shared-experts gated MLP (a start read whole); routed experts are pooled only where no chosen layer has one. */
function denseGate(view: ModelView, layer: number): boolean {
  const p = mlpPrefix(view, layer);
  return !!p && !!view.tensor(`${p}.gate`, layer);
}

/** A layer's dense matrix, decoded (the norm folded in where `effective`). */
type Read = (role: string, layer: number, effective: boolean) => Matrix | null;

/**
 * Reads for one internalProbes call, each matrix once: a start layer is one of the plan's layers,
 * and its up and down are its U's too (at 4096 wide, 90 M elements a layer decoded twice).
 */
function readingOnce(view: ModelView): Read {
  const seen = new Map<string, Matrix | null>();
  return (role, layer, effective) => {
    const key = `${role}\u0000${layer}\u0000${effective}`;
    if (!seen.has(key)) seen.set(key, effective ? view.effective(role, layer) : view.matrix(role, layer));
    return seen.get(key)!;
  };
}

function operators(view: ModelView, read: Read, layer: number, names: OperatorName[]): Map<OperatorName, Operator> | null {
  const out = new Map<OperatorName, Operator>();
  const shape = view.attention();
  if (names.some((n) => n[0] === 'K' || n[0] === 'V')) {
    const [q, k, v, o] = [read('attn.q', layer, true), read('attn.k', layer, true), read('attn.v', layer, true), read('attn.o', layer, false)];
    if (!shape || !q || !k || !v || !o) return null;
    const { heads, kvHeads, headDim } = shape;
    // o transposed once: the heads' output norms and Vt both take it.
    const oTransposed = transposed(o);
    const w = headOutputNorms(o, oTransposed, v, shape);
    const [qT, kT, vT, oT] = [transposeApplier(q), transposeApplier(k), transposeApplier(v), transposeApplier(o, oTransposed)];
    out.set('K', (xs, n) => qT(byHead(expandHeads(apply(k, xs, n), n, kvHeads, heads, headDim), n, w, headDim), n));
    out.set('Kt', (xs, n) => kT(reduceHeads(byHead(apply(q, xs, n), n, w, headDim), n, kvHeads, heads, headDim), n));
    out.set('V', (xs, n) => apply(o, expandHeads(apply(v, xs, n), n, kvHeads, heads, headDim), n));
    out.set('Vt', (xs, n) => vT(reduceHeads(oT(xs, n), n, kvHeads, heads, headDim), n));
  }
  if (names.some((n) => n[0] === 'U')) {
    const p = mlpPrefix(view, layer);
    const [up, down] = p ? [read(`${p}.up`, layer, true), read(`${p}.down`, layer, false)] : [null, null];
    if (!up || !down) return null;
    out.set('U', (xs, n) => apply(down, apply(up, xs, n), n));
    const [upT, downT] = [transposeApplier(up), transposeApplier(down)];
    out.set('Ut', (xs, n) => upT(downT(xs, n), n));
  }
  return out;
}

/**
 * A layer's start: its effective gate rows, each weighted by its neuron's u·d (up row with down
 * column; its routed experts' neurons pooled where it has no dense or shared MLP); null where
 * missing or where the weights cancel. u·d is linear in the neuron's u dᵀ, so however a neuron is
 * split among copies of its gate row (its down column divided, or its up row as u + r and −r),
 * the copies weigh what it did; no scale of up against down or sign flip of both changes it, and
 * a neuron that writes nothing weighs nothing. (‖u‖·‖d‖ was not linear: an up row split as u + r
 * and −r with r large would weigh that neuron at will.)
 */
function start(view: ModelView, read: Read, layer: number): Float32Array | null {
  const dense = mlpPrefix(view, layer);
  const sources: [string, number | null][] = dense && view.tensor(`${dense}.gate`, layer) ? [[dense, null]]
    : view.experts('expert.gate', layer).map((e) => ['expert', e]);
  const d = view.hidden;
  if (sources.length === 0 || !d) return null;
  const acc = new Float64Array(d);
  // One expert at a time: a layer of 128 experts is never held whole.
  for (const [prefix, expert] of sources) {
    // A dense or shared MLP's up and down through `read` (they are its U's too; the gate is read
    // here alone and let go); routed experts one by one.
    const gate = view.effective(`${prefix}.gate`, layer, expert);
    const [up, down] = expert === null
      ? [read(`${prefix}.up`, layer, true), read(`${prefix}.down`, layer, false)]
      : [view.effective(`${prefix}.up`, layer, expert), view.matrix(`${prefix}.down`, layer, expert)];
    if (!gate || !up || !down || gate.cols !== d || up.rows !== gate.rows || down.cols !== gate.rows || up.cols !== down.rows) return null;
    for (let r = 0; r < gate.rows; r++) {
      let wr = 0;
      for (let j = 0; j < d; j++) wr += up.data[r * d + j]! * down.data[j * down.cols + r]!;
      for (let j = 0; j < d; j++) acc[j] = acc[j]! + wr * gate.data[r * d + j]!;
    }
  }
  return acc.some((x) => x !== 0) ? Float32Array.from(acc) : null;
}

function unit(xs: Float32Array, count: number, d: number): void {
  for (let v = 0; v < count; v++) {
    let ss = 0;
    for (let j = 0; j < d; j++) ss += xs[v * d + j]! ** 2;
    const f = ss > 0 ? 1 / Math.sqrt(ss) : 0;
    for (let j = 0; j < d; j++) xs[v * d + j] = xs[v * d + j]! * f;
  }
}

/** Which layers give operators and starts, and which operators: the same for both models. */
export interface ProbePlan {
  /** Layers whose operators are used (both models have them: a rotation keeps the depth). */
  layers: number[];
  /** Layers whose gate rows, weighted by their neurons' u·d, are a start. */
  starts: number[];
  operators: OperatorName[];
  /** How many probes: the starts, then words one letter longer at a time (up to MAX_WORD), in a fixed order. */
  count: number;
}

/** Layers whose blocks give one basis's probes (evenly spaced): more layers would read more, not anchor better. */
const PLAN_LAYERS = 3;
/** Words of at most this length: drift grows about linearly with it (a 1% fine-tune moves a word of 4 letters ~4%). */
const MAX_WORD = 4;

/**
 * Two probe plans both models can follow, from disjoint layers, or null: a basis made from a
 * layer's own blocks must not judge that layer (its cells would find the construction the same on
 * both sides: BabyLlama-105 against the independent 361 read attention related so, p = 1.1e-10), so each cell
 * is compared in the basis of the plan that does not hold its layer of A (basisFor). Each plan:
 * up to PLAN_LAYERS layers (the two alternate over evenly spaced ones; a rotation keeps the depth),
 * operators both models have in all of them, and starts from its layers with a dense or shared
 * gate on both sides (else the routed experts' gates of one of its layers, pooled).
 */
export function planProbes(a: ModelView, b: ModelView, count: number): [ProbePlan, ProbePlan] | null {
  if (!a.hidden || !b.hidden || a.layers.length < 2 || a.layers.length !== b.layers.length || a.layers.some((l, i) => l !== b.layers[i])) return null;
  const n = a.layers.length;
  const spread = Math.min(2 * PLAN_LAYERS, n);
  const chosen = [...new Set(Array.from({ length: spread }, (_, i) => a.layers[Math.round((i * (n - 1)) / Math.max(1, spread - 1))]!))];
  const plans = [0, 1].map((parity) => plan(a, b, chosen.filter((_, i) => i % 2 === parity), count));
  return plans[0] && plans[1] ? [plans[0], plans[1]] : null;
}

/** Whether every routed expert of a layer has its gate, up and down (a pooled start). */
function pooled(view: ModelView, layer: number): boolean {
  const experts = view.experts('expert.gate', layer);
  return experts.length > 0 && experts.every((e) => view.tensor('expert.up', layer, e) && view.tensor('expert.down', layer, e));
}

function plan(a: ModelView, b: ModelView, layers: number[], count: number): ProbePlan | null {
  const operators = (['K', 'Kt', 'V', 'Vt', 'U', 'Ut'] as OperatorName[]).filter((o) => layers.every((l) => availableOperators(a, l).includes(o) && availableOperators(b, l).includes(o)));
  if (layers.length === 0 || operators.length === 0) return null;
  let starts = layers.filter((l) => denseGate(a, l) && denseGate(b, l));
  if (starts.length === 0) starts = layers.filter((l) => pooled(a, l) && pooled(b, l)).slice(0, 1);
  return starts.length > 0 ? { layers, starts, operators, count } : null;
}

/** Which of the two plans a cell with A's layer `layerA` is compared in: the one whose probes were not made from that layer. */
export function basisFor(plans: readonly ProbePlan[], layerA: number | null): number {
  const uses = (p: ProbePlan) => layerA !== null && (p.layers.includes(layerA) || p.starts.includes(layerA));
  const i = plans.findIndex((p) => !uses(p));
  return i < 0 ? 0 : i;
}

/**
 * The probes of `plan` (count × hidden, each of unit length), or null where a matrix is missing or
 * unreadable. Order: the starts (one per start layer), every operator of every layer applied to
 * every start, then operators applied to those, and so on; the last level takes evenly spaced
 * (operator, word) pairs to make up the count.
 */
export function internalProbes(view: ModelView, plan: ProbePlan): Matrix | null {
  const d = view.hidden;
  if (!d) return null;
  const read = readingOnce(view);
  const starts: Float32Array[] = [];
  for (const l of plan.starts) {
    const s = start(view, read, l);
    if (!s || s.length !== d) return null;
    starts.push(s);
  }
  const ops: Operator[] = [];
  for (const l of plan.layers) {
    const byName = operators(view, read, l, plan.operators);
    if (!byName) return null;
    for (const name of plan.operators) ops.push(byName.get(name)!);
  }
  const out = new Float32Array(plan.count * d);
  let at = 0;
  let level = new Float32Array(starts.length * d);
  starts.forEach((v, i) => level.set(v, i * d));
  let n = starts.length;
  unit(level, n, d);
  // Level by level (words one letter longer each time) until the count is reached: at the last
  // level, evenly spaced (operator, word) pairs, grouped by operator so each reads its matrices once.
  for (let length = 0; length < MAX_WORD && at < plan.count; length++) {
    if (length > 0) {
      const total = ops.length * n;
      const take = Math.min(total, plan.count - at);
      const chosen = Array.from({ length: take }, (_, k) => Math.floor((k * total) / take));
      const next = new Float32Array(take * d);
      let filled = 0;
      for (let i = 0; i < ops.length; i++) {
        const words = chosen.filter((c) => Math.floor(c / n) === i).map((c) => c % n);
        if (words.length === 0) continue;
        const xs = new Float32Array(words.length * d);
        words.forEach((w, k) => xs.set(level.subarray(w * d, (w + 1) * d), k * d));
        next.set(ops[i]!(xs, words.length), filled * d);
        filled += words.length;
      }
      level = next;
      n = take;
      unit(level, n, d);
    }
    const copy = Math.min(n, plan.count - at);
    out.set(level.subarray(0, copy * d), at * d);
    at += copy;
  }
  return { rows: at, cols: d, data: at === plan.count ? out : out.slice(0, at * d) };
}

/**
 * How alike two models' probe geometries are: the Pearson correlation of the cosines between
 * probes (the upper triangle of each Gram matrix, probes already unit). A rotation leaves each
 * Gram matrix as it was; independent models' cosines are unrelated.
 */
export function probeGeometry(pa: Matrix, pb: Matrix): number {
  const n = Math.min(pa.rows, pb.rows);
  const ga = dotsCompact(pa.data, n, pa.data, n, pa.cols);
  const gb = dotsCompact(pb.data, n, pb.data, n, pb.cols);
  let sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0, m = 0;
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) {
    const x = ga[i * n + j]!, y = gb[i * n + j]!;
    sx += x; sy += y; sxx += x * x; syy += y * y; sxy += x * y; m++;
  }
  if (m < 2) return 0;
  const cov = sxy - (sx * sy) / m;
  const vx = sxx - (sx * sx) / m;
  const vy = syy - (sy * sy) / m;
  return vx > 0 && vy > 0 ? cov / Math.sqrt(vx * vy) : 0;
}

/** A model seen through the probes of its own blocks (whitened like the token basis): the cells' view where B is A rotated and no tokens anchor a basis. */
export class BlockBasisView extends ProbeBasisView {
  constructor(checkpoint: Checkpoint, plan: ProbePlan) {
    super(checkpoint, `blocks:${JSON.stringify(plan)}`, (view) => internalProbes(view, plan));
  }
}

const OPERATOR_NAMES: readonly string[] = ['K', 'Kt', 'V', 'Vt', 'U', 'Ut'];

/** Whether an untrusted value (a task's or an answer's selection) is a probe plan this module can follow. */
export function isProbePlan(x: unknown): x is ProbePlan {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return false;
  const p = x as Record<string, unknown>;
  const layerList = (v: unknown) => Array.isArray(v) && v.length >= 1 && v.length <= 64 && v.every((l) => Number.isSafeInteger(l) && (l as number) >= 0 && (l as number) < 1 << 16);
  return layerList(p.layers) && layerList(p.starts)
    && Array.isArray(p.operators) && p.operators.length >= 1 && p.operators.length <= OPERATOR_NAMES.length
    && p.operators.every((o) => typeof o === 'string' && OPERATOR_NAMES.includes(o)) && new Set(p.operators).size === p.operators.length
    && Number.isSafeInteger(p.count) && (p.count as number) >= 1 && (p.count as number) <= 4096;
}

/** Whether an untrusted value is the cells' block bases: one or two probe plans of one count, which the selection's indices stay below. */
export function isBlockBases(x: unknown, indices: number[]): x is ProbePlan[] {
  return Array.isArray(x) && x.length >= 1 && x.length <= 2 && x.every(isProbePlan)
    && x.every((p) => p.count === x[0]!.count) && indices.every((i) => i < (x[0] as ProbePlan).count);
}
