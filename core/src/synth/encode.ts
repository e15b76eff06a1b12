/** float32 to the stored dtypes, rounding to nearest even as PyTorch's casts do. */
import type { DType } from '../checkpoint/dtype.ts';

export function encodeFloats(dtype: DType, values: Float32Array, count: number, out: Uint8Array): void {
  switch (dtype) {
    case 'F32':
      out.set(new Uint8Array(values.buffer, values.byteOffset, count * 4));
      return;
    case 'BF16': {
      const bits = new Uint32Array(values.buffer, values.byteOffset, count);
      const halves = new Uint16Array(out.buffer, out.byteOffset, count);
      for (let i = 0; i < count; i++) {
        const b = bits[i]!;
        // A NaN keeps a mantissa bit (rounding could carry it into an infinity).
        halves[i] = (b & 0x7fffffff) > 0x7f800000 ? (b >>> 16) | 0x40 : (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
      }
      return;
    }
    case 'F16': {
      const halves = new Uint16Array(out.buffer, out.byteOffset, count);
      for (let i = 0; i < count; i++) halves[i] = toHalf(values[i]!);
      return;
    }
    default:
      throw new Error(`encodeFloats: cannot write ${dtype}`);
  }
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE half from a float32 value, round to nearest even (subnormals and overflow included). */
export function toHalf(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (half + (rest > mid || (rest === mid && (half & 1)) ? 1 : 0));
  }
  const half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  return sign | (half + (rest > 0x1000 || (rest === 0x1000 && (half & 1)) ? 1 : 0));
}
