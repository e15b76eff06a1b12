/**
 * All dot products between the rows of two float32 matrices, in WebAssembly SIMD (wasm/source.ts):
 * the matchings' one hot loop. ~5× the plain JavaScript loop here; the JavaScript loop stays as
 * the reference the tests compare against and as the fallback where WebAssembly SIMD is missing.
 */
import { readFileSync } from 'node:fs';
import { wasmSimdAvailable } from '../kernels/wasm-kernel.ts';

interface DotsExports {
  memory: WebAssembly.Memory;
  dots(x: number, n: number, y: number, m: number, w: number, out: number): void;
}

let instance: DotsExports | null = null;

function kernel(): DotsExports | null {
  if (instance) return instance;
  if (!wasmSimdAvailable()) return null;
  const module = new WebAssembly.Module(readFileSync(new URL('./wasm/dots.wasm', import.meta.url)));
  instance = new WebAssembly.Instance(module, {}).exports as unknown as DotsExports;
  return instance;
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

/** The same in WebAssembly SIMD (rows copied in, padded to a multiple of 16 floats). */
export function dots(x: Float32Array, n: number, y: Float32Array, m: number, w: number): Float64Array {
  const k = kernel();
  if (!k || n === 0 || m === 0 || w === 0) return dotsJs(x, n, y, m, w);
  const wp = Math.ceil(w / 16) * 16;
  const bytes = 4 * (n * wp + m * wp + n * m);
  const have = k.memory.buffer.byteLength;
  if (bytes > have) k.memory.grow(Math.ceil((bytes - have) / 65536));
  const heap = new Float32Array(k.memory.buffer);
  const xOff = 0;
  const yOff = n * wp;
  const outOff = yOff + m * wp;
  const place = (src: Float32Array, rows: number, at: number) => {
    if (wp === w) { heap.set(src.subarray(0, rows * w), at); return; }
    for (let r = 0; r < rows; r++) {
      heap.set(src.subarray(r * w, (r + 1) * w), at + r * wp);
      heap.fill(0, at + r * wp + w, at + (r + 1) * wp);
    }
  };
  place(x, n, xOff);
  place(y, m, yOff);
  k.dots(xOff * 4, n, yOff * 4, m, wp, outOff * 4);
  return Float64Array.from(heap.subarray(outOff, outOff + n * m));
}
