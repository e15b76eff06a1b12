/**
 * The permutation null's one hot loop: S = scale · L_A · Z · L_Bᵀ for lower-triangular Cholesky
 * factors L_A (E_A × E_A), L_B (E_B × E_B) and a fresh standard normal Z (E_A × E_B) per draw.
 * In WebAssembly SIMD (wasm/source.ts: blocked float64, ~10× the plain loops); the JavaScript
 * loops stay as the reference the tests compare against and as the fallback where WebAssembly
 * SIMD is missing.
 */
import { ensureMemory, nullInstance, type NullExports } from './null-wasm.ts';

const LOWER_X = 1;
const UPPER_Y = 2;

/** S = scale · L_A·Z·L_Bᵀ in plain JavaScript (the reference: the products as first written). */
export function nullProductJs(la: Float64Array, ea: number, lb: Float64Array, eb: number, z: Float64Array, scale: number): Float64Array {
  // t = L_A · Z (L_A lower triangular), row by row so that Z and t are read in order
  const t = new Float64Array(ea * eb);
  for (let i = 0; i < ea; i++) {
    const ti = i * eb;
    for (let k = 0; k <= i; k++) {
      const l = la[i * ea + k]!;
      if (l === 0) continue;
      const zk = k * eb;
      for (let j = 0; j < eb; j++) t[ti + j] += l * z[zk + j]!;
    }
  }
  // s = t · L_Bᵀ · scale
  const s = new Float64Array(ea * eb);
  for (let i = 0; i < ea; i++) for (let j = 0; j < eb; j++) {
    let acc = 0;
    for (let k = 0; k <= j; k++) acc += t[i * eb + k]! * lb[j * eb + k]!;
    s[i * eb + j] = acc * scale;
  }
  return s;
}

const pad4 = (n: number) => Math.ceil(n / 4) * 4;

/** The products for one pair of factors, drawn many times: the factors are laid out once. */
/**
 * One instance per thread, shared by every NullProducts (a fresh WebAssembly memory per layer
 * would leave the collector many to reclaim): the factors of the last one used stay laid out,
 * and another one lays its own out again before its first product.
 */
let shared: { exports: NullExports; owner: NullProducts | null; heap: Float64Array } | null | undefined;

function sharedInstance(): NonNullable<typeof shared> | null {
  if (shared === undefined) {
    const exports = nullInstance();
    shared = exports ? { exports, owner: null, heap: new Float64Array(exports.memory.buffer) } : null;
  }
  return shared;
}

/** The products for one pair of factors, drawn many times: the factors are laid out once. */
export class NullProducts {
  readonly ea: number;
  readonly eb: number;
  private readonly la: Float64Array;
  private readonly lb: Float64Array;
  // Padded sizes (multiples of 4) and byte offsets of L_A, L_Bᵀ, Z, T = L_A·Z and S in the module's memory.
  private readonly pa: number;
  private readonly pb: number;
  private readonly at = { la: 0, ub: 0, z: 0, t: 0, s: 0, end: 0 };
  private readonly out: Float64Array;

  constructor(la: Float64Array, ea: number, lb: Float64Array, eb: number) {
    this.ea = ea;
    this.eb = eb;
    this.la = la;
    this.lb = lb;
    this.pa = pad4(ea);
    this.pb = pad4(eb);
    this.out = new Float64Array(ea * eb);
    const { pa, pb } = this;
    const sizes = { la: pa * pa, ub: pb * pb, z: pa * pb, t: pa * pb, s: pa * pb };
    let offset = 0;
    for (const key of ['la', 'ub', 'z', 't', 's'] as const) { this.at[key] = offset; offset += sizes[key] * 8; }
    this.at.end = offset;
  }

  /** Lays the factors out in the shared memory: L_A as is, L_B transposed (upper triangular), zero padding, Z zeroed. */
  private place(instance: NonNullable<typeof shared>): Float64Array {
    const { ea, eb, pa, pb, la, lb, at } = this;
    ensureMemory(instance.exports, at.end);
    if (instance.heap.buffer !== instance.exports.memory.buffer) instance.heap = new Float64Array(instance.exports.memory.buffer);
    const heap = instance.heap;
    heap.fill(0, 0, at.t / 8);
    const la0 = at.la / 8, ub0 = at.ub / 8;
    for (let i = 0; i < ea; i++) for (let k = 0; k <= i; k++) heap[la0 + i * pa + k] = la[i * ea + k]!;
    for (let j = 0; j < eb; j++) for (let k = 0; k <= j; k++) heap[ub0 + k * pb + j] = lb[j * eb + k]!;
    instance.owner = this;
    return heap;
  }

  /** S = scale · L_A·Z·L_Bᵀ for Z (E_A × E_B, row-major); the result is overwritten by the next call of any NullProducts on this thread. */
  product(z: Float64Array, scale: number): Float64Array {
    const { ea, eb, pa, pb, at } = this;
    const instance = sharedInstance();
    if (!instance) { this.out.set(nullProductJs(this.la, ea, this.lb, eb, z, scale)); return this.out; }
    const heap = instance.owner === this ? instance.heap : this.place(instance);
    const z0 = at.z / 8;
    if (pb === eb) heap.set(z.subarray(0, ea * eb), z0);
    else for (let i = 0; i < ea; i++) heap.set(z.subarray(i * eb, (i + 1) * eb), z0 + i * pb);
    instance.exports.product(at.la, at.z, at.t, pa, pa, pb, LOWER_X, 1);
    instance.exports.product(at.t, at.ub, at.s, pa, pb, pb, UPPER_Y, scale);
    const s0 = at.s / 8;
    if (pb === eb) return heap.subarray(s0, s0 + ea * eb);
    for (let i = 0; i < ea; i++) this.out.set(heap.subarray(s0 + i * pb, s0 + i * pb + eb), i * eb);
    return this.out;
  }

  /** Whether the products run in WebAssembly SIMD (false: the JavaScript fallback). */
  get simd(): boolean {
    return sharedInstance() !== null;
  }
}

/** Beyond this a Gram product gets an instance of its own (collected after) rather than growing the thread's for good. */
const KEPT_GRAM_BYTES = 32 << 20;
/** Beyond this the JavaScript loop runs (a 32-bit memory). */
const MAX_GRAM_BYTES = 1 << 30;

/**
 * X·Yᵀ for row-major X (n × d) and Y (m × d), float64, in the products' kernel: Yᵀ laid out
 * (d × m, padded), each sum taken over k in ascending order as in gramJs, so the results are the
 * same. Null where WebAssembly SIMD is missing or the matrices are too large for its memory.
 */
export function gramWasm(x: Float64Array, n: number, y: Float64Array, m: number, d: number): Float64Array | null {
  const n4 = pad4(n), m4 = pad4(m);
  const ytAt = n4 * d, outAt = ytAt + d * m4;
  const bytes = 8 * (outAt + n4 * m4);
  if (bytes > MAX_GRAM_BYTES || n === 0 || m === 0) return null;
  let exports: NullExports | null;
  if (bytes <= KEPT_GRAM_BYTES) {
    const instance = sharedInstance();
    if (!instance) return null;
    // The factors laid out there are about to be overwritten.
    instance.owner = null;
    exports = instance.exports;
  } else {
    exports = nullInstance();
  }
  if (!exports) return null;
  ensureMemory(exports, bytes);
  const heap = new Float64Array(exports.memory.buffer);
  heap.set(x.subarray(0, n * d), 0);
  heap.fill(0, n * d, outAt);
  for (let j = 0; j < m; j++) {
    const row = j * d;
    for (let k = 0; k < d; k++) heap[ytAt + k * m4 + j] = y[row + k]!;
  }
  exports.product(0, ytAt * 8, outAt * 8, n4, d, m4, 0, 1);
  const out = new Float64Array(n * m);
  for (let i = 0; i < n; i++) out.set(heap.subarray(outAt + i * m4, outAt + i * m4 + m), i * m);
  if (bytes <= KEPT_GRAM_BYTES) sharedInstance()!.heap = heap;
  return out;
}
