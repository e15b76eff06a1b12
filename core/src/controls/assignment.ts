/**
 * Linear assignment (the Hungarian method with potentials, in the Jonker–Volgenant shortest
 * augmenting path form): the one-to-one matching of rows to columns with the greatest total
 * similarity. O(n²·m) for n ≤ m, so a 512 × 512 expert matrix is a fraction of a second. A
 * rectangular matrix matches every row of the smaller side; missing similarities (null) are
 * used only where no complete matching avoids them.
 */

export interface Assignment {
  /** Column matched to each row; -1 for rows left over when there are more rows than columns. */
  rowToCol: number[];
  /** Sum of the matched similarities (nulls left out). */
  total: number;
}

/**
 * Maximizes Σ values[i·cols + rowToCol[i]] over one-to-one matchings. `values` is row-major and
 * finite; this is the fast path used for the permutation null.
 */
export function maximizeAssignmentFlat(values: Float64Array, rows: number, cols: number): Assignment {
  if (rows === 0 || cols === 0) return { rowToCol: new Array<number>(rows).fill(-1), total: 0 };
  // The solver wants rows ≤ cols: solve the transpose when there are more rows.
  if (rows > cols) {
    const t = new Float64Array(rows * cols);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = values[i * cols + j]!;
    const colToRow = minimizeCost(t, cols, rows, -1);
    const rowToCol = new Array<number>(rows).fill(-1);
    colToRow.forEach((r, c) => { rowToCol[r] = c; });
    return { rowToCol, total: sumOf(values, cols, rowToCol) };
  }
  const rowToCol = minimizeCost(values, rows, cols, -1);
  return { rowToCol, total: sumOf(values, cols, rowToCol) };
}

/** The same on a matrix that may hold nulls (similarities that could not be computed). */
export function maximizeAssignment(matrix: (number | null)[][]): Assignment {
  const rows = matrix.length;
  const cols = matrix[0]?.length ?? 0;
  let lo = Infinity;
  let hi = -Infinity;
  for (const row of matrix) for (const v of row) if (v !== null && Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  if (lo === Infinity) { lo = 0; hi = 0; }
  // Below any matching with fewer nulls: each null costs more than the whole finite range times
  // the number of pairs.
  const missing = lo - (hi - lo + 1) * (Math.min(rows, cols) + 1);
  const flat = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) {
    const v = matrix[i]![j];
    flat[i * cols + j] = v !== null && v !== undefined && Number.isFinite(v) ? v : missing;
  }
  const { rowToCol } = maximizeAssignmentFlat(flat, rows, cols);
  let total = 0;
  rowToCol.forEach((j, i) => {
    const v = j >= 0 ? matrix[i]![j] : null;
    if (v !== null && v !== undefined && Number.isFinite(v)) total += v;
  });
  return { rowToCol, total };
}

function sumOf(values: Float64Array, cols: number, rowToCol: number[]): number {
  let total = 0;
  rowToCol.forEach((j, i) => { if (j >= 0) total += values[i * cols + j]!; });
  return total;
}

/**
 * Minimum-cost assignment of n rows to m ≥ n columns for cost = sign · values (sign -1 turns the
 * maximization into a minimization). Potentials u, v keep reduced costs non-negative; each row is
 * added by a Dijkstra-like search for the shortest augmenting path.
 */
function minimizeCost(values: Float64Array, n: number, m: number, sign: number): number[] {
  const u = new Float64Array(n + 1);
  const v = new Float64Array(m + 1);
  // p[j]: the row (1-based) matched to column j; column 0 is the search's virtual start.
  const p = new Int32Array(m + 1);
  const way = new Int32Array(m + 1);
  const minv = new Float64Array(m + 1);
  const used = new Uint8Array(m + 1);
  for (let i = 1; i <= n; i++) {
    p[0] = i;
    let j0 = 0;
    minv.fill(Infinity);
    used.fill(0);
    do {
      used[j0] = 1;
      const i0 = p[j0]!;
      const base = (i0 - 1) * m;
      const ui0 = u[i0]!;
      let delta = Infinity;
      let j1 = -1;
      for (let j = 1; j <= m; j++) {
        if (used[j]) continue;
        const cur = sign * values[base + j - 1]! - ui0 - v[j]!;
        if (cur < minv[j]!) { minv[j] = cur; way[j] = j0; }
        if (minv[j]! < delta) { delta = minv[j]!; j1 = j; }
      }
      for (let j = 0; j <= m; j++) {
        if (used[j]) { u[p[j]!] += delta; v[j] -= delta; }
        else minv[j] -= delta;
      }
      j0 = j1;
    } while (p[j0] !== 0);
    do {
      const j1 = way[j0]!;
      p[j0] = p[j1]!;
      j0 = j1;
    } while (j0 !== 0);
  }
  const rowToCol = new Array<number>(n).fill(-1);
  for (let j = 1; j <= m; j++) if (p[j]! > 0) rowToCol[p[j]! - 1] = j - 1;
  return rowToCol;
}
