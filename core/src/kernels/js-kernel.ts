/**
 * The reference kernel in plain TypeScript: float64 throughout, same block structure as the
 * WASM kernel. Slow (~14× slower than WASM SIMD) but simple enough to trust.
 */
import { BLOCK } from './wasm/source.ts';
import { blockMoments, emptyMoments, mergeMoments, type Moments } from '../stats/moments.ts';
import type { KernelWindows, Layout, PairKernel } from './kernel.ts';

export class JsKernel implements PairKernel {
  readonly name = 'js' as const;
  private buffers: KernelWindows | null = null;
  private capacity = 0;
  private state = emptyMoments();

  windows(maxElements: number): KernelWindows {
    if (!this.buffers || maxElements > this.capacity) {
      this.capacity = maxElements;
      this.buffers = {
        rawA: new Uint8Array(maxElements * 4), rawB: new Uint8Array(maxElements * 4),
        f32A: new Float32Array(maxElements), f32B: new Float32Array(maxElements),
      };
    }
    return this.buffers;
  }

  reset(): void {
    this.state = emptyMoments();
  }

  accumulate(a: { layout: Layout; data: Uint8Array | Float32Array }, b: { layout: Layout; data: Uint8Array | Float32Array }, count: number): void {
    const x = asFloats(a.layout, a.data, count);
    const y = asFloats(b.layout, b.data, count);
    for (let start = 0; start < count; start += BLOCK) {
      this.state = mergeMoments(this.state, blockMoments(x, y, start, Math.min(count, start + BLOCK)));
    }
  }

  result(): Moments {
    return { ...this.state };
  }

  dispose(): void {
    this.buffers = null;
  }
}

function asFloats(layout: Layout, data: Uint8Array | Float32Array, count: number): Float32Array {
  if (data instanceof Float32Array) return data;
  if (layout === 'f32') return new Float32Array(data.buffer, data.byteOffset, count);
  const out = new Float32Array(count);
  const bits = new Uint32Array(out.buffer);
  const halves = new Uint16Array(data.buffer, data.byteOffset, count);
  for (let i = 0; i < count; i++) bits[i] = halves[i]! << 16;
  return out;
}
