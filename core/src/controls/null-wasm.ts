/**
 * The permutation null's WebAssembly module (wasm/null.wasm: the products and the linear
 * assignment), compiled once per thread; null where WebAssembly SIMD is missing (the callers
 * then run their JavaScript references).
 */
import { readFileSync } from 'node:fs';
import { wasmSimdAvailable } from '../kernels/wasm-kernel.ts';

export interface NullExports {
  memory: WebAssembly.Memory;
  product(x: number, y: number, out: number, n: number, p: number, m: number, flags: number, scale: number): void;
  assign(n: number, m: number, cost: number, work: number): void;
  reduceRows(cost: number, n: number, m: number, sign: number): number;
}

let compiled: WebAssembly.Module | null | undefined;

export function nullModule(): WebAssembly.Module | null {
  if (compiled === undefined) {
    compiled = wasmSimdAvailable() ? new WebAssembly.Module(readFileSync(new URL('./wasm/null.wasm', import.meta.url))) : null;
  }
  return compiled;
}

/** A fresh instance (its own memory), or null without WebAssembly SIMD. */
export function nullInstance(): NullExports | null {
  const module = nullModule();
  return module ? new WebAssembly.Instance(module, {}).exports as unknown as NullExports : null;
}

/** Grows an instance's memory to at least `bytes`. */
export function ensureMemory(exports: NullExports, bytes: number): void {
  const memory = exports.memory;
  if (bytes > memory.buffer.byteLength) memory.grow(Math.ceil((bytes - memory.buffer.byteLength) / 65536));
}
