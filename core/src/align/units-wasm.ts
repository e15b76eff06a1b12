/**
 * Units cut in WebAssembly (wasm/units-source.ts): the gathers and the centring of units.ts
 * `build`, ~3-4× the JavaScript loops here, with the same results bit for bit (the kernel does
 * the reference's float32 and float64 operations in its order). A cutter holds one unit
 * builder's matrices (the lines its blocks are cut from: rows, or a transpose's rows); the
 * thread's one instance keeps the last cutter's matrices laid out, so the draws of a cell (one
 * builder, many cuts) copy them in once.
 */
import { readFileSync } from 'node:fs';
import { wasmSimdAvailable } from '../kernels/wasm-kernel.ts';

interface UnitsExports {
  memory: WebAssembly.Memory;
  transpose(src: number, rows: number, cols: number, dst: number): void;
  cut(src: number, stride: number, span: number, dims: number, nd: number, sign: number, units: number, count: number, out: number, width: number, offset: number): void;
  finish(out: number, width: number, offset: number, len: number, units: number, count: number, scale: number, squares: number): void;
}

let compiled: WebAssembly.Module | null | undefined;

function unitsModule(): WebAssembly.Module | null {
  if (compiled === undefined) compiled = wasmSimdAvailable() ? new WebAssembly.Module(readFileSync(new URL('./wasm/units.wasm', import.meta.url))) : null;
  return compiled;
}

/** The thread's instance (memory kept for the next cut), and whose matrices it holds. */
let shared: { exports: UnitsExports; owner: UnitCutter | null } | null | undefined;
/** Larger cutters get an instance of their own (collected with them) rather than growing the thread's for good. */
const KEPT_BYTES = 64 << 20;
/** Beyond this the JavaScript loops run (a 32-bit memory). */
const MAX_BYTES = 1 << 30;

/** One block spec: the matrix its lines come from (`lines` × `length` floats once laid out), lines per unit. */
export interface CutSource {
  data: Float32Array;
  rows: number;
  cols: number;
  /** Cut from columns (the matrix is transposed once when laid out). */
  byColumn: boolean;
  span: number;
}

/** Cuts the kernel has made in this thread (tests check that it ran rather than the fallback). */
export const unitKernelCuts = { count: 0 };

const align16 = (bytes: number) => Math.ceil(bytes / 16) * 16;

function grow(memory: WebAssembly.Memory, bytes: number): void {
  const have = memory.buffer.byteLength;
  if (bytes > have) memory.grow(Math.ceil((bytes - have) / 65536));
}

export class UnitCutter {
  /** Byte offsets of each source's lines, and the end of the sources. */
  private readonly at: number[] = [];
  private readonly sourcesEnd: number;
  private own: UnitsExports | null = null;

  constructor(private readonly sources: CutSource[]) {
    let offset = 0;
    for (const s of sources) { this.at.push(offset); offset = align16(offset + s.rows * s.cols * 4); }
    this.sourcesEnd = offset;
  }

  /**
   * The units' data (count × width floats; with `only`, just the listed units in their order) and, per listed unit and
   * block, Σv² before centring (block-major: squares[i·listed + n]); null where the kernel cannot
   * run (no WebAssembly, too large, or dimensions or units out of range: the caller's JavaScript
   * loops then give their answer, whatever it is).
   */
  cut(dims: Int32Array, sign: Float32Array | null, count: number, only: Int32Array | null, scale: number): { data: Float32Array; squares: Float64Array; width: number } | null {
    const nd = dims.length;
    const listed = only ? only.length : count;
    const sizes = this.sources.map((s) => s.span * nd);
    const width = sizes.reduce((x, y) => x + y, 0);
    for (const s of this.sources) {
      const length = s.byColumn ? s.rows : s.cols;
      const lines = s.byColumn ? s.cols : s.rows;
      if (lines < count * s.span) return null;
      for (let c = 0; c < nd; c++) if (!(dims[c]! >= 0 && dims[c]! < length)) return null;
    }
    if (only) {
      const seen = new Uint8Array(count);
      for (let n = 0; n < listed; n++) {
        const u = only[n]!;
        if (!(u >= 0 && u < count) || seen[u]) return null;
        seen[u] = 1;
      }
    }
    // After the sources: dims, signs, the unit list, the squares, then the units themselves.
    const dimsAt = this.sourcesEnd;
    const signAt = align16(dimsAt + nd * 4);
    const unitsAt = align16(signAt + nd * 4);
    const squaresAt = align16(unitsAt + listed * 4);
    const outAt = align16(squaresAt + listed * this.sources.length * 8);
    // Laying out a transposed source needs room for its untransposed copy there too.
    const scratch = Math.max(0, ...this.sources.map((s) => (s.byColumn ? s.rows * s.cols * 4 : 0)));
    const end = outAt + Math.max(count * width * 4, scratch);
    if (end > MAX_BYTES) return null;
    const exports = this.instance(end);
    if (!exports) return null;
    const memory = exports.memory;
    new Int32Array(memory.buffer, dimsAt, nd).set(dims);
    if (sign) new Float32Array(memory.buffer, signAt, nd).set(sign.subarray(0, nd));
    const list = new Int32Array(memory.buffer, unitsAt, listed);
    if (only) list.set(only);
    else for (let n = 0; n < listed; n++) list[n] = n;
    let offset = 0;
    this.sources.forEach((s, i) => {
      exports.cut(this.at[i]!, s.byColumn ? s.rows : s.cols, s.span, dimsAt, nd, sign ? signAt : 0, unitsAt, listed, outAt, width, offset);
      offset += sizes[i]!;
    });
    offset = 0;
    this.sources.forEach((_, i) => {
      exports.finish(outAt, width, offset, sizes[i]!, unitsAt, listed, scale, squaresAt + i * listed * 8);
      offset += sizes[i]!;
    });
    unitKernelCuts.count++;
    const data = new Float32Array(listed * width);
    const heap = new Float32Array(memory.buffer, outAt, count * width);
    if (!only) data.set(heap);
    else only.forEach((u, n) => data.set(heap.subarray(u * width, (u + 1) * width), n * width));
    return { data, squares: new Float64Array(memory.buffer, squaresAt, listed * this.sources.length).slice(), width };
  }

  /** An instance holding this cutter's sources with at least `bytes` of memory (sources laid out again if another cutter used it since). */
  private instance(bytes: number): UnitsExports | null {
    if (this.own) { grow(this.own.memory, bytes); return this.own; }
    const module = unitsModule();
    if (!module) return null;
    if (bytes > KEPT_BYTES) {
      this.own = new WebAssembly.Instance(module, {}).exports as unknown as UnitsExports;
      grow(this.own.memory, bytes);
      this.place(this.own);
      return this.own;
    }
    shared ??= { exports: new WebAssembly.Instance(module, {}).exports as unknown as UnitsExports, owner: null };
    grow(shared.exports.memory, bytes);
    if (shared.owner !== this) { this.place(shared.exports); shared.owner = this; }
    return shared.exports;
  }

  private place(exports: UnitsExports): void {
    const scratchAt = this.sourcesEnd;
    this.sources.forEach((s, i) => {
      const n = s.rows * s.cols;
      if (!s.byColumn) { new Float32Array(exports.memory.buffer, this.at[i]!, n).set(s.data.subarray(0, n)); return; }
      new Float32Array(exports.memory.buffer, scratchAt, n).set(s.data.subarray(0, n));
      exports.transpose(scratchAt, s.rows, s.cols, this.at[i]!);
    });
  }
}
