/**
 * The line kernels of model-view.ts in WebAssembly (wasm/lines-source.ts): chosen columns and
 * line norms of bf16 or float32 bands, read straight into the module's memory, with the
 * JavaScript loops' results bit for bit (model-view.ts keeps those loops, for other dtypes and
 * where WebAssembly is missing). One instance per thread, its memory (up to 64 MB) kept for the
 * next call; a larger call gets an instance of its own.
 */
import { readFileSync } from 'node:fs';
import { wasmSimdAvailable } from '../kernels/wasm-kernel.ts';

interface LinesExports {
  memory: WebAssembly.Memory;
  columnsBf16(src: number, rows: number, width: number, cols: number, nc: number, gamma: number, out: number): void;
  columnsF32(src: number, rows: number, width: number, cols: number, nc: number, gamma: number, out: number): void;
  rowSquaresBf16(src: number, rows: number, width: number, out: number): void;
  rowSquaresF32(src: number, rows: number, width: number, out: number): void;
  columnSquaresBf16(src: number, rows: number, width: number, out: number): void;
  columnSquaresF32(src: number, rows: number, width: number, out: number): void;
}

let compiled: WebAssembly.Module | null | undefined;
let instance: LinesExports | null | undefined;
/** Larger calls get an instance of their own (collected after) rather than growing the thread's for good. */
const KEPT_BYTES = 64 << 20;
/** Beyond this the JavaScript loops run (a 32-bit memory). */
const MAX_BYTES = 1 << 30;

/** The thread's instance for a call of up to `bytes`, or a fresh one for a larger call; null without WebAssembly. */
function kernel(bytes: number): LinesExports | null {
  if (compiled === undefined) compiled = wasmSimdAvailable() ? new WebAssembly.Module(readFileSync(new URL('./wasm/lines.wasm', import.meta.url))) : null;
  if (!compiled || bytes > MAX_BYTES) return null;
  const fresh = () => new WebAssembly.Instance(compiled!, {}).exports as unknown as LinesExports;
  if (bytes > KEPT_BYTES) return fresh();
  return (instance ??= fresh());
}

/** Matrices the kernels have read in this thread (tests check that they ran rather than the JavaScript loops). */
export const lineKernelCalls = { count: 0 };

const align16 = (bytes: number) => Math.ceil(bytes / 16) * 16;

/** Reads a band of `bytes` into `target` (the caller's reader; errors are its). */
export type ReadBand = (offset: number, target: Uint8Array) => void;

/**
 * Columns `cols` of a rows × width bf16 or float32 matrix at byte `start`, read in bands of
 * `bandRows` rows, times gamma[cols[k]] where gamma is given: what model-view.ts `columns` gives
 * in JavaScript. Null where the kernel cannot run (then the JavaScript loops do).
 */
export function columnsInWasm(read: ReadBand, bf16: boolean, rows: number, width: number, bandRows: number, cols: Int32Array, gamma: Float32Array | null): Float32Array | null {
  const bpe = bf16 ? 2 : 4;
  const nc = cols.length;
  const colsAt = 0;
  const gammaAt = align16(nc * 4);
  const outAt = align16(gammaAt + nc * 4);
  const bandAt = align16(outAt + rows * nc * 4);
  const end = bandAt + Math.min(rows, bandRows) * width * bpe;
  const k = kernel(end);
  if (!k) return null;
  grow(k.memory, end);
  const buffer = k.memory.buffer;
  new Int32Array(buffer, colsAt, nc).set(cols);
  if (gamma) {
    const g = new Float32Array(buffer, gammaAt, nc);
    for (let i = 0; i < nc; i++) g[i] = gamma[cols[i]!]!;
  }
  for (let r0 = 0; r0 < rows; r0 += bandRows) {
    const n = Math.min(bandRows, rows - r0);
    read(r0 * width * bpe, new Uint8Array(buffer, bandAt, n * width * bpe));
    (bf16 ? k.columnsBf16 : k.columnsF32)(bandAt, n, width, colsAt, nc, gamma ? gammaAt : 0, outAt + r0 * nc * 4);
  }
  lineKernelCalls.count++;
  return new Float32Array(buffer, outAt, rows * nc).slice();
}

/**
 * Σv² of each row (byRow) or column of a rows × width bf16 or float32 matrix at byte `start`,
 * read in bands of `bandRows` rows: model-view.ts `lineSquares` in JavaScript, the same sums in
 * the same order. Null where the kernel cannot run.
 */
export function lineSquaresInWasm(read: ReadBand, bf16: boolean, rows: number, width: number, bandRows: number, byRow: boolean): Float64Array | null {
  const bpe = bf16 ? 2 : 4;
  const lines = byRow ? rows : width;
  // Columns go two to a lane pair: an odd width is left to the JavaScript loop.
  const slots = lines;
  const outAt = 0;
  const bandAt = align16(slots * 8);
  const end = bandAt + Math.min(rows, bandRows) * width * bpe + 16;
  const k = byRow || width % 2 === 0 ? kernel(end) : null;
  if (!k) return null;
  grow(k.memory, end);
  const buffer = k.memory.buffer;
  new Float64Array(buffer, outAt, slots).fill(0);
  for (let r0 = 0; r0 < rows; r0 += bandRows) {
    const n = Math.min(bandRows, rows - r0);
    read(r0 * width * bpe, new Uint8Array(buffer, bandAt, n * width * bpe));
    if (byRow) (bf16 ? k.rowSquaresBf16 : k.rowSquaresF32)(bandAt, n, width, outAt + r0 * 8);
    else (bf16 ? k.columnSquaresBf16 : k.columnSquaresF32)(bandAt, n, width, outAt);
  }
  lineKernelCalls.count++;
  return new Float64Array(buffer, outAt, lines).slice();
}

function grow(memory: WebAssembly.Memory, bytes: number): void {
  const have = memory.buffer.byteLength;
  if (bytes > have) memory.grow(Math.ceil((bytes - have) / 65536));
}
