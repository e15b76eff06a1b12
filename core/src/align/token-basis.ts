/**
 * A model seen in the basis of shared tokens' embeddings rather than its hidden dimensions: every
 * vector of the residual stream is replaced by its dot products with the probe tokens' embedding
 * rows. A change of hidden basis by any orthogonal Q (x → Qx: embeddings E Qᵀ, matrices that read
 * the stream W Qᵀ, those that write it Q W, norms folded) leaves these numbers as they were:
 * (W Qᵀ)(Q e) = W e. So where B is A in a rotated basis (QuaRot-style), the cells compare A and B
 * through the same probes, with the identity as correspondence, and keep their own nulls.
 *
 * Used only where the hidden dimensions match no permutation while the shared tokens' embedding
 * geometry is A's (align/geometry.ts ROTATION_CKA_LEVEL): the embedding is then known to be reused,
 * and the probes are the same tokens on both sides. Whole matrices are read (the dimension-wise
 * path reads 256 columns): affordable at the widths of the models it runs on, null above
 * DEFAULT_MAX_ELEMENTS like any matrix.
 */
import type { Checkpoint } from '../checkpoint/folder.ts';
import { dotsCompact } from './dots.ts';
import { ModelView, type Matrix } from './model-view.ts';
import { symmetricEigen } from '../stats/eigen.ts';

/** Roles whose rows are hidden dimensions (they write the stream); the others' columns are. */
const WRITES_STREAM = /^(attn\.o|mlp\.down|shared\.down|expert\.down)$/;
/** Roles whose rows are tokens (the row axis is kept; the columns become probe coordinates). */
const TOKEN_ROWS = new Set(['embedding', 'lm_head']);

/**
 * The probe rows made orthonormal without choosing a basis: W·P with W = (G + εI)^(-1/2), G = P·Pᵀ
 * their Gram matrix (the same on both sides of a rotated copy, so W is too). Raw embedding rows are
 * strongly correlated (similar tokens), and coordinates that are near copies of each other would
 * make the cells' dimension-shuffle null a copy of the observed value (seen on BabyLlama-105: the
 * attention null at 0.6 ± 0.44). The symmetric inverse square root needs no eigenvector signs or
 * order, which two models would not share. ε = 1e-6 of the mean eigenvalue keeps it finite.
 */
function whitened(p: Matrix): Matrix {
  const n = p.rows;
  const d = p.cols;
  // (P Pᵀ + ε)^(-1/2) P = P (Pᵀ P + ε)^(-1/2) (both are U·S/√(S²+ε)·Vᵀ): the Gram matrix of the
  // shorter side, so 256 probes of a 64-wide model cost a 64 × 64 eigenproblem, not 256 × 256.
  const byColumns = d < n;
  const side = byColumns ? d : n;
  let g: Float64Array;
  if (byColumns) {
    const t = new Float32Array(d * n);
    for (let i = 0; i < n; i++) for (let k = 0; k < d; k++) t[k * n + i] = p.data[i * d + k]!;
    g = Float64Array.from(dotsCompact(t, d, t, d, n));
  } else {
    g = Float64Array.from(dotsCompact(p.data, n, p.data, n, d));
  }
  // Exactly symmetric for the Jacobi rotations, whatever order the kernel summed each product in.
  for (let i = 0; i < side; i++) for (let j = 0; j < i; j++) g[i * side + j] = g[j * side + i] = (g[i * side + j]! + g[j * side + i]!) / 2;
  let trace = 0;
  for (let i = 0; i < side; i++) trace += g[i * side + i]!;
  const eps = 1e-6 * (trace / n);
  for (let i = 0; i < side; i++) g[i * side + i] = g[i * side + i]! + eps;
  const { values, vectors } = symmetricEigen(g, side);
  // W = V diag(λ^-1/2) Vᵀ, then W·P (or P·W).
  const w = new Float64Array(side * side);
  for (let k = 0; k < side; k++) {
    const f = 1 / Math.sqrt(Math.max(values[k]!, eps));
    for (let i = 0; i < side; i++) {
      const vik = vectors[i * side + k]! * f;
      for (let j = 0; j < side; j++) w[i * side + j] = w[i * side + j]! + vik * vectors[j * side + k]!;
    }
  }
  const out = new Float32Array(n * d);
  const row = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    row.fill(0);
    if (byColumns) {
      for (let k = 0; k < d; k++) {
        const f = p.data[i * d + k]!;
        for (let j = 0; j < d; j++) row[j] = row[j]! + f * w[k * d + j]!;
      }
    } else {
      for (let j = 0; j < n; j++) {
        const f = w[i * n + j]!;
        for (let k = 0; k < d; k++) row[k] = row[k]! + f * p.data[j * d + k]!;
      }
    }
    out.set(row, i * d);
  }
  return { rows: n, cols: d, data: out };
}

const WHITENED = new Map<string, Matrix | null>();

/**
 * A model seen through probe vectors of its hidden space, whitened (above): every vector of the
 * residual stream becomes its dot products with the probes. Where each probe of B is A's probe
 * turned by B's change of basis, the numbers are A's. The probes come from the shared tokens'
 * embeddings (TokenBasisView) or from the model's own blocks (internal-basis.ts BlockBasisView).
 */
export class ProbeBasisView extends ModelView {
  private readonly probes: Matrix | null;

  /** `key` names the probes within this checkpoint (every cells task of a comparison asks for the same ones). */
  constructor(checkpoint: Checkpoint, key: string, make: (view: ModelView) => Matrix | null) {
    super(checkpoint);
    const cacheKey = `${checkpoint.root}\u0000${key}`;
    let probes = WHITENED.get(cacheKey);
    if (probes === undefined) {
      const raw = make(this);
      probes = raw && whitened(raw);
      // Made once per process (0.5 s at 256 probes).
      if (WHITENED.size >= 8) WHITENED.delete(WHITENED.keys().next().value!);
      WHITENED.set(cacheKey, probes);
    }
    this.probes = probes;
    (this as { hidden: number | null }).hidden = this.probes ? this.probes.rows : null;
  }

  /** Probe coordinates `cols` of an input-side matrix: (W · Eᵀ)[:, cols], the norm folded in when `effective`. */
  override columns(role: string, layer: number | null, cols: Int32Array, effective = false, expert: number | null = null): Matrix | null {
    const m = effective ? this.effective(role, layer, expert) : this.matrix(role, layer, expert);
    const probes = this.chosen(cols);
    if (!m || !probes || m.cols !== probes.cols) return null;
    return { rows: m.rows, cols: cols.length, data: Float32Array.from(dotsCompact(m.data, m.rows, probes.data, probes.rows, m.cols)) };
  }

  /**
   * Token rows of the embedding or lm_head, their columns turned into probe coordinates; or probe
   * coordinates `rows` of a matrix that writes the stream: (E · W)[rows, :].
   */
  override rows(role: string, layer: number | null, rows: ArrayLike<number>, effective = false, expert: number | null = null): Matrix | null {
    if (TOKEN_ROWS.has(role)) {
      const x = super.rows(role, layer, rows, effective, expert);
      if (!x || !this.probes || x.cols !== this.probes.cols) return null;
      return { rows: x.rows, cols: this.probes.rows, data: Float32Array.from(dotsCompact(x.data, x.rows, this.probes.data, this.probes.rows, x.cols)) };
    }
    if (!WRITES_STREAM.test(role)) return null;
    const m = this.matrix(role, layer, expert);
    const probes = this.chosen(Int32Array.from(rows));
    if (!m || !probes || m.rows !== probes.cols) return null;
    // (E · W)[t][c] = Σ_j E[t][j] W[j][c]: W transposed so both operands run along the hidden axis.
    const wt = new Float32Array(m.cols * m.rows);
    for (let j = 0; j < m.rows; j++) for (let c = 0; c < m.cols; c++) wt[c * m.rows + j] = m.data[j * m.cols + c]!;
    return { rows: probes.rows, cols: m.cols, data: Float32Array.from(dotsCompact(probes.data, probes.rows, wt, m.cols, m.rows)) };
  }

  /** The probe rows named by `which` (coordinates of this basis), or null when one is out of range. */
  private chosen(which: Int32Array): Matrix | null {
    const p = this.probes;
    if (!p || which.some((i) => i < 0 || i >= p.rows)) return null;
    const data = new Float32Array(which.length * p.cols);
    which.forEach((i, k) => data.set(p.data.subarray(i * p.cols, (i + 1) * p.cols), k * p.cols));
    return { rows: which.length, cols: p.cols, data };
  }
}

export class TokenBasisView extends ProbeBasisView {
  /** `probeRows`: this model's embedding rows of the probe tokens, in the order both sides share. */
  constructor(checkpoint: Checkpoint, probeRows: number[]) {
    // ModelView's own rows(): this class's rows() answers in probe coordinates, which are being made.
    super(checkpoint, `tokens:${probeRows.join(',')}`, (view) => ModelView.prototype.rows.call(view, 'embedding', null, probeRows, false));
  }
}
