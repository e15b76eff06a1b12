/**
 * Hidden-dimension (residual stream) alignment. One permutation of the hidden dimension applied
 * to every tensor leaves the function unchanged and makes every by-index comparison look
 * unrelated; this recovers the correspondence from what each hidden dimension carries:
 *
 *  - a profile per dimension, invariant to the order of heads, neurons and experts and to folding
 *    a norm into the next matrix: the (log) row norms of o_proj and down_proj, the column norms of
 *    the effective v, gate, up and router matrices (norm folded in), the norm vectors themselves,
 *    and the column norms of the embedding. A light fine-tune keeps each dimension's profile;
 *  - where both vocabularies hold tokens in common, the embedding columns themselves over the
 *    rows of those tokens (correlation, so that sign and scale per dimension drop out; the sign
 *    of the correlation gives each dimension's sign).
 *
 * Dimensions are matched one to one by linear assignment on the profile correlation (greedy
 * beyond 1024 dimensions). Widths may differ: the smaller side is matched into the larger
 * (width pruning). The match is read against a null in which B's per-layer features come from
 * other layers (what a dimension carries in every layer alike, such as outlier dimensions, stays
 * in the null). Whether two models are related is *not* decided here: the unit statistics
 * downstream carry their own nulls, computed under the same alignment.
 */
import { maximizeAssignmentFlat } from '../controls/assignment.ts';
import { Random } from '../synth/random.ts';
import type { ModelView, Matrix } from './model-view.ts';
import { evenlySpaced, predictivePValue, shuffled } from './stats.ts';
import { embeddingGeometry, type EmbeddingGeometry } from './geometry.ts';
import { dotsCompact, dotsInWasmAvailable, freezeOperand, withDots } from './dots.ts';
import { greedyMatchInWasm, greedySimilarities, greedySimilarities32 } from './greedy-wasm.ts';

export type HiddenAlignmentKind = 'identity' | 'permuted' | 'partial' | 'none';

export interface HiddenAlignment {
  kind: HiddenAlignmentKind;
  widthA: number;
  widthB: number;
  /** Dimensions of A given a counterpart in B. */
  matched: number;
  /** Of those, the share that map to the same index. */
  sameIndexShare: number;
  /** Mean profile correlation of matched dimensions, and what the null gives. */
  score: number;
  nullMean: number;
  nullSd: number;
  pValue: number;
  /** Profile features used (per layer and tensor), and whether embedding columns were used. */
  features: number;
  sources: string[];
  /** Dimensions of A whose sign was found flipped in B (embedding correlation only). */
  flippedSigns: number;
  nullKind: string;
  note: string;
  /** The shared tokens' embedding geometry, the same under any change of hidden basis (align/geometry.ts); null without shared rows. */
  embeddingGeometry?: EmbeddingGeometry | null;
  /** Set where no permutation matched but the embedding geometry is A's: the cells compared A and B in the basis of this many shared tokens' embeddings (align/token-basis.ts). */
  rotated?: { tokens: number };
  /**
   * Where no permutation matched and the tokens gave no rotated basis: how alike the probes of
   * both models' own blocks are in geometry (align/internal-basis.ts), null where the blocks give
   * no probes (other depths or widths, no gate or attention).
   */
  blockGeometry?: { correlation: number; probes: number; layers: number[] } | null;
  /** Set where that geometry is A's: the cells compared A and B in the basis of this many probes of their own blocks. */
  blockBasis?: { probes: number };
}

/** The correspondence itself (not in the report: widths of thousands). */
export interface DimMap {
  /** For each dimension of A, its counterpart in B, or −1. */
  toB: Int32Array;
  /** +1 or −1 per dimension of A. */
  sign: Float32Array;
}

const OUTPUT_SIDE = ['attn.o', 'mlp.down', 'shared.down'];
const INPUT_SIDE = ['attn.v', 'mlp.gate', 'mlp.up', 'shared.gate', 'shared.up', 'router.weight'];
const NORMS = ['norm.input', 'norm.post_attn'];
const NULL_DRAWS = 10;
/**
 * The null is read sequentially: after EARLY_DRAWS draws it stops where more cannot change the
 * reading: a correspondence beyond the null by EARLY_P (100× below the level it is judged at) and
 * MIN_EFFECT, as a derivative's is, or a score at or below the null's mean. Each p-value stays
 * valid at the draws it has; the first rule adds at most EARLY_P to the rate of false correspondences.
 */
const EARLY_DRAWS = 5;
const EARLY_P = 1e-5;
const LEVEL = 1e-3;
const SCORE_SD_FLOOR = 1e-3;
/** Linear assignment is O(n³): beyond this width the match is greedy (best pairs first). */
const EXACT_ASSIGNMENT_WIDTH = 1024;
const MAX_EMBEDDING_ROWS = 1024;
/** Layers whose tensors give the profile features (evenly spaced over the depth). */
const PROFILE_LAYERS = 12;
const MIN_EFFECT = 0.1;
const EMBEDDING_MATCH_BUDGET = 2.5e8;
/**
 * With fewer than 3 profile features (layer roles not recognised, say) the embedding columns are
 * the only evidence and are matched at full width: wa·wb·rows multiply-adds per draw, up to 11
 * draws. At 1024 rows a permuted derivative took 7.6 s at width 4096 and 31.6 s at 8192; with
 * the rows cut to keep a draw within this budget (down to MIN_EMBEDDING_ONLY_ROWS), 3.2 s and
 * 12.0 s, every dimension still recovered (the rest is the matching itself, width² a draw).
 * 256 rows still separate a derivative's columns (correlation near 1) from the best of 16384
 * unrelated ones (about 4.4/√256 = 0.28).
 */
const EMBEDDING_ONLY_BUDGET = 4.3e9;
const MIN_EMBEDDING_ONLY_ROWS = 256;

/** log of the L2 norm of each row (byRow) or column of m. */
function logNorms(m: Matrix, byRow: boolean): Float64Array {
  const out = new Float64Array(byRow ? m.rows : m.cols);
  for (let r = 0; r < m.rows; r++) for (let c = 0; c < m.cols; c++) {
    const v = m.data[r * m.cols + c]!;
    out[byRow ? r : c] += v * v;
  }
  return logOfSquares(out)!;
}

/** log of the L2 norm of each column of m less its mean row (no copy: Σx² − n·mean²). */
function centeredColumnLogNorms(m: Matrix | null): Float64Array | null {
  if (!m) return null;
  const sums = new Float64Array(m.cols);
  const squares = new Float64Array(m.cols);
  for (let r = 0; r < m.rows; r++) for (let c = 0; c < m.cols; c++) {
    const v = m.data[r * m.cols + c]!;
    sums[c] += v;
    squares[c] += v * v;
  }
  for (let c = 0; c < m.cols; c++) squares[c] = Math.max(0, squares[c]! - (sums[c]! * sums[c]!) / (m.rows || 1));
  return logOfSquares(squares);
}

function logOfSquares(squares: Float64Array | null): Float64Array | null {
  if (!squares) return null;
  for (let i = 0; i < squares.length; i++) squares[i] = 0.5 * Math.log(squares[i]! + 1e-30);
  return squares;
}

/** Features of one side keyed by where they come from; each a vector over hidden dimensions. */
function profileFeatures(view: ModelView, width: number, layerIndex: number[], embedRows: number[] | null): Map<string, Float64Array> {
  const out = new Map<string, Float64Array>();
  const put = (k: string, v: Float64Array | null) => { if (v && v.length === width) out.set(k, v); };
  layerIndex.forEach((layer, i) => {
    for (const role of OUTPUT_SIDE) put(`${role}@${i}`, logOfSquares(view.lineSquares(role, layer, true)));
    for (const role of INPUT_SIDE) {
      // Column norms of the effective matrix W·diag(γ) are |γ| times W's: no need to form it. A
      // router's less its mean row, as the cells compare it (units.ts withoutMeanRow: what a
      // softmax router cannot see); it is small enough to hold.
      const norms = role === 'router.weight' ? centeredColumnLogNorms(view.matrix(role, layer)) : logOfSquares(view.lineSquares(role, layer, false));
      if (!norms) continue;
      const gamma = view.precedingNorm(role, layer);
      if (gamma && gamma.length === norms.length) for (let j = 0; j < norms.length; j++) norms[j] = norms[j]! + Math.log(Math.abs(gamma[j]!) + 1e-30);
      put(`${role}@${i}`, norms);
    }
    for (const role of NORMS) {
      const g = view.vector(role, layer);
      if (g) put(`${role}@${i}`, Float64Array.from(g, (x) => Math.log(Math.abs(x) + 1e-30)));
    }
  });
  // Over the shared tokens' rows where they are known (only those rows are read), else every row.
  const embed = embedRows ? view.rows('embedding', null, embedRows) : view.matrix('embedding', null);
  if (embed && embed.cols === width) put('embedding', logNorms(embed, false));
  const head = embedRows ? view.rows('lm_head', null, embedRows) : view.matrix('lm_head', null);
  const finalNorm = view.precedingNorm('lm_head', null);
  if (head) {
    const norms = centeredColumnLogNorms(head)!;
    if (finalNorm && finalNorm.length === norms.length) for (let j = 0; j < norms.length; j++) norms[j] = norms[j]! + Math.log(Math.abs(finalNorm[j]!) + 1e-30);
    put('lm_head', norms);
  }
  return out;
}

/** Z-scores each feature over dimensions; drops features that are constant on a side. */
function zScored(features: Float64Array[], width: number): Float64Array[] {
  return features.map((f) => {
    let mean = 0;
    for (let i = 0; i < width; i++) mean += f[i]!;
    mean /= width;
    let ss = 0;
    for (let i = 0; i < width; i++) ss += (f[i]! - mean) ** 2;
    const sd = Math.sqrt(ss / width);
    // A plain loop: Float64Array.from(f, fn) iterates, an object per element.
    const out = new Float64Array(f.length);
    if (sd > 1e-9 * (Math.abs(mean) + 1)) for (let i = 0; i < f.length; i++) out[i] = (f[i]! - mean) / sd;
    return out;
  });
}

/** Rows = dimensions, each dimension's profile centred and scaled to unit length. */
function profileRows(features: Float64Array[], width: number): Float64Array {
  const f = features.length;
  const rows = new Float64Array(width * f);
  for (let i = 0; i < width; i++) {
    let mean = 0;
    for (let k = 0; k < f; k++) mean += features[k]![i]!;
    mean /= f || 1;
    let ss = 0;
    for (let k = 0; k < f; k++) { const v = features[k]![i]! - mean; rows[i * f + k] = v; ss += v * v; }
    const s = ss > 0 ? 1 / Math.sqrt(ss) : 0;
    for (let k = 0; k < f; k++) rows[i * f + k] = rows[i * f + k]! * s;
  }
  return rows;
}

/**
 * The similarity of each pair of dimensions: the profile correlation and the embedding columns'
 * |correlation| averaged where both are (each case its own loop, the same sum and quotient),
 * into `sim` (wa × wb: reused from draw to draw, as a fresh 128 MB array costs more in page faults
 * at 4096 wide than filling it does).
 */
function combined(prof: Float32Array | Float64Array | null, signed: Float32Array | Float64Array | null, sim: Sims): Sims {
  const cells = sim.length;
  // Float32 similarities hold float32 profiles alone, copied as they are (the same numbers).
  if (sim instanceof Float32Array) {
    if (!(prof instanceof Float32Array) || signed) throw new Error('hidden alignment: float32 similarities take float32 profile correlations alone');
    sim.set(prof.subarray(0, cells));
    return sim;
  }
  if (prof && signed) for (let k = 0; k < cells; k++) sim[k] = (prof[k]! + Math.abs(signed[k]!)) / 2;
  // (p + 0) / 1 is p itself: a sum that starts at +0 is never −0, so the copy is the same numbers.
  else if (prof) sim.set(prof.subarray(0, cells));
  else if (signed) for (let k = 0; k < cells; k++) sim[k] = (0 + Math.abs(signed[k]!)) / 1;
  else sim.fill(NaN);
  return sim;
}

/** The standardized columns, or null when every one is constant (standardized to zeros). */
function informative(columns: Float64Array): Float64Array | null {
  return columns.some((x) => x !== 0) ? columns : null;
}

/** Columns of the embedding rows (those of paired tokens), standardized: correlation = dot product / rows. */
function standardizedColumns(m: Matrix): Float64Array {
  const { rows: n, cols, data } = m;
  const out = new Float64Array(cols * n);
  // Transposed first, in tiles (a column walked down a 4096-wide matrix reads a cache line per value).
  for (let k0 = 0; k0 < n; k0 += 32) {
    for (let c0 = 0; c0 < cols; c0 += 32) {
      for (let k = k0; k < Math.min(n, k0 + 32); k++) for (let c = c0; c < Math.min(cols, c0 + 32); c++) out[c * n + k] = data[k * cols + c]!;
    }
  }
  for (let c = 0; c < cols; c++) {
    const base = c * n;
    let mean = 0;
    for (let k = 0; k < n; k++) mean += out[base + k]!;
    mean /= n;
    let ss = 0;
    for (let k = 0; k < n; k++) { const v = out[base + k]! - mean; out[base + k] = v; ss += v * v; }
    const s = ss > 0 ? 1 / Math.sqrt(ss) : 0;
    for (let k = 0; k < n; k++) out[base + k] = out[base + k]! * s;
  }
  return out;
}

/**
 * Similarities of A's dimensions (rows) with B's: float64, or float32 where they are the profiles'
 * correlations alone beyond the exact assignment's width (greedy matching compares them as their
 * float64 copy would, exactly, in half the memory).
 */
export type Sims = Float64Array | Float32Array;

/** One-to-one matching of A's dimensions (rows) into B's (columns) maximizing similarity. */
export function matchDimensions(sim: Sims, wa: number, wb: number): Int32Array {
  const toB = new Int32Array(wa).fill(-1);
  if (Math.max(wa, wb) <= EXACT_ASSIGNMENT_WIDTH) {
    if (!(sim instanceof Float64Array)) throw new Error('hidden alignment: the exact assignment takes float64 similarities');
    maximizeAssignmentFlat(sim, wa, wb).rowToCol.forEach((j, i) => { toB[i] = j; });
    return toB;
  }
  // Greedy: the most similar pairs first, each dimension used once (in WebAssembly where it runs: the same matching).
  return greedyMatchInWasm(sim, wa, wb) ?? greedyMatchJs(sim, wa, wb);
}

/** The greedy matching in JavaScript (the fallback, and the reference greedy-wasm.ts is tested against). */
export function greedyMatchJs(sim: Sims, wa: number, wb: number): Int32Array {
  const toB = new Int32Array(wa).fill(-1);
  const order: number[] = [];
  const best = new Int32Array(wa);
  for (let i = 0; i < wa; i++) {
    const base = i * wb;
    let b = 0;
    let top = sim[base]!;
    for (let j = 1; j < wb; j++) { const v = sim[base + j]!; if (v > top) { b = j; top = v; } }
    best[i] = b;
    order.push(i);
  }
  order.sort((x, y) => sim[y * wb + best[y]!]! - sim[x * wb + best[x]!]!);
  const usedB = new Uint8Array(wb);
  // Columns taken so far (every column taken ends the matching), and the ones left in ascending
  // order (compacted now and then): a row whose best is taken scans only these, first to last.
  let used = 0;
  const free = Int32Array.from({ length: wb }, (_, c) => c);
  let nFree = wb;
  let stale = 0;
  for (const i of order) {
    let j = best[i]!;
    if (usedB[j]) {
      j = -1;
      const base = i * wb;
      let top = 0;
      if (stale * 2 > nFree) {
        let kept = 0;
        for (let f = 0; f < nFree; f++) if (!usedB[free[f]!]) free[kept++] = free[f]!;
        nFree = kept;
        stale = 0;
      }
      for (let f = 0; f < nFree; f++) {
        const c = free[f]!;
        if (usedB[c]) continue;
        const v = sim[base + c]!;
        if (j < 0 || v > top) { j = c; top = v; }
      }
    }
    if (j >= 0 && wb > 0) { toB[i] = j; usedB[j] = 1; used++; stale++; }
    if (used === wb) break;
  }
  return toB;
}

function hiddenSettled(score: number, draws: number[]): boolean {
  const test = predictivePValue(score, draws, SCORE_SD_FLOOR);
  return (test.pValue <= EARLY_P && score - test.mean >= MIN_EFFECT) || test.pValue >= 0.5;
}

function meanMatched(sim: Sims, wb: number, toB: Int32Array): number {
  let s = 0;
  let n = 0;
  toB.forEach((j, i) => { if (j >= 0) { s += sim[i * wb + j]!; n++; } });
  return n ? s / n : 0;
}

export interface HiddenAlignmentInput {
  a: ModelView;
  b: ModelView;
  /** Embedding rows of tokens both vocabularies hold: [row in A, row in B]; null when unknown. */
  tokenPairs: [number, number][] | null;
  seed?: number;
  /** Multiply-adds per draw allowed to the embedding-only matching (default EMBEDDING_ONLY_BUDGET; tests lower it). */
  embeddingOnlyBudget?: number;
}

export function alignHidden(input: HiddenAlignmentInput): { alignment: HiddenAlignment; map: DimMap } | null {
  const { a, b } = input;
  const wa = a.hidden;
  const wb = b.hidden;
  if (!wa || !wb) return null;
  const random = new Random(input.seed ?? 1, 'hidden alignment');
  // Layers paired by index up to the shallower depth (a profile of per-layer features), at most
  // PROFILE_LAYERS of them evenly spaced: the correspondence is one for the whole residual stream,
  // and a 61-layer model need not be read whole to find it.
  const profiled = evenlySpaced(Math.min(a.layers.length, b.layers.length), PROFILE_LAYERS);
  const depth = profiled.length;
  let pairs = input.tokenPairs;
  if (pairs && pairs.length > MAX_EMBEDDING_ROWS) {
    const pick = shuffled(pairs.length, () => random.uniform()).slice(0, MAX_EMBEDDING_ROWS);
    pairs = [...pick].sort((x, y) => x - y).map((k) => pairs![k]!);
  }
  const featA = profileFeatures(a, wa, profiled.map((i) => a.layers[i]!), pairs ? pairs.map((p) => p[0]) : null);
  const featB = profileFeatures(b, wb, profiled.map((i) => b.layers[i]!), pairs ? pairs.map((p) => p[1]) : null);
  const keys = [...featA.keys()].filter((k) => featB.has(k));
  const zA = zScored(keys.map((k) => featA.get(k)!), wa);
  const zB = zScored(keys.map((k) => featB.get(k)!), wb);
  // Features constant on either side (a norm folded away) carry nothing.
  const live = keys.map((_, i) => zA[i]!.some((x) => x !== 0) && zB[i]!.some((x) => x !== 0));
  const fa = zA.filter((_, i) => live[i]);
  const fb = zB.filter((_, i) => live[i]);
  const f = fa.length;

  const budget = input.embeddingOnlyBudget ?? EMBEDDING_ONLY_BUDGET;
  if (f < 3 && pairs && wa * wb * pairs.length > budget) {
    const keep = Math.max(MIN_EMBEDDING_ONLY_ROWS, Math.floor(budget / (wa * wb)));
    if (keep < pairs.length) pairs = evenlySpaced(pairs.length, keep).map((k) => pairs![k]!);
  }
  // Embedding columns over the rows of shared tokens (sign and scale per dimension drop out).
  const embA = pairs && pairs.length >= 64 ? a.rows('embedding', null, pairs.map((p) => p[0])) : null;
  const embB = pairs && pairs.length >= 64 ? b.rows('embedding', null, pairs.map((p) => p[1])) : null;
  const geometry = embA && embB ? embeddingGeometry(embA, embB) : null;
  // Columns all constant (an all-zero embedding) match every way alike: no evidence, and no cost.
  const colsA = embA && embA.cols === wa ? informative(standardizedColumns(embA)) : null;
  const colsB = embB && embB.cols === wb ? informative(standardizedColumns(embB)) : null;
  // The full width × width correlation over the rows costs wa·wb·rows per draw: used to match only
  // where that stays small; at larger widths the profiles match and the embedding gives the signs.
  const useEmbedding = !!colsA && !!colsB && (f < 3 || wa * wb * pairs!.length <= EMBEDDING_MATCH_BUDGET);
  if (f < 3 && !useEmbedding) return null;

  // A's side is the same in every draw: its rows are made (and cut to float32) once.
  const rowsA = f >= 3 ? freezeOperand(Float32Array.from(profileRows(fa, wa))) : null;
  const embColsA = useEmbedding ? freezeOperand(Float32Array.from(colsA!)) : null;
  const similarity = (rowsB: Float64Array, embColsB: Float64Array | null, into: Sims): { sim: Sims; signed: Float32Array | Float64Array | null } => {
    // Profiles alone (the widths where the embedding only gives signs): read where the kernel left them.
    if (rowsA && !(embColsA && embColsB)) return { sim: withDots(rowsA, wa, Float32Array.from(rowsB), wb, f, (prof) => combined(prof, null, into)), signed: null };
    const prof = rowsA ? dotsCompact(rowsA, wa, Float32Array.from(rowsB), wb, f) : null;
    const signed = embColsA && embColsB ? dotsCompact(embColsA, wa, Float32Array.from(embColsB), wb, pairs!.length) : null;
    return { sim: combined(prof, signed, into), signed };
  };

  // Beyond the exact assignment's width the similarities go straight into the greedy kernel's
  // memory, one buffer for the observed matching (used up before the draws) and every draw:
  // float32 where they are the profiles' correlations alone, as the dots kernel gives them.
  const profilesOnly = !!rowsA && !useEmbedding;
  const greedyBuffer = Math.max(wa, wb) <= EXACT_ASSIGNMENT_WIDTH ? null : profilesOnly && dotsInWasmAvailable() ? greedySimilarities32(wa, wb) : greedySimilarities(wa, wb);
  const observed = similarity(profileRows(fb, wb), colsB, greedyBuffer ?? new Float64Array(wa * wb));
  const toB = matchDimensions(observed.sim, wa, wb);
  const score = meanMatched(observed.sim, wb, toB);

  // Null: B's per-layer features taken from other layers (a derangement of layers), so that what
  // every dimension carries in all layers alike (outlier dimensions, common in trained models)
  // is in the null too; with fewer than 3 layers, each feature shuffled across dimensions on its
  // own. Embedding rows of B deranged.
  const liveKeys = keys.filter((_, i) => live[i]);
  const layerOf = (k: string) => { const m = /@(\d+)$/.exec(k); return m ? Number(m[1]) : null; };
  const byLayers = depth >= 3;
  const draws: number[] = [];
  let drawSim: Float64Array | undefined;
  for (let d = 0; d < NULL_DRAWS && !(d >= EARLY_DRAWS && hiddenSettled(score, draws)); d++) {
    let fbNull: Float64Array[];
    if (byLayers) {
      const order = shuffled(depth, () => random.uniform());
      const moved = Int32Array.from(order.keys(), (i) => order[(i + 1) % depth]!);
      const remap = new Int32Array(depth);
      order.forEach((l, i) => { remap[l] = moved[i]!; });
      fbNull = liveKeys.map((k, i) => {
        const l = layerOf(k);
        if (l === null) return fb[i]!;
        const j = liveKeys.indexOf(k.replace(/@\d+$/, `@${remap[l]}`));
        return j >= 0 ? fb[j]! : fb[i]!;
      });
    } else {
      fbNull = fb.map((feature) => { const p = shuffled(wb, () => random.uniform()); return Float64Array.from(p, (i) => feature[i]!); });
    }
    let colsNull: Float64Array | null = null;
    if (useEmbedding) {
      const rows = pairs!.length;
      const p = shuffled(rows, () => random.uniform());
      colsNull = new Float64Array(colsB!.length);
      for (let c = 0; c < wb; c++) for (let k = 0; k < rows; k++) colsNull[c * rows + k] = colsB![c * rows + p[k]!]!;
    }
    const nullSim = similarity(profileRows(fbNull, wb), colsNull, greedyBuffer ?? (drawSim ??= new Float64Array(wa * wb)));
    draws.push(meanMatched(nullSim.sim, wb, matchDimensions(nullSim.sim, wa, wb)));
  }
  const test = predictivePValue(score, draws, SCORE_SD_FLOOR);
  const sign = new Float32Array(wa).fill(1);
  let flipped = 0;
  if (observed.signed) toB.forEach((j, i) => { if (j >= 0 && observed.signed![i * wb + j]! < 0) { sign[i] = -1; flipped++; } });
  else if (colsA && colsB) {
    // Signs from the embedding columns of matched dimensions only (rows·width, not rows·width²).
    const rows = pairs!.length;
    toB.forEach((j, i) => {
      if (j < 0) return;
      let dot = 0;
      for (let k = 0; k < rows; k++) dot += colsA[i * rows + k]! * colsB[j * rows + k]!;
      if (dot < 0) { sign[i] = -1; flipped++; }
    });
  }
  let matched = 0;
  let same = 0;
  toB.forEach((j, i) => { if (j >= 0) { matched++; if (j === i) same++; } });
  // The null above keeps much of what independent models share, but not all: a match must also
  // stand clear of it by MIN_EFFECT in profile correlation to be called a correspondence.
  const significant = test.pValue <= LEVEL && score - test.mean >= MIN_EFFECT;
  const sameIndexShare = matched ? same / matched : 0;
  const kind: HiddenAlignmentKind = !significant ? 'none' : wa !== wb ? 'partial' : sameIndexShare >= 0.9 ? 'identity' : 'permuted';
  if (kind === 'identity') { toB.forEach((_, i) => { toB[i] = i; }); }
  const sources = [
    ...(f >= 3 ? [`profiles of ${f} tensors (row norms of o/down, column norms of effective v/gate/up/router, norm vectors, embedding)`] : []),
    ...(useEmbedding ? [`embedding columns over ${pairs!.length} shared tokens`] : colsA && colsB ? [`signs from the embedding columns over ${pairs!.length} shared tokens`] : []),
  ];
  return {
    alignment: {
      kind, widthA: wa, widthB: wb, matched, sameIndexShare, score, nullMean: test.mean, nullSd: test.sd, pValue: test.pValue,
      features: f, sources, flippedSigns: flipped, embeddingGeometry: geometry,
      note: kind === 'none'
        ? 'no correspondence between the hidden dimensions stands out from the null (profiles shuffled across dimensions); weights are compared by index where the widths agree'
        : `${matched} dimensions of A matched into B's ${wb} (${Math.round(100 * sameIndexShare)}% at the same index)`,
      nullKind: `${byLayers ? "B's per-layer profile features taken from other layers (layers deranged)" : 'each profile feature of B shuffled across dimensions'}, ${draws.length} draws (${EARLY_DRAWS}, then up to ${NULL_DRAWS} unless settled)`,
    },
    map: { toB, sign },
  };
}

/** The identity correspondence (used when widths agree and no alignment stands out). */
export function identityMap(width: number): DimMap {
  return { toB: Int32Array.from({ length: width }, (_, i) => i), sign: new Float32Array(width).fill(1) };
}
