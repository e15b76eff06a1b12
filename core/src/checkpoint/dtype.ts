/**
 * Element types of safetensors checkpoints. Comparable types are decoded to float32 by the
 * kernels; the others are listed in the report with a note rather than dropped.
 */
export type DType =
  | 'BF16' | 'F16' | 'F32' | 'F64' | 'F8_E4M3' | 'F8_E5M2'
  | 'I8' | 'U8' | 'I16' | 'U16' | 'I32' | 'U32' | 'I64' | 'U64' | 'BOOL';

const BYTES: Record<DType, number> = {
  BF16: 2, F16: 2, F32: 4, F64: 8, F8_E4M3: 1, F8_E5M2: 1,
  I8: 1, U8: 1, I16: 2, U16: 2, I32: 4, U32: 4, I64: 8, U64: 8, BOOL: 1,
};

/** The floating types the weight kernels decode (the others carry no weights worth comparing). */
export const COMPARABLE_DTYPES: ReadonlySet<DType> = new Set(['BF16', 'F16', 'F32', 'F8_E4M3']);

export function isKnownDType(name: string): name is DType {
  return Object.hasOwn(BYTES, name);
}

export function bytesPerElement(dtype: DType): number {
  return BYTES[dtype];
}

export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}
