/**
 * Decoding of the dtypes the SIMD kernel does not read natively (F16, F8_E4M3) into float32,
 * and the layout under which a raw window is handed to a kernel.
 */
import type { DType } from '../checkpoint/dtype.ts';
import type { Layout } from './kernel.ts';
import { BadInputError } from '../errors.ts';

/** Block-wise dequantization scales of an FP8 weight (DeepSeek-V3 `weight_scale_inv`). */
export interface BlockScales {
  /** Scale per block, row-major over [ceil(rows / blockRows), ceil(cols / blockCols)]. */
  values: Float32Array;
  blockRows: number;
  blockCols: number;
  /** Columns of the weight (its last dimension). */
  cols: number;
}

let f16Table: Float32Array | null = null;
let e4m3Table: Float32Array | null = null;

/** All 65536 half-precision values, built once (256 KiB): a table beats bit twiddling in JS. */
function halfTable(): Float32Array {
  if (f16Table) return f16Table;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) t[h] = sign * frac * 2 ** -24;
    else if (exp === 31) t[h] = frac ? NaN : sign * Infinity;
    else t[h] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  return (f16Table = t);
}

/** OCP FP8 E4M3 (the "fn" variant: no infinities, S.1111.111 is NaN, max 448). */
function e4m3(): Float32Array {
  if (e4m3Table) return e4m3Table;
  const t = new Float32Array(256);
  for (let v = 0; v < 256; v++) {
    const sign = v & 0x80 ? -1 : 1;
    const exp = (v >> 3) & 0xf;
    const frac = v & 0x7;
    if (exp === 15 && frac === 7) t[v] = NaN;
    else if (exp === 0) t[v] = sign * frac * 2 ** -9;
    else t[v] = sign * (1 + frac / 8) * 2 ** (exp - 7);
  }
  return (e4m3Table = t);
}

export function decodeF16(raw: Uint8Array, out: Float32Array, count: number): void {
  const table = halfTable();
  const halves = new Uint16Array(raw.buffer, raw.byteOffset, count);
  for (let i = 0; i < count; i++) out[i] = table[halves[i]!]!;
}

/**
 * FP8 E4M3 to float32, times its block scale when given. `firstElement` is the index within the
 * tensor of raw[0], so that windows find their rows and columns.
 */
export function decodeE4M3(raw: Uint8Array, out: Float32Array, count: number, firstElement: number, scales?: BlockScales): void {
  const table = e4m3();
  if (!scales) {
    for (let i = 0; i < count; i++) out[i] = table[raw[i]!]!;
    return;
  }
  const { values, blockRows, blockCols, cols } = scales;
  const blocksPerRow = Math.ceil(cols / blockCols);
  let row = Math.floor(firstElement / cols);
  let col = firstElement - row * cols;
  for (let i = 0; i < count; ) {
    const scaleRow = Math.floor(row / blockRows) * blocksPerRow;
    const rowEnd = Math.min(count, i + (cols - col));
    while (i < rowEnd) {
      const scale = values[scaleRow + Math.floor(col / blockCols)]!;
      const runEnd = Math.min(rowEnd, i + (blockCols - (col % blockCols)));
      for (; i < runEnd; i++, col++) out[i] = table[raw[i]!]! * scale;
    }
    row++;
    col = 0;
  }
}

/**
 * Puts a window of raw bytes in the form a kernel reads: BF16 and F32 as they are, the rest
 * decoded into `scratch`.
 */
export function prepareOperand(
  dtype: DType, raw: Uint8Array, scratch: Float32Array, count: number, firstElement: number, scales?: BlockScales,
): { layout: Layout; data: Uint8Array | Float32Array } {
  switch (dtype) {
    case 'BF16': return { layout: 'bf16', data: raw };
    case 'F32': return { layout: 'f32', data: raw };
    case 'F16': decodeF16(raw, scratch, count); return { layout: 'f32', data: scratch };
    case 'F8_E4M3': decodeE4M3(raw, scratch, count, firstElement, scales); return { layout: 'f32', data: scratch };
    default: throw new Error(`prepareOperand: ${dtype} is not a comparable dtype`);
  }
}

/** Any comparable dtype to float32 (for tools that need values, such as `lineage synth`). */
export function toFloat32(dtype: DType, raw: Uint8Array, out: Float32Array, count: number, firstElement = 0, scales?: BlockScales): void {
  switch (dtype) {
    case 'BF16': {
      const bits = new Uint32Array(out.buffer, out.byteOffset, count);
      const halves = new Uint16Array(raw.buffer, raw.byteOffset, count);
      for (let i = 0; i < count; i++) bits[i] = halves[i]! << 16;
      return;
    }
    case 'F32': out.set(new Float32Array(raw.buffer, raw.byteOffset, count)); return;
    case 'F16': decodeF16(raw, out, count); return;
    case 'F8_E4M3': decodeE4M3(raw, out, count, firstElement, scales); return;
    default: throw new Error(`toFloat32: ${dtype} is not a comparable dtype`);
  }
}

/**
 * FP8 block scales (DeepSeek-V3's `weight_scale_inv`) from their bytes: F32 or BF16 values, one per
 * block of a power-of-two size (128 × 128 there; the last block of a dimension may be partial).
 */
export function blockScalesFrom(
  bytes: Uint8Array, scales: { file: string; dtype: string; shape: number[] }, weight: { shape: number[] },
): BlockScales {
  const values = new Float32Array(bytes.byteLength / (scales.dtype === 'F32' ? 4 : 2));
  if (scales.dtype === 'F32') values.set(new Float32Array(bytes.buffer, bytes.byteOffset, values.length));
  else {
    // BF16 scales: widen by placing the 16 bits in the high half of each float.
    const bits = new Uint32Array(values.buffer);
    const halves = new Uint16Array(bytes.buffer, bytes.byteOffset, values.length);
    for (let i = 0; i < halves.length; i++) bits[i] = halves[i]! << 16;
  }
  const rows = weight.shape.length >= 2 ? weight.shape.slice(0, -1).reduce((x, y) => x * y, 1) : 1;
  const cols = weight.shape.at(-1) ?? 1;
  const [scaleRows, scaleCols] = scales.shape.length === 2 ? scales.shape as [number, number] : [1, scales.shape[0] ?? 1];
  const blockRows = nextPowerOfTwo(Math.ceil(rows / scaleRows));
  const blockCols = nextPowerOfTwo(Math.ceil(cols / scaleCols));
  if (Math.ceil(rows / blockRows) !== scaleRows || Math.ceil(cols / blockCols) !== scaleCols) {
    throw new BadInputError(scales.file, `scale tensor ${JSON.stringify(scales.shape)} does not tile a weight of ${rows}×${cols} in power-of-two blocks`);
  }
  return { values, blockRows, blockCols, cols };
}

function nextPowerOfTwo(x: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(1, x)));
}
