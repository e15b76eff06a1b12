/**
 * The fast CPU kernel: WebAssembly SIMD (see wasm/source.ts for the numerics). Windows live in
 * the module's own memory so the reader writes into them directly.
 */
import { readFileSync } from 'node:fs';
import { HEAP_BASE, STATE, STATE_SLOTS } from './wasm/source.ts';
import type { Moments } from '../stats/moments.ts';
import type { KernelWindows, Layout, PairKernel } from './kernel.ts';

interface Exports {
  memory: WebAssembly.Memory;
  accumulate_bf16(pa: number, pb: number, n: number): void;
  accumulate_f32(pa: number, pb: number, n: number): void;
  widen_bf16(src: number, dst: number, n: number): void;
}

let compiled: WebAssembly.Module | null = null;

function module(): WebAssembly.Module {
  compiled ??= new WebAssembly.Module(readFileSync(new URL('./wasm/moments.wasm', import.meta.url)));
  return compiled;
}

/** Whether this runtime has WebAssembly SIMD (Node 16.4+ does). */
export function wasmSimdAvailable(): boolean {
  try {
    module();
    return true;
  } catch {
    return false;
  }
}

export class WasmKernel implements PairKernel {
  readonly name = 'wasm-simd' as const;
  private readonly exports: Exports;
  private capacity = 0;
  private buffers: KernelWindows | null = null;

  constructor() {
    this.exports = new WebAssembly.Instance(module(), {}).exports as unknown as Exports;
  }

  windows(maxElements: number): KernelWindows {
    if (this.buffers && maxElements <= this.capacity && this.buffers.rawA.buffer === this.exports.memory.buffer) return this.buffers;
    const bytes = maxElements * 4;
    const needed = HEAP_BASE + 4 * bytes;
    const memory = this.exports.memory;
    if (memory.buffer.byteLength < needed) memory.grow(Math.ceil((needed - memory.buffer.byteLength) / 65536));
    const buffer = memory.buffer;
    this.capacity = maxElements;
    this.buffers = {
      rawA: new Uint8Array(buffer, HEAP_BASE, bytes),
      rawB: new Uint8Array(buffer, HEAP_BASE + bytes, bytes),
      f32A: new Float32Array(buffer, HEAP_BASE + 2 * bytes, maxElements),
      f32B: new Float32Array(buffer, HEAP_BASE + 3 * bytes, maxElements),
    };
    return this.buffers;
  }

  reset(): void {
    new Float64Array(this.exports.memory.buffer, 0, STATE_SLOTS).fill(0);
  }

  accumulate(a: { layout: Layout; data: Uint8Array | Float32Array }, b: { layout: Layout; data: Uint8Array | Float32Array }, count: number): void {
    const buffers = this.buffers;
    if (!buffers) throw new Error('WasmKernel.accumulate before windows()');
    if (a.data.buffer !== this.exports.memory.buffer || b.data.buffer !== this.exports.memory.buffer) {
      throw new Error('WasmKernel.accumulate: operands must be views of the kernel windows');
    }
    if (a.layout === 'bf16' && b.layout === 'bf16') {
      this.exports.accumulate_bf16(a.data.byteOffset, b.data.byteOffset, count);
      return;
    }
    const pa = this.widen(a, buffers.f32A, count);
    const pb = this.widen(b, buffers.f32B, count);
    this.exports.accumulate_f32(pa, pb, count);
  }

  /** Pointer to f32 data for an operand, widening bf16 into the scratch window when needed. */
  private widen(op: { layout: Layout; data: Uint8Array | Float32Array }, scratch: Float32Array, count: number): number {
    if (op.layout === 'f32') return op.data.byteOffset;
    this.exports.widen_bf16(op.data.byteOffset, scratch.byteOffset, count);
    return scratch.byteOffset;
  }

  result(): Moments {
    const s = new Float64Array(this.exports.memory.buffer, 0, STATE_SLOTS);
    return {
      n: s[STATE.n]!, meanA: s[STATE.meanA]!, meanB: s[STATE.meanB]!, m2a: s[STATE.m2a]!, m2b: s[STATE.m2b]!,
      cab: s[STATE.cab]!, sdd: s[STATE.sdd]!, maxAbsDiff: s[STATE.maxAbsDiff]!, nanA: s[STATE.nanA]!,
      infA: s[STATE.infA]!, nanB: s[STATE.nanB]!, infB: s[STATE.infB]!, excluded: s[STATE.excluded]!,
    };
  }

  dispose(): void {
    this.buffers = null;
  }
}
