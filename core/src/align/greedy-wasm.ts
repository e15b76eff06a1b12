/**
 * The hidden alignment's greedy matching in WebAssembly (wasm/greedy-source.ts): rows' best
 * columns and the taking of columns in the kernel, the sort of rows by their best value in
 * JavaScript (the same sort, on the same values), so the matching is hidden.ts's to the column.
 * The similarities are meant to be written straight into the kernel's memory
 * (`greedySimilarities`, or `greedySimilarities32` for float32 ones): at 4096 wide they are 128 MB
 * (64 MB in float32), and a copy per draw would cost what the kernel saves.
 */
import { readFileSync } from 'node:fs';
import { wasmSimdAvailable } from '../kernels/wasm-kernel.ts';

type Best = (sim: number, wa: number, wb: number, best: number, top: number) => void;
type Assign = (sim: number, wa: number, wb: number, best: number, order: number, used: number, toB: number) => void;

interface GreedyExports {
  memory: WebAssembly.Memory;
  best: Best;
  assign: Assign;
  best32: Best;
  assign32: Assign;
}

/** Beyond this the JavaScript runs (a 32-bit memory). */
const MAX_BYTES = 1 << 30;

let compiled: WebAssembly.Module | null | undefined;

interface Kernel {
  exports: GreedyExports;
  wa: number;
  wb: number;
  /** Bytes of a similarity: 8 (float64) or 4 (float32). */
  size: 4 | 8;
  at: { best: number; top: number; order: number; used: number; toB: number };
}

/** Kernels by the memory their similarities are in (collected with the last view of it). */
const kernels = new WeakMap<ArrayBuffer, Kernel>();

function kernelFor(wa: number, wb: number, size: 4 | 8): Kernel | null {
  if (compiled === undefined) compiled = wasmSimdAvailable() ? new WebAssembly.Module(readFileSync(new URL('./wasm/greedy.wasm', import.meta.url))) : null;
  if (!compiled || wa === 0 || wb === 0) return null;
  const align = (x: number) => Math.ceil(x / 16) * 16;
  const best = align(wa * wb * size);
  const top = align(best + wa * 4);
  const order = align(top + wa * 8);
  const used = align(order + wa * 4);
  // A mask as wide as a similarity per column (8 bytes serve both).
  const toB = align(used + wb * 8);
  const end = toB + wa * 4;
  if (end > MAX_BYTES) return null;
  const exports = new WebAssembly.Instance(compiled, {}).exports as unknown as GreedyExports;
  // Grown once, now: the views handed out must never be detached by a later growth.
  exports.memory.grow(Math.ceil(Math.max(0, end - exports.memory.buffer.byteLength) / 65536));
  const kernel = { exports, wa, wb, size, at: { best, top, order, used, toB } };
  kernels.set(exports.memory.buffer, kernel);
  return kernel;
}

/** A wa × wb float64 array in a fresh kernel's memory, for the similarities `greedyMatchInWasm` will match; null without WebAssembly. */
export function greedySimilarities(wa: number, wb: number): Float64Array | null {
  const kernel = kernelFor(wa, wb, 8);
  return kernel ? new Float64Array(kernel.exports.memory.buffer, 0, wa * wb) : null;
}

/** The same for float32 similarities (half the memory; the same matching as their float64 copy). */
export function greedySimilarities32(wa: number, wb: number): Float32Array | null {
  const kernel = kernelFor(wa, wb, 4);
  return kernel ? new Float32Array(kernel.exports.memory.buffer, 0, wa * wb) : null;
}

/**
 * hidden.ts's greedy matching of `sim` (wa × wb, row-major): in place where `sim` came from
 * `greedySimilarities(wa, wb)`, else copied into a kernel first. Null where the kernel cannot run.
 */
export function greedyMatchInWasm(sim: Float64Array | Float32Array, wa: number, wb: number): Int32Array | null {
  const size = sim.BYTES_PER_ELEMENT as 4 | 8;
  let kernel = kernels.get(sim.buffer as ArrayBuffer);
  if (!kernel || kernel.wa !== wa || kernel.wb !== wb || kernel.size !== size || sim.byteOffset !== 0) {
    kernel = kernelFor(wa, wb, size) ?? undefined;
    if (!kernel) return null;
    (size === 8 ? new Float64Array(kernel.exports.memory.buffer, 0, wa * wb) : new Float32Array(kernel.exports.memory.buffer, 0, wa * wb)).set(sim.subarray(0, wa * wb));
  }
  const { exports, at } = kernel;
  const [best, assign] = size === 8 ? [exports.best, exports.assign] : [exports.best32, exports.assign32];
  const buffer = exports.memory.buffer;
  best(0, wa, wb, at.best, at.top);
  // The most similar pairs first: rows by their best value, as hidden.ts sorts them.
  const top = new Float64Array(buffer, at.top, wa);
  const order: number[] = [];
  for (let i = 0; i < wa; i++) order.push(i);
  order.sort((x, y) => top[y]! - top[x]!);
  new Int32Array(buffer, at.order, wa).set(order);
  new Uint8Array(buffer, at.used, wb * 8).fill(0);
  const toB = new Int32Array(buffer, at.toB, wa);
  toB.fill(-1);
  assign(0, wa, wb, at.best, at.order, at.used, at.toB);
  return toB.slice();
}
