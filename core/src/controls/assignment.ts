/**
 * Linear assignment (the Hungarian method with potentials, in the Jonker–Volgenant shortest
 * augmenting path form): the one-to-one matching of rows to columns with the greatest total
 * similarity. O(n²·m) for n ≤ m, so a 512 × 512 expert matrix is a fraction of a second. A
 * rectangular matrix matches every row of the smaller side; missing similarities (null) are
 * used only where no complete matching avoids them. Runs in WebAssembly (wasm/assignment-source.ts,
 * a port of minimizeCostJs below that returns the same matching) where available.
 */
import { LineageError } from '../errors.ts';
import { workLayout } from './wasm/assignment-source.ts';
import { ensureMemory, nullInstance, type NullExports } from './null-wasm.ts';

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
export function maximizeAssignmentFlat(values: Float64Array, rows: number, cols: number, engine: 'auto' | 'js' = 'auto'): Assignment {
  if (rows === 0 || cols === 0) return { rowToCol: new Array<number>(rows).fill(-1), total: 0 };
  // The solver wants rows ≤ cols: solve the transpose when there are more rows.
  if (rows > cols) {
    const colToRow = minimizeCost(transpose(values, rows, cols), cols, rows, -1, engine);
    const rowToCol = new Array<number>(rows).fill(-1);
    colToRow.forEach((r, c) => { rowToCol[r] = c; });
    return { rowToCol, total: sumOf(values, cols, rowToCol) };
  }
  const rowToCol = minimizeCost(values, rows, cols, -1, engine);
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

/** The transpose of a row-major rows × cols matrix. */
export function transpose(values: Float64Array, rows: number, cols: number): Float64Array {
  const t = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = values[i * cols + j]!;
  return t;
}

function sumOf(values: Float64Array, cols: number, rowToCol: number[]): number {
  let total = 0;
  for (let i = 0; i < rowToCol.length; i++) if (rowToCol[i]! >= 0) total += values[i * cols + rowToCol[i]!]!;
  return total;
}

/**
 * Minimum-cost assignment of n rows to m ≥ n columns for cost = sign · values (sign -1 turns the
 * maximization into a minimization), in the Jonker–Volgenant form: on a square matrix, column
 * reduction and reduction transfer (a partial matching and tight potentials for the cost of two
 * passes); then, for each row still free, a shortest augmenting path (Crouse 2016, the form of
 * scipy's linear_sum_assignment). JV's augmenting row reduction is left out: on the null's
 * matrices it scanned 3-4× the entries that the paths it saves would (measured at 128 and 256). The search scans only the columns not yet
 * reached (a shrinking list), stops at the first free column at the current distance, and
 * updates the potentials u, v once per row from the distances.
 */
function minimizeCost(values: Float64Array, n: number, m: number, sign: number, engine: 'auto' | 'js'): number[] {
  const layout = workLayout(n, m);
  const bytes = n * m * 8 + layout.bytes;
  const wasm = engine === 'js' || bytes > MAX_WASM_BYTES ? null : bytes <= KEPT_BYTES ? assignmentKernel() : nullInstance();
  if (wasm) {
    ensureMemory(wasm, bytes);
    // The values are signed and row-reduced in the module's memory (the loop below, in WebAssembly), then searched there.
    new Float64Array(wasm.memory.buffer, 0, n * m).set(values.subarray(0, n * m));
    if (!wasm.reduceRows(0, n, m, sign)) throw nonFinite();
    wasm.assign(n, m, 0, n * m * 8);
    return Array.from(new Int32Array(wasm.memory.buffer, n * m * 8 + layout.colForRow, n));
  }
  const cost = new Float64Array(n * m);
  let finite = true;
  for (let i = 0; i < n; i++) {
    const base = i * m;
    let least = Infinity;
    for (let j = 0; j < m; j++) {
      const c = (cost[base + j] = sign * values[base + j]!);
      // c − c is NaN for NaN and ±∞ (the search would never end on them).
      finite &&= c - c === 0;
      if (c < least) least = c;
    }
    // Row reduction: every row is matched exactly once, so subtracting its least cost leaves the
    // optimal matching as it is, and takes out the rows' own levels (correlated router rows give
    // large ones) that would crowd the column reduction's choices onto a few rows: a third
    // fewer rows left to search for.
    if (finite) for (let j = 0; j < m; j++) cost[base + j] -= least;
  }
  if (!finite) throw nonFinite();
  return minimizeCostJs(cost, n, m);
}

/** The callers compute similarities from weights: one that is not finite is their fault, never the user's input as such. */
function nonFinite(): LineageError {
  return new LineageError('INTERNAL', 'linear assignment: a non-finite similarity (NaN or infinite); the matching is undefined');
}

let kernel: NullExports | null | undefined;
/** The thread's instance keeps its memory (it never shrinks): larger problems get an instance of their own, collected after. */
const KEPT_BYTES = 16 << 20;
/** Beyond this the JavaScript search runs (a 32-bit memory, and no point copying that much). */
const MAX_WASM_BYTES = 1 << 30;

/** One instance per thread for the assignment: a search runs to its end before the next starts. */
function assignmentKernel(): NullExports | null {
  if (kernel === undefined) kernel = nullInstance();
  return kernel;
}

/** minimizeCost on signed, finite costs, in JavaScript. */
function minimizeCostJs(cost: Float64Array, n: number, m: number): number[] {
  const u = new Float64Array(n);
  const v = new Float64Array(m);
  const colForRow = new Int32Array(n).fill(-1);
  const rowForCol = new Int32Array(m).fill(-1);
  let free: Int32Array;
  if (n === m) {
    free = reduceSquare(cost, n, v, colForRow, rowForCol);
    // The potentials of matched rows make their edges tight; free rows start at 0 (every reduced cost is ≥ 0).
    for (let i = 0; i < n; i++) if (colForRow[i]! >= 0) u[i] = cost[i * m + colForRow[i]!]! - v[colForRow[i]!]!;
  } else {
    free = Int32Array.from({ length: n }, (_, i) => i);
  }
  const shortest = new Float64Array(m);
  const path = new Int32Array(m);
  const remaining = new Int32Array(m);
  // Rows and columns reached by the current search, listed (for the potential update).
  const rowsReached = new Int32Array(n);
  const colsReached = new Int32Array(m);
  for (const row of free) {
    for (let j = 0; j < m; j++) remaining[j] = m - 1 - j;
    shortest.fill(Infinity);
    let left = m;
    let nRows = 0;
    let nCols = 0;
    let minVal = 0;
    let i = row;
    let sink = -1;
    while (sink < 0) {
      rowsReached[nRows++] = i;
      const base = i * m;
      const ui = u[i]!;
      let lowest = Infinity;
      let at = -1;
      for (let it = 0; it < left; it++) {
        const j = remaining[it]!;
        const reduced = minVal + cost[base + j]! - ui - v[j]!;
        let sj = shortest[j]!;
        if (reduced < sj) { path[j] = i; shortest[j] = sj = reduced; }
        // Ties go to a free column: the search ends there.
        if (sj < lowest || (sj === lowest && rowForCol[j]! < 0)) { lowest = sj; at = it; }
      }
      minVal = lowest;
      const j = remaining[at]!;
      colsReached[nCols++] = j;
      remaining[at] = remaining[--left]!;
      if (rowForCol[j]! < 0) sink = j;
      else i = rowForCol[j]!;
    }
    u[row] += minVal;
    for (let r = 1; r < nRows; r++) { const k = rowsReached[r]!; u[k] += minVal - shortest[colForRow[k]!]!; }
    for (let c = 0; c < nCols; c++) { const j = colsReached[c]!; v[j] -= minVal - shortest[j]!; }
    // Augment along the path back to the new row.
    let j = sink;
    for (;;) {
      const r = path[j]!;
      rowForCol[j] = r;
      const previous = colForRow[r]!;
      colForRow[r] = j;
      if (r === row) break;
      j = previous;
    }
  }
  return Array.from(colForRow);
}

/**
 * Jonker–Volgenant's initialisation of a square problem: column reduction (v_j = min_i c_ij, each
 * column to its cheapest row where that row is still free) and reduction transfer. Leaves v
 * feasible (c_ij − v_j ≥ 0), each matched row at its cheapest reduced cost; returns the rows
 * left free.
 */
function reduceSquare(cost: Float64Array, n: number, v: Float64Array, colForRow: Int32Array, rowForCol: Int32Array): Int32Array {
  const cheapest = new Int32Array(n);
  v.fill(Infinity);
  for (let i = 0; i < n; i++) {
    const base = i * n;
    for (let j = 0; j < n; j++) if (cost[base + j]! < v[j]!) { v[j] = cost[base + j]!; cheapest[j] = i; }
  }
  const unique = new Uint8Array(n).fill(1);
  for (let j = n - 1; j >= 0; j--) {
    const i = cheapest[j]!;
    if (colForRow[i]! < 0) { colForRow[i] = j; rowForCol[j] = i; } else unique[i] = 0;
  }
  const free = new Int32Array(n);
  let nFree = 0;
  for (let i = 0; i < n; i++) {
    const j1 = colForRow[i]!;
    if (j1 < 0) { free[nFree++] = i; continue; }
    if (!unique[i]) continue;
    // Reduction transfer: lower v of the row's column to its second best (it stays the cheapest).
    let second = Infinity;
    for (let j = 0; j < n; j++) if (j !== j1) second = Math.min(second, cost[i * n + j]! - v[j]!);
    if (second < Infinity) v[j1] -= second;
  }
  return free.subarray(0, nFree);
}
