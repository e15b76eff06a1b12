/**
 * Routed experts matched across two MoE models (issue 5). A derivative may reorder its experts
 * (and the router rows with them): expert i of A is then expert π(i) of B, and comparing expert i
 * with expert i finds nothing. Per MoE layer present in both models:
 *  1. an E_A × E_B similarity matrix: the centered cosine of router rows (router.weight row i of A
 *     against row j of B: cheap, hidden-size vectors), or, where a side has no router, of the
 *     concatenated expert weights (gate, up, down) through the comparison kernels;
 *  2. the best one-to-one matching by linear assignment;
 *  3. a permutation null for the matched mean: an optimal matching always finds some similarity,
 *     even between unrelated models, so the observed mean is set against the optimal matching of
 *     matrices drawn under "B's coordinates are unrelated to A's" (a random permutation of the
 *     coordinates). Under that permutation the cross matrix has mean 0 and covariance
 *     Cov(S_ij, S_kl) = G^A_ik · G^B_jl / (d − 1), with G the within-model Gram matrices of unit
 *     centered rows (exact second moments); the null draws S = L_A·Z·L_Bᵀ / √(d − 1) with
 *     L Lᵀ = G and Z standard normal (the Gaussian approximation of the permutation, O(E³) per
 *     draw instead of O(E²·d)), and solves each by assignment;
 *  4. with router rows as the basis, the expert weights of the matched pairs (and of the same-index
 *     pairs where they differ) are compared through the kernels, sampled when asked, as a second,
 *     independent check: under independence, a matching chosen from router rows says nothing
 *     about the expert weights, whose centered cosine then sits at 0 ± 1/√n.
 */
import { bytesPerElement, COMPARABLE_DTYPES, elementCount, type DType } from '../checkpoint/dtype.ts';
import type { Checkpoint, TensorEntry } from '../checkpoint/folder.ts';
import { compareCrossPairs, type CrossPair } from '../compare/cross-pairs.ts';
import { blockingReader, type BlockingReader } from '../io/blocking.ts';
import { toFloat32 } from '../kernels/decode.ts';
import { withoutMeanRow } from '../align/units.ts';
import { tensorRef as ref, type TensorRef } from '../plan/plan.ts';
import { isBadInput } from '../errors.ts';
import { classifyTensor, type TensorRole } from '../roles/roles.ts';
import { linearPartRuns, splitFusedExperts } from '../roles/fused.ts';
import { runSteps, type Steps } from '../steps.ts';
import { blockScalesByWeight } from '../roles/match.ts';
import { chooseSorted, planSample, rowsAndCols } from '../sample/blocks.ts';
import { sampledRowRuns } from '../sample/controls.ts';
import { finalizeMoments, mergeMoments, emptyMoments, type Moments } from '../stats/moments.ts';
import { Random } from '../synth/random.ts';
import { maximizeAssignment, maximizeAssignmentFlat } from './assignment.ts';
import { expertNullPValue, PREDICTIVE_NULL_REPLICATES } from './null-pvalue.ts';
import { fillNormals } from './null-normals.ts';
import { gramWasm, NullProducts } from './null-products.ts';

export interface ExpertPair {
  a: number;
  b: number;
  /** Similarity on the layer's basis (router rows or expert weights); null where undefined. */
  value: number | null;
  /** Centered cosine of the pair's concatenated expert weights, where compared. */
  experts: number | null;
}

export interface ExpertWeightCheck {
  /** Expert tensor roles concatenated, in this order. */
  roles: string[];
  /** Matched pairs compared (a seeded choice when there are many; the others have `experts: null`). */
  pairs: number;
  /** Elements compared per pair (fewer than the expert's size when sampled). */
  elements: number;
  sampled: boolean;
  /** Mean centered cosine of the matched pairs' expert weights. */
  meanMatched: number | null;
  /** Mean over the same-index pairs (i, i) that the matching did not choose; null if it chose them all. */
  meanSameIndex: number | null;
  /** Spread of meanMatched under independence: 1/√(pairs · (elements − 1)), experts of a model taken as uncorrelated. */
  nullSd: number | null;
  z: number | null;
  note: string | null;
}

export interface ExpertLayer {
  layer: number;
  expertsA: number;
  expertsB: number;
  /** What the matrix measures and how the null was drawn. */
  basis: string;
  /** E_A × E_B centered cosines on the basis (rows = A's experts, columns = B's, in index order). */
  matrix: (number | null)[][];
  /** The best one-to-one matching (min(E_A, E_B) pairs), by A's index. */
  assignment: ExpertPair[];
  /** Share of matched pairs with a = b. */
  identityShare: number;
  /** Mean basis similarity of the matched pairs. */
  meanMatched: number;
  /** Mean and spread of the optimal matching's mean under the permutation null. */
  nullMean: number;
  nullSd: number;
  /** (meanMatched − nullMean) / nullSd; null when the null has no spread. */
  z: number | null;
  /** One-sided: the observed matched mean as one more draw of the null (Student's t on the draws' mean and spread). */
  pValue: number;
  nullReplicates: number;
  /**
   * The matching is not the identity. A description of the matching only: it means the experts
   * were reordered when the match is also significant (small pValue), not between unrelated models.
   */
  permuted: boolean;
  /** Expert weights of the matched pairs (router basis only; null when the basis is the weights themselves). */
  experts: ExpertWeightCheck | null;
  note: string | null;
}

export interface ExpertOptions {
  /** Read this fraction of each expert tensor's row blocks in weight comparisons (default 0.05: these are controls). */
  sample?: number;
  seed?: number;
  threads?: number;
  /** Draws of the permutation null per layer (default 39, read by Student's t: null-pvalue.ts). */
  nullReplicates?: number;
  /** Matched pairs whose expert weights are compared per layer, a seeded spread of the matching (default 16). */
  checkPairs?: number;
  /** Without router rows, the whole expert × expert matrix is compared: at most this many pairs per layer (default 4096, 64 × 64). */
  maxWeightPairs?: number;
  /** Only these layers (a part of the control run as its own task); default every MoE layer both models have. */
  layers?: number[];
  /**
   * The run's --sample fraction: expert matrices too small for block sampling (read whole in an
   * exact run) are read as about this share of their rows. Unset: whole.
   */
  rows?: number;
}

export interface ExpertAnalysis {
  layers: ExpertLayer[];
  /** MoE layers of both models that were not analysed, and why. */
  skipped: { layer: number; reason: string }[];
}

/** Expert weights are compared as a control: sampled at this fraction unless the caller says otherwise. */
const DEFAULT_EXPERT_SAMPLE = 0.05;
const DEFAULT_CHECK_PAIRS = 16;
const DEFAULT_MAX_WEIGHT_PAIRS = 4096;

interface MoeLayer {
  router: TensorEntry | null;
  /** Expert index → role → tensor (or a slice of a fused tensor). */
  experts: Map<number, Map<string, TensorRef>>;
  /** FP8 block scales of per-expert tensors, as `experts` (fused tensors' slices have none). */
  scales: Map<number, Map<string, TensorRef>>;
}

/** Indexed layers by checkpoint: planning and each expert task in this thread index the same ~19k tensors otherwise. Read-only. */
const indexed = new WeakMap<Checkpoint, Map<number, MoeLayer>>();

/** The routers and routed experts of a checkpoint, by layer. Fused expert tensors ([E, ...]) are cut into per-expert slices. */
export function moeLayers(ck: Checkpoint): Map<number, MoeLayer> {
  return indexed.get(ck) ?? runSteps(moeLayersSteps(ck));
}

/** Tensors taken in between two steps. */
const STEP_TENSORS = 256;

/**
 * The same, made in steps of a few hundred tensors (~0.1 s at 19k tensors): a coordinator makes
 * it ahead of planning the expert tasks, serving its event loop between the steps.
 */
export function* moeLayersSteps(ck: Checkpoint): Steps<Map<number, MoeLayer>> {
  const known = indexed.get(ck);
  if (known) return known;
  const layers = yield* indexLayers(ck);
  indexed.set(ck, layers);
  return layers;
}

function* indexLayers(ck: Checkpoint): Steps<Map<number, MoeLayer>> {
  const out = new Map<number, MoeLayer>();
  const layerOf = (l: number) => {
    let entry = out.get(l);
    if (!entry) out.set(l, (entry = { router: null, experts: new Map(), scales: new Map() }));
    return entry;
  };
  const put = (layer: MoeLayer, expert: number, role: string, r: TensorRef, into: 'experts' | 'scales' = 'experts') => {
    let roles = layer[into].get(expert);
    if (!roles) layer[into].set(expert, (roles = new Map()));
    roles.set(role, r);
  };
  // One pass of roles; FP8 block scales looked up only where the checkpoint has any (a second pass over ~19k names otherwise).
  const roles: TensorRole[] = [];
  for (let i = 0; i < ck.tensors.length; i++) {
    if (i > 0 && i % STEP_TENSORS === 0) yield;
    roles.push(classifyTensor(ck.tensors[i]!.name));
  }
  const scales = roles.some((r) => r.role === 'quant.scale') ? blockScalesByWeight(ck.tensors) : new Map<string, TensorEntry>();
  for (let i = 0; i < ck.tensors.length; i++) {
    if (i % STEP_TENSORS === 0) yield;
    const t = ck.tensors[i]!;
    const role = roles[i]!;
    if (role.layer === null || !COMPARABLE_DTYPES.has(t.dtype as DType) || role.role.endsWith('.bias')) continue;
    if (role.role === 'router.weight' && t.shape.length === 2) {
      layerOf(role.layer).router = t;
    } else if (role.group === 'routed_expert' && role.role.startsWith('expert.')) {
      const layer = layerOf(role.layer);
      if (role.expert !== null) {
        put(layer, role.expert, role.role, ref(t));
        const scale = scales.get(t.name);
        if (scale) put(layer, role.expert, role.role, ref(scale), 'scales');
      } else if (role.fusedExperts && t.shape.length === 3) {
        // One tensor for all the layer's experts: each expert's gate, up and down where they are
        // ranges of its slice (stored as a Linear, gate and up in halves; roles/fused.ts). A slice
        // stored transposed has no part that is one range: its experts are matched by the router only.
        const split = splitFusedExperts(role.role, t.shape, ck.config);
        if ('reason' in split || split.transposed) continue;
        for (let e = 0; e < t.shape[0]!; e++) {
          for (const part of split.parts) {
            const runs = linearPartRuns(t.offset, t.shape, bytesPerElement(t.dtype as DType), e, part);
            if (runs.length === 1) put(layer, e, part.role, { file: t.file, offset: runs[0]!.offset, byteLength: runs[0]!.length, dtype: t.dtype as DType, shape: [part.count, t.shape[2]!] });
          }
        }
      }
    }
  }
  for (const [l, layer] of out) if (!layer.router && layer.experts.size === 0) out.delete(l);
  return out;
}

/** Rows of a 2-D tensor as float64, each centered on its own mean and scaled to unit length (zero rows stay zero, flagged). */
export function unitCenteredRows(t: TensorEntry, reader: BlockingReader): { rows: Float64Array; count: number; dim: number; constant: boolean[] } {
  const [count, dim] = [t.shape[0]!, t.shape[1]!];
  const raw = new Uint8Array(t.byteLength);
  reader.readSync(t.file, t.offset, raw);
  const values = new Float32Array(count * dim);
  toFloat32(t.dtype as DType, raw, values, count * dim);
  // Router rows less their mean row: a vector added to every row moves all logits alike, which a
  // softmax router never sees (align/units.ts withoutMeanRow).
  return centerRows(withoutMeanRow({ rows: count, cols: dim, data: values }).data, count, dim);
}

export function centerRows(values: ArrayLike<number>, count: number, dim: number): { rows: Float64Array; count: number; dim: number; constant: boolean[] } {
  const rows = new Float64Array(count * dim);
  const constant: boolean[] = [];
  for (let i = 0; i < count; i++) {
    let mean = 0;
    for (let k = 0; k < dim; k++) mean += values[i * dim + k]!;
    mean /= dim;
    let ss = 0;
    for (let k = 0; k < dim; k++) {
      const x = values[i * dim + k]! - mean;
      rows[i * dim + k] = x;
      ss += x * x;
    }
    const ok = ss > 0 && Number.isFinite(ss);
    constant.push(!ok);
    const scale = ok ? 1 / Math.sqrt(ss) : 0;
    for (let k = 0; k < dim; k++) rows[i * dim + k] = ok ? rows[i * dim + k]! * scale : 0;
  }
  return { rows, count, dim, constant };
}

/** X·Yᵀ for row-major X (n×d) and Y (m×d): in WebAssembly SIMD (null-products.ts gramWasm) where it runs, else gramJs; the same sums either way. */
export function gram(x: Float64Array, n: number, y: Float64Array, m: number, d: number): Float64Array {
  return gramWasm(x, n, y, m, d) ?? gramJs(x, n, y, m, d);
}

/** X·Yᵀ in JavaScript: four rows of X per pass over Y, so Y streams from memory n/4 times. */
export function gramJs(x: Float64Array, n: number, y: Float64Array, m: number, d: number): Float64Array {
  const out = new Float64Array(n * m);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const x0 = i * d, x1 = x0 + d, x2 = x1 + d, x3 = x2 + d;
    for (let j = 0; j < m; j++) {
      const yj = j * d;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let k = 0; k < d; k++) {
        const v = y[yj + k]!;
        s0 += x[x0 + k]! * v;
        s1 += x[x1 + k]! * v;
        s2 += x[x2 + k]! * v;
        s3 += x[x3 + k]! * v;
      }
      out[i * m + j] = s0;
      out[(i + 1) * m + j] = s1;
      out[(i + 2) * m + j] = s2;
      out[(i + 3) * m + j] = s3;
    }
  }
  for (; i < n; i++) {
    const xi = i * d;
    for (let j = 0; j < m; j++) {
      const yj = j * d;
      let s = 0;
      for (let k = 0; k < d; k++) s += x[xi + k]! * y[yj + k]!;
      out[i * m + j] = s;
    }
  }
  return out;
}

/**
 * Lower-triangular L with L·Lᵀ = G for a positive semi-definite G (n×n): a column whose remaining
 * diagonal is at rounding level (a row that is a combination of earlier ones) is set to zero.
 */
export function choleskyPsd(g: Float64Array, n: number): Float64Array {
  const l = new Float64Array(n * n);
  let trace = 0;
  for (let i = 0; i < n; i++) trace += g[i * n + i]!;
  const tolerance = 1e-10 * Math.max(trace / Math.max(n, 1), 1e-300);
  for (let j = 0; j < n; j++) {
    let diag = g[j * n + j]!;
    for (let k = 0; k < j; k++) diag -= l[j * n + k]! ** 2;
    if (diag <= tolerance) continue;
    const root = Math.sqrt(diag);
    l[j * n + j] = root;
    for (let i = j + 1; i < n; i++) {
      let s = g[i * n + j]!;
      for (let k = 0; k < j; k++) s -= l[i * n + k]! * l[j * n + k]!;
      l[i * n + j] = s / root;
    }
  }
  return l;
}

export interface AssignmentNull {
  mean: number;
  sd: number;
  values: Float64Array;
}

/**
 * The optimal matching's mean similarity under the coordinate-permutation null: draws of
 * S = L_A·Z·L_Bᵀ / √df, each solved by assignment. Pure in (Gram matrices, sizes, df, seed,
 * stream): the same draws on any thread. The products run in WebAssembly SIMD
 * (null-products.ts) and Z by the ziggurat (null-normals.ts).
 */
export function assignmentNull(
  gramA: Float64Array, ea: number, gramB: Float64Array, eb: number, df: number, replicates: number, seed: number, stream: string, observed?: number,
): AssignmentNull {
  const products = new NullProducts(choleskyPsd(gramA, ea), ea, choleskyPsd(gramB, eb), eb);
  const random = new Random(seed, stream);
  const z = new Float64Array(ea * eb);
  const scale = 1 / Math.sqrt(df);
  const pairs = Math.min(ea, eb);
  const values = new Float64Array(replicates);
  for (let r = 0; r < replicates; r++) {
    fillNormals(random, z);
    values[r] = maximizeAssignmentFlat(products.product(z, scale), ea, eb).total / pairs;
    const check = observed === undefined || r + 1 >= replicates ? undefined : NULL_CHECKS.find((c) => c.draws === r + 1);
    if (check) {
      const early = values.slice(0, r + 1);
      const p = expertNullPValue(observed!, early);
      if (p <= EARLY_STOP_P || p >= check.futility) return summarizeNull(early);
    }
  }
  return summarizeNull(values);
}

/**
 * The null is read sequentially when the observed value is given, checked after 5 and after 9
 * draws: it stops related where the observed value is far beyond the null (p ≤ EARLY_STOP_P: a
 * derivative's matched routers sit hundreds of spreads above it), and unrelated where more draws
 * cannot bring it to a level the verdict reads (0.01): at or below the null's mean after 5
 * (p ≥ 0.5), or p ≥ 0.1 after 9. Stopping unrelated can only lower the rejection rate, so the
 * false-positive rate grows by at most 2·EARLY_STOP_P (test/controls-assignment-fpr.test.ts
 * judges it on fresh seeds). A 128-expert derivative's 48 layers cost 5 draws each instead of 39,
 * an independent model's mostly 5 or 9.
 */
export const NULL_CHECKS: readonly { draws: number; futility: number }[] = [{ draws: 5, futility: 0.5 }, { draws: 9, futility: 0.1 }];
export const EARLY_DRAWS = NULL_CHECKS[0]!.draws;
const EARLY_STOP_P = 1e-6;

/** Mean and spread of the null's draws. */
export function summarizeNull(values: Float64Array): AssignmentNull {
  let mean = 0;
  for (const v of values) mean += v;
  mean /= Math.max(1, values.length);
  let ss = 0;
  for (const v of values) ss += (v - mean) ** 2;
  return { mean, sd: Math.sqrt(ss / Math.max(1, values.length - 1)), values };
}

/** The MoE layers both models have, in order (what the expert control's tasks are cut from), from their indexed layers. */
export function sharedLayers(layersA: Map<number, MoeLayer>, layersB: Map<number, MoeLayer>): number[] {
  return [...layersA.keys()].filter((l) => layersB.has(l)).sort((x, y) => x - y);
}

/** The expert matching of every MoE layer both models have (layers that cannot be analysed are left out; see analyzeExpertLayers). */
export async function analyzeExperts(a: Checkpoint, b: Checkpoint, options: ExpertOptions = {}): Promise<ExpertLayer[]> {
  return (await analyzeExpertLayers(a, b, options)).layers;
}

/** The same, with the layers that were not analysed and why. */
export async function analyzeExpertLayers(a: Checkpoint, b: Checkpoint, options: ExpertOptions = {}): Promise<ExpertAnalysis> {
  const layersA = moeLayers(a);
  const layersB = moeLayers(b);
  const only = options.layers ? new Set(options.layers) : null;
  const shared = sharedLayers(layersA, layersB).filter((l) => !only || only.has(l));
  const reader = blockingReader();
  const out: ExpertAnalysis = { layers: [], skipped: [] };
  try {
    for (const layer of shared) {
      const result = await analyzeLayer(layer, layersA.get(layer)!, layersB.get(layer)!, reader, options);
      if (typeof result === 'string') out.skipped.push({ layer, reason: result });
      else out.layers.push(result);
    }
  } finally {
    reader.close();
  }
  return out;
}

interface Basis {
  description: string;
  matrix: (number | null)[][];
  /** Expert index of each matrix row (A) and column (B). */
  indexA: number[];
  indexB: number[];
  gramA: Float64Array;
  gramB: Float64Array;
  ea: number;
  eb: number;
  /** Degrees of freedom of one similarity: coordinates per vector − 1. */
  df: number;
  note: string | null;
}

/** One layer's matching, or why it was not analysed. */
async function analyzeLayer(layer: number, la: MoeLayer, lb: MoeLayer, reader: BlockingReader, options: ExpertOptions): Promise<ExpertLayer | string> {
  const roles = commonRoles(la, lb);
  let basis: Basis;
  if (la.router && lb.router && la.router.shape[1] === lb.router.shape[1]) {
    try {
      basis = routerBasis(la.router, lb.router, reader);
    } catch (err) {
      // A broken router costs its layer, not the others.
      if (!isBadInput(err)) throw err;
      return `router rows unreadable: ${err.message}`;
    }
  } else {
    const why = la.router && lb.router ? `router rows differ in size (${la.router.shape[1]} vs ${lb.router.shape[1]})` : `no router on ${la.router ? 'B' : lb.router ? 'A' : 'either side'}`;
    if (!roles) return `${why}, and no expert tensors of the same roles and shapes`;
    const pairs = la.experts.size * lb.experts.size;
    const cap = options.maxWeightPairs ?? DEFAULT_MAX_WEIGHT_PAIRS;
    if (pairs > cap) return `${why}; the expert weights would need ${pairs} pair comparisons, above the limit of ${cap}`;
    basis = await weightBasis(la, lb, roles, options, layer);
  }
  if (basis.ea === 0 || basis.eb === 0) return 'no experts';
  if (basis.df < 1) return 'vectors too short for a null';
  const { matrix, ea, eb } = basis;
  const { rowToCol } = maximizeAssignment(matrix);
  const pairs = Math.min(ea, eb);
  const assignment: ExpertPair[] = [];
  rowToCol.forEach((j, i) => { if (j >= 0) assignment.push({ a: basis.indexA[i]!, b: basis.indexB[j]!, value: matrix[i]![j] ?? null, experts: null }); });
  const defined = assignment.filter((p) => p.value !== null);
  if (defined.length === 0) return 'no defined similarity between any matched pair (constant rows)';
  const meanMatched = defined.reduce((s, p) => s + p.value!, 0) / Math.max(1, defined.length);
  // 39 draws read as a Student t predictive p-value (null-pvalue.ts; its rejection rate on
  // independent models is tested): an empirical p-value would need ≥ 99 draws to reach 0.01 at all,
  // which at 256 experts costs more than the whole comparison of the router rows.
  const replicates = Math.max(2, Math.round(options.nullReplicates ?? PREDICTIVE_NULL_REPLICATES));
  const nul = assignmentNull(basis.gramA, ea, basis.gramB, eb, basis.df, replicates, options.seed ?? 1, `experts:${layer}`, meanMatched);
  const drawn = nul.values.length;
  const notes = [basis.note, defined.length < pairs ? `${pairs - defined.length} matched pair(s) without a defined similarity (constant rows)` : null];
  const experts = basis.description.startsWith('router') && roles
    ? await weightCheck(la, lb, roles, assignment, options, layer)
    : null;
  return {
    layer,
    expertsA: ea,
    expertsB: eb,
    basis: `${basis.description}; null: optimal matching of ${drawn} draws under a random permutation of coordinates (Gaussian approximation with both models' within-layer Gram matrices; read sequentially: ${NULL_CHECKS.map((c) => c.draws).join(', then ')}, up to ${replicates} where the reading was not yet clear), p-value by Student's t on the draws`,
    // Four decimals: the matrix is shown, not computed on (the statistics above use full precision),
    // and a 384 × 384 layer then travels in one result message.
    matrix: matrix.map((row) => row.map((v) => (v === null ? null : Math.round(v * 1e4) / 1e4))),
    assignment,
    identityShare: assignment.filter((p) => p.a === p.b).length / Math.max(1, assignment.length),
    meanMatched,
    nullMean: nul.mean,
    nullSd: nul.sd,
    z: nul.sd > 0 ? (meanMatched - nul.mean) / nul.sd : null,
    pValue: expertNullPValue(meanMatched, nul.values),
    nullReplicates: drawn,
    permuted: assignment.some((p) => p.a !== p.b),
    experts,
    note: notes.filter(Boolean).join('; ') || null,
  };
}

function routerBasis(ta: TensorEntry, tb: TensorEntry, reader: BlockingReader): Basis {
  const A = unitCenteredRows(ta, reader);
  const B = unitCenteredRows(tb, reader);
  const cross = gram(A.rows, A.count, B.rows, B.count, A.dim);
  const matrix = Array.from({ length: A.count }, (_, i) =>
    Array.from({ length: B.count }, (_, j) => (A.constant[i] || B.constant[j] ? null : cross[i * B.count + j]!)));
  const constant = A.constant.filter(Boolean).length + B.constant.filter(Boolean).length;
  return {
    description: `router rows: centered cosine of ${ta.name} rows against ${tb.name} rows (d = ${A.dim})`,
    matrix,
    indexA: Array.from({ length: A.count }, (_, i) => i),
    indexB: Array.from({ length: B.count }, (_, j) => j),
    gramA: gram(A.rows, A.count, A.rows, A.count, A.dim),
    gramB: gram(B.rows, B.count, B.rows, B.count, B.dim),
    ea: A.count,
    eb: B.count,
    df: A.dim - 1,
    note: constant ? `${constant} constant router row(s): their similarities are undefined` : null,
  };
}

/** Expert roles (gate, up, down...) both layers have for every expert, with equal shapes; null if none. */
function commonRoles(la: MoeLayer, lb: MoeLayer): string[] | null {
  if (la.experts.size === 0 || lb.experts.size === 0) return null;
  const shapesOf = (layer: MoeLayer) => {
    const shapes = new Map<string, string>();
    let first = true;
    for (const roles of layer.experts.values()) {
      for (const role of [...shapes.keys()]) if (!roles.has(role) || roles.get(role)!.shape.join('x') !== shapes.get(role)) shapes.delete(role);
      if (first) for (const [role, r] of roles) shapes.set(role, r.shape.join('x'));
      first = false;
    }
    return shapes;
  };
  const sa = shapesOf(la);
  const sb = shapesOf(lb);
  const roles = [...sa.keys()].filter((r) => sb.get(r) === sa.get(r)).sort();
  return roles.length ? roles : null;
}

/** Expert indices of a layer, in order (0..E−1 as stored). */
function expertIndices(layer: MoeLayer): number[] {
  return [...layer.experts.keys()].sort((x, y) => x - y);
}

/** A piece of every expert's tensor of one role that a comparison reads: the whole tensor, or a run of its rows. */
interface ExpertPiece {
  role: string;
  rows: { first: number; count: number } | null;
}

/**
 * What each expert pair of a layer reads: every role whole; under --sample (options.rows) the
 * roles too small for block sampling (which would be read whole) as a few runs of about F of their
 * rows, the same rows for every expert of the layer and role, so every comparison of the layer
 * (cross pairs, within-model Gram matrices, the weight check) reads alike. FP8 layers with block
 * scales stay whole (a slice would lose its scales' alignment).
 */
function expertPieces(la: MoeLayer, lb: MoeLayer, roles: string[], sample: number | undefined, options: ExpertOptions, layer: number): ExpertPiece[] {
  const whole = roles.map((role) => ({ role, rows: null }));
  const fraction = options.rows;
  const first = la.experts.get(expertIndices(la)[0]!);
  if (fraction === undefined || !first || la.scales.size > 0 || lb.scales.size > 0) return whole;
  const random = new Random(options.seed ?? 1, `expert-rows:${layer}`);
  return roles.flatMap((role): ExpertPiece[] => {
    const shape = first.get(role)!.shape;
    const blocked = sample !== undefined && sample < 1 && planSample(shape, sample, options.seed ?? 1, role) !== null;
    const runs = blocked ? null : sampledRowRuns(rowsAndCols(shape).rows, fraction, random);
    return runs ? runs.map((rows) => ({ role, rows })) : [{ role, rows: null }];
  });
}

/** Rows [first, first + count) of a tensor (row-major: one contiguous range). */
function rowSlice(r: TensorRef, rows: { first: number; count: number } | null): TensorRef {
  if (!rows) return r;
  const { cols } = rowsAndCols(r.shape);
  const rowBytes = cols * bytesPerElement(r.dtype);
  return { file: r.file, offset: r.offset + rows.first * rowBytes, byteLength: rows.count * rowBytes, dtype: r.dtype, shape: [rows.count, cols] };
}

/** Moments of expert pairs over their concatenated roles (or the roles' sampled rows), merged in role order. */
async function expertPairMoments(
  x: MoeLayer, y: MoeLayer, pieces: ExpertPiece[], pairs: [number, number][], sample: number | undefined, options: ExpertOptions,
): Promise<(Moments | null)[]> {
  const cross: CrossPair[] = [];
  for (const [i, j] of pairs) {
    for (const { role, rows } of pieces) {
      cross.push({
        a: rowSlice(x.experts.get(i)!.get(role)!, rows), b: rowSlice(y.experts.get(j)!.get(role)!, rows),
        scalesA: rows ? null : x.scales.get(i)?.get(role) ?? null, scalesB: rows ? null : y.scales.get(j)?.get(role) ?? null,
      });
    }
  }
  const { moments } = await compareCrossPairs(cross, { sample, seed: options.seed, threads: options.threads, pairsPerTask: 4 * pieces.length });
  return pairs.map((_, p) => {
    let merged: Moments = emptyMoments();
    for (let r = 0; r < pieces.length; r++) {
      const m = moments[p * pieces.length + r];
      if (!m) return null;
      merged = mergeMoments(merged, m);
    }
    return merged;
  });
}

/** Without router rows on both sides: the full E_A × E_B matrix of expert weights, and each side's own Gram matrix for the null. */
async function weightBasis(la: MoeLayer, lb: MoeLayer, roles: string[], options: ExpertOptions, layer: number): Promise<Basis> {
  const ia = expertIndices(la);
  const ib = expertIndices(lb);
  const sample = options.sample ?? DEFAULT_EXPERT_SAMPLE;
  const cc = (m: Moments | null) => (m ? finalizeMoments(m).centeredCosine : null);
  const crossPairs = ia.flatMap((i) => ib.map((j) => [i, j] as [number, number]));
  const pieces = expertPieces(la, lb, roles, sample, options, layer);
  const cross = await expertPairMoments(la, lb, pieces, crossPairs, sample, options);
  const matrix = ia.map((_, x) => ib.map((_, y) => cc(cross[x * ib.length + y]!)));
  const within = async (side: MoeLayer, idx: number[]): Promise<Float64Array> => {
    const g = new Float64Array(idx.length * idx.length);
    const list: [number, number][] = [];
    for (let x = 0; x < idx.length; x++) for (let y = x + 1; y < idx.length; y++) list.push([idx[x]!, idx[y]!]);
    const moments = await expertPairMoments(side, side, pieces, list, sample, options);
    let k = 0;
    for (let x = 0; x < idx.length; x++) {
      g[x * idx.length + x] = 1;
      for (let y = x + 1; y < idx.length; y++) {
        const v = cc(moments[k++]!) ?? 0;
        g[x * idx.length + y] = v;
        g[y * idx.length + x] = v;
      }
    }
    return g;
  };
  const n = cross.find((m) => m !== null)?.n ?? 0;
  return {
    description: `expert weights (no router rows on both sides): centered cosine of concatenated ${roles.join(', ')}${sample < 1 ? `, sampled at ${sample}` : ''}${pieces.some((x) => x.rows) ? `, about ${options.rows} of each small expert matrix's rows` : ''}`,
    matrix,
    indexA: ia,
    indexB: ib,
    gramA: await within(la, ia),
    gramB: await within(lb, ib),
    ea: ia.length,
    eb: ib.length,
    df: n - 1,
    note: null,
  };
}

/** A seeded choice of `count` of the matched pairs, in A's order. */
function spread(assignment: ExpertPair[], count: number, seed: number, layer: number): ExpertPair[] {
  if (assignment.length <= count) return assignment;
  return chooseSorted(assignment.length, count, new Random(seed, `expert-check:${layer}`)).map((i) => assignment[i]!);
}

/**
 * Expert weights of (a seeded choice of) the matched pairs, and of the same-index pairs the
 * matching passed over: reading every expert of both models again would double the comparison.
 */
async function weightCheck(la: MoeLayer, lb: MoeLayer, roles: string[], assignment: ExpertPair[], options: ExpertOptions, layer: number): Promise<ExpertWeightCheck> {
  const ia = expertIndices(la);
  const known = (i: number, j: number) => la.experts.has(i) && lb.experts.has(j);
  const withTensors = assignment.filter((p) => known(p.a, p.b));
  const chosen = spread(withTensors, Math.max(1, options.checkPairs ?? DEFAULT_CHECK_PAIRS), options.seed ?? 1, layer);
  const matched = chosen.map((p) => [p.a, p.b] as [number, number]);
  const sameIndex = chosen.filter((p) => p.a !== p.b && known(p.a, p.a)).map((p) => [p.a, p.a] as [number, number]);
  const sample = options.sample ?? DEFAULT_EXPERT_SAMPLE;
  const moments = await expertPairMoments(la, lb, expertPieces(la, lb, roles, sample, options, layer), [...matched, ...sameIndex], sample, options);
  const values = moments.map((m) => (m ? finalizeMoments(m).centeredCosine : null));
  const byPair = new Map(matched.map(([i, j], k) => [`${i}:${j}`, values[k] ?? null]));
  for (const p of assignment) p.experts = byPair.get(`${p.a}:${p.b}`) ?? null;
  const mean = (xs: (number | null)[]) => {
    const ok = xs.filter((x): x is number => x !== null);
    return ok.length ? ok.reduce((s, x) => s + x, 0) / ok.length : null;
  };
  const meanMatched = mean(values.slice(0, matched.length));
  const compared = values.slice(0, matched.length).filter((v) => v !== null).length;
  const elements = moments.find((m) => m !== null)?.n ?? 0;
  const nullSd = compared > 0 && elements > 1 ? 1 / Math.sqrt(compared * (elements - 1)) : null;
  const full = roles.reduce((s, r) => s + elementCount(la.experts.get(ia[0]!)!.get(r)!.shape), 0);
  const missing = assignment.length - withTensors.length;
  return {
    roles,
    pairs: compared,
    elements,
    sampled: elements < full,
    meanMatched,
    meanSameIndex: sameIndex.length ? mean(values.slice(matched.length)) : null,
    nullSd,
    z: meanMatched !== null && nullSd ? meanMatched / nullSd : null,
    note: [
      chosen.length < withTensors.length ? `${chosen.length} of ${withTensors.length} matched pairs compared (seeded choice)` : null,
      missing ? `${missing} matched router row(s) have no expert tensors` : null,
      'null spread assumes the experts of one model are uncorrelated with each other',
    ].filter(Boolean).join('; '),
  };
}
