/**
 * The kernel interface: accumulate the moments of element pairs held in windows the kernel owns
 * (so the WASM kernel can have the reader write straight into its memory, without a copy).
 */
import type { Moments } from '../stats/moments.ts';

export type KernelName = 'wasm-simd' | 'js' | 'gpu.js';

/** How a window's bytes are laid out for the kernel: raw bf16, or float32 (decoded or native). */
export type Layout = 'bf16' | 'f32';

export interface KernelWindows {
  /** Raw bytes of A and B as read from the checkpoint (capacity: maxElements × 4 bytes). */
  rawA: Uint8Array;
  rawB: Uint8Array;
  /** Float32 scratch for decoded values (capacity: maxElements). */
  f32A: Float32Array;
  f32B: Float32Array;
}

export interface PairKernel {
  readonly name: KernelName;
  /** Windows for up to `maxElements` pairs; views stay valid until the next call. */
  windows(maxElements: number): KernelWindows;
  /** Starts a new pair. */
  reset(): void;
  /**
   * Adds `count` pairs to the running moments. `a` and `b` are views into this kernel's windows
   * (`rawX` holding bf16 or f32 bytes, or `f32X`), starting at element 0 of the pair's window.
   */
  accumulate(a: { layout: Layout; data: Uint8Array | Float32Array }, b: { layout: Layout; data: Uint8Array | Float32Array }, count: number): void;
  /** The moments of every pair accumulated since reset. */
  result(): Moments;
  dispose(): void;
}
