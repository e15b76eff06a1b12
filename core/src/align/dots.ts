/**
 * All dot products between the rows of two float32 matrices, in WebAssembly SIMD (wasm/source.ts):
 * the matchings' one hot loop. 13-16× the plain JavaScript loop here on unit matchings' shapes
 * (64 rows against 512-2048 of 256-768 floats), 6× on the hidden alignment's short rows (1024²
 * of 48); the JavaScript loop stays as the reference the tests compare against and as the
 * fallback where WebAssembly SIMD is missing.
 */
import { readFileSync } from 'node:fs';
import { wasmSimdAvailable } from '../kernels/wasm-kernel.ts';

interface DotsExports {
  memory: WebAssembly.Memory;
  dots(x: number, n: number, y: number, m: number, w: number, out: number): void;
  best(q: number, groups: number, b: number, rows: number, cols: number, best: number, at: number): void;
}

let compiled: WebAssembly.Module | null | undefined;
let instance: DotsExports | null = null;

function dotsModule(): WebAssembly.Module | null {
  if (compiled === undefined) compiled = wasmSimdAvailable() ? new WebAssembly.Module(readFileSync(new URL('./wasm/dots.wasm', import.meta.url))) : null;
  return compiled;
}

function kernel(): DotsExports | null {
  if (instance) return instance;
  const module = dotsModule();
  if (!module) return null;
  instance = new WebAssembly.Instance(module, {}).exports as unknown as DotsExports;
  return instance;
}

/** Whether `dots` runs in WebAssembly here (its numbers are float32 then: `dotsCompact`, `withDots`). */
export function dotsInWasmAvailable(): boolean {
  return kernel() !== null;
}

/** out[i·m + j] = Σ_k x[i·w + k]·y[j·w + k], in JavaScript (four accumulators). */
export function dotsJs(x: Float32Array, n: number, y: Float32Array, m: number, w: number): Float64Array {
  const out = new Float64Array(n * m);
  const w4 = w - (w % 4);
  for (let i = 0; i < n; i++) {
    const xb = i * w;
    for (let j = 0; j < m; j++) {
      const yb = j * w;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let k = 0; k < w4; k += 4) {
        s0 += x[xb + k]! * y[yb + k]!;
        s1 += x[xb + k + 1]! * y[yb + k + 1]!;
        s2 += x[xb + k + 2]! * y[yb + k + 2]!;
        s3 += x[xb + k + 3]! * y[yb + k + 3]!;
      }
      for (let k = w4; k < w; k++) s0 += x[xb + k]! * y[yb + k]!;
      out[i * m + j] = s0 + s1 + s2 + s3;
    }
  }
  return out;
}

/**
 * The same in WebAssembly SIMD (rows copied in, padded to a multiple of 16 floats). `xRows`: only
 * these rows of x, in this order (n of them), copied straight into the kernel's memory.
 */
export function dots(x: Float32Array, n: number, y: Float32Array, m: number, w: number, xRows: Int32Array | null = null): Float64Array {
  const k = kernel();
  if (!k || n === 0 || m === 0 || w === 0) return dotsJs(xRows ? gatherRows(x, xRows, w) : x, n, y, m, w);
  // Widened from the kernel's memory in one copy.
  return new Float64Array(dotsView(k, x, n, y, m, w, xRows));
}

function gatherRows(x: Float32Array, rows: Int32Array, w: number): Float32Array {
  const out = new Float32Array(rows.length * w);
  rows.forEach((u, i) => out.set(x.subarray(u * w, (u + 1) * w), i * w));
  return out;
}

/**
 * Operands that never change once made (units, the hidden alignment's rows of A): the kernel keeps
 * the copy it placed of one and skips placing it again while the same operand comes back in the
 * same place (a cell's null draws compare one layer's units with many others).
 */
const frozen = new WeakSet<Float32Array | Int32Array>();

/** Marks `a` (an operand, or a list of its rows) as never written again: dots may reuse its copy. Returns it. */
export function freezeOperand<T extends Float32Array | Int32Array>(a: T): T {
  frozen.add(a);
  return a;
}

/** What the kernel's memory holds of the last call's operands: which array, which rows, where. */
interface Placed {
  src: Float32Array;
  rows: Int32Array | null;
  count: number;
  wp: number;
  at: number;
  /** The columns placed: `from`..`from + w` of rows `stride` long. */
  from: number;
  w: number;
  stride: number;
}

let placedX: Placed | null = null;
let placedY: Placed | null = null;

function samePlace(p: Placed | null, src: Float32Array, rows: Int32Array | null, count: number, wp: number, at: number, from: number, w: number, stride: number): boolean {
  return p !== null && frozen.has(src) && (rows === null || frozen.has(rows)) && p.src === src && p.rows === rows && p.count === count && p.wp === wp && p.at === at
    && p.from === from && p.w === w && p.stride === stride;
}

/**
 * `dots`' numbers as the kernel leaves them, float32 (the same numbers in half the memory: the
 * hidden alignment's width × width similarities at 4096 wide are 16 Mi of them per draw); the
 * JavaScript loop's float64 where the kernel does not run.
 */
export function dotsCompact(x: Float32Array, n: number, y: Float32Array, m: number, w: number): Float32Array | Float64Array {
  const k = kernel();
  if (!k || n === 0 || m === 0 || w === 0) return dotsJs(x, n, y, m, w);
  return dotsInWasm(k, x, n, y, m, w);
}

/**
 * `dotsCompact`'s numbers handed to `use` where the kernel leaves them, in its memory: no copy (at
 * 4096 wide, 64 MB a call). The view is valid only during the call.
 */
export function withDots<T>(x: Float32Array, n: number, y: Float32Array, m: number, w: number, use: (out: Float32Array | Float64Array) => T): T {
  const k = kernel();
  if (!k || n === 0 || m === 0 || w === 0) return use(dotsJs(x, n, y, m, w));
  return use(dotsView(k, x, n, y, m, w));
}

function dotsInWasm(k: DotsExports, x: Float32Array, n: number, y: Float32Array, m: number, w: number): Float32Array {
  return dotsView(k, x, n, y, m, w).slice();
}

/**
 * The products in the kernel's memory (valid until its next call). `cols`: the operands' rows are
 * `stride` long and only columns from..from+w of them are multiplied (copied straight from there
 * into the kernel's memory; without it, rows are w long and taken whole).
 */
function dotsView(k: DotsExports, x: Float32Array, n: number, y: Float32Array, m: number, w: number, xRows: Int32Array | null = null, cols: { from: number; stride: number } | null = null): Float32Array {
  const from = cols?.from ?? 0;
  const stride = cols?.stride ?? w;
  const wp = Math.ceil(w / 16) * 16;
  const bytes = 4 * (n * wp + m * wp + n * m);
  const have = k.memory.buffer.byteLength;
  if (bytes > have) k.memory.grow(Math.ceil((bytes - have) / 65536));
  const heap = new Float32Array(k.memory.buffer);
  const xOff = 0;
  const yOff = n * wp;
  const outOff = yOff + m * wp;
  // Row r of the operand (a listed row of x) to heap row r at `at`, zeros after it up to wp.
  const place = (src: Float32Array, rowsOf: Int32Array | null, rows: number, at: number) => {
    if (wp === w && stride === w && !rowsOf) { heap.set(src.subarray(0, rows * w), at); return; }
    for (let r = 0; r < rows; r++) {
      const u = rowsOf ? rowsOf[r]! : r;
      heap.set(src.subarray(u * stride + from, u * stride + from + w), at + r * wp);
      if (wp !== w) heap.fill(0, at + r * wp + w, at + (r + 1) * wp);
    }
  };
  if (!samePlace(placedX, x, xRows, n, wp, xOff, from, w, stride)) place(x, xRows, n, xOff);
  if (!samePlace(placedY, y, null, m, wp, yOff, from, w, stride)) place(y, null, m, yOff);
  // The memory now holds exactly these two (the products go after both).
  placedX = { src: x, rows: xRows, count: n, wp, at: xOff, from, w, stride };
  placedY = { src: y, rows: null, count: m, wp, at: yOff, from, w, stride };
  k.dots(xOff * 4, n, yOff * 4, m, wp, outOff * 4);
  return heap.subarray(outOff, outOff + n * m);
}

/**
 * head + |tail| for every pair of rows: the products of columns 0..at of x's rows (the listed
 * ones, as `dots` takes them) with y's, plus the absolute products of columns at..w. Units whose
 * blocks from `at` on may all change sign together (units.ts `flipFrom`) are compared so, the
 * columns cut as the kernel places them (no copy of either operand).
 */
export function dotsSignFreeTail(x: Float32Array, n: number, y: Float32Array, m: number, w: number, at: number, xRows: Int32Array | null = null): Float64Array {
  const k = kernel();
  if (!k || n === 0 || m === 0 || at <= 0 || at >= w) {
    const cut = (src: Float32Array, rows: number, list: Int32Array | null, from: number, to: number) => {
      const out = new Float32Array(rows * (to - from));
      for (let r = 0; r < rows; r++) { const u = list ? list[r]! : r; out.set(src.subarray(u * w + from, u * w + to), r * (to - from)); }
      return out;
    };
    const head = dotsJs(cut(x, n, xRows, 0, at), n, cut(y, m, null, 0, at), m, at);
    const tail = dotsJs(cut(x, n, xRows, at, w), n, cut(y, m, null, at, w), m, w - at);
    for (let i = 0; i < head.length; i++) head[i] = head[i]! + Math.abs(tail[i]!);
    return head;
  }
  const out = new Float64Array(dotsView(k, x, n, y, m, at, xRows, { from: 0, stride: w }));
  const tail = dotsView(k, x, n, y, m, w - at, xRows, { from: at, stride: w });
  for (let i = 0; i < out.length; i++) out[i] = out[i]! + Math.abs(tail[i]!);
  return out;
}

/** Each query's greatest dot product with a row of B and the first row that reaches it. */
export interface BestRows {
  value: Float64Array;
  at: Int32Array;
}

/**
 * For each query (`cols` floats), the greatest dot product with any of the `count` rows of `rows`
 * and the first row reaching it, in JavaScript: float64 sums of the float32 products, k
 * ascending. The reference `BestDots` is tested against (and its fallback without WebAssembly SIMD).
 */
export function bestDotsJs(queries: Float32Array[], rows: Float32Array, count: number, cols: number): BestRows {
  const value = new Float64Array(queries.length);
  const at = new Int32Array(queries.length);
  queries.forEach((q, i) => {
    let best = -Infinity;
    let where = -1;
    for (let r = 0; r < count; r++) {
      let dot = 0;
      const base = r * cols;
      for (let j = 0; j < cols; j++) dot += q[j]! * rows[base + j]!;
      if (dot > best) { best = dot; where = r; }
    }
    value[i] = best;
    at[i] = where;
  });
  return { value, at };
}

/** Queries per group of the kernel's search (its four f64x2 accumulators). */
const GROUP = 8;

/**
 * The nearest-row search over one matrix B, asked many times (the neuron test's observed queries,
 * then each null draw's): B is copied into a WebAssembly instance of its own once, and each search
 * runs in SIMD over 8 queries at a time, the same sums as `bestDotsJs` bit for bit (~8× faster:
 * the lanes run over queries, so every sum keeps its order). JavaScript where SIMD is missing.
 */
export class BestDots {
  private readonly exports: DotsExports | null;
  private readonly bBytes: number;

  constructor(private readonly rows: Float32Array, private readonly count: number, private readonly cols: number) {
    const module = count * cols > 0 ? dotsModule() : null;
    this.exports = module ? new WebAssembly.Instance(module, {}).exports as unknown as DotsExports : null;
    this.bBytes = count * cols * 4;
    if (this.exports) {
      grow(this.exports.memory, this.bBytes);
      new Float32Array(this.exports.memory.buffer, 0, count * cols).set(rows.subarray(0, count * cols));
    }
  }

  best(queries: Float32Array[]): BestRows {
    const { exports, count, cols, bBytes } = this;
    if (!exports || queries.length === 0) return bestDotsJs(queries, this.rows, count, cols);
    const groups = Math.ceil(queries.length / GROUP);
    const slots = groups * GROUP;
    // After B: the queries (float64, k-major within a group), then the best values and rows.
    const qAt = Math.ceil(bBytes / 16) * 16;
    const bestAt = qAt + slots * cols * 8;
    const whereAt = bestAt + slots * 8;
    grow(exports.memory, whereAt + slots * 4);
    const q = new Float64Array(exports.memory.buffer, qAt, slots * cols);
    q.fill(0);
    queries.forEach((query, i) => {
      const g = Math.floor(i / GROUP);
      const lane = i % GROUP;
      const base = g * cols * GROUP + lane;
      for (let k = 0; k < cols; k++) q[base + k * GROUP] = query[k]!;
    });
    exports.best(qAt, groups, 0, count, cols, bestAt, whereAt);
    return {
      value: new Float64Array(exports.memory.buffer, bestAt, queries.length).slice(),
      at: new Int32Array(exports.memory.buffer, whereAt, queries.length).slice(),
    };
  }
}

function grow(memory: WebAssembly.Memory, bytes: number): void {
  const have = memory.buffer.byteLength;
  if (bytes > have) memory.grow(Math.ceil((bytes - have) / 65536));
}
