/**
 * Writes safetensors files tensor by tensor, window by window, so a multi-GB synthetic
 * checkpoint never sits in memory. Shards are cut at a size limit and listed in
 * model.safetensors.index.json, as Hugging Face does.
 */
import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { bytesPerElement, elementCount, type DType } from './dtype.ts';

export interface TensorSpec {
  name: string;
  dtype: DType;
  shape: number[];
}

/** Fills `out` (a window of the tensor starting at element `first`) with raw little-endian bytes. */
export type TensorFiller = (spec: TensorSpec, first: number, count: number, out: Uint8Array) => void;

export const WRITE_WINDOW_ELEMENTS = 1 << 20;

function headerBytes(specs: TensorSpec[]): Buffer {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const s of specs) {
    const size = elementCount(s.shape) * bytesPerElement(s.dtype);
    header[s.name] = { dtype: s.dtype, shape: s.shape, data_offsets: [offset, offset + size] };
    offset += size;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8); // data starts 8-byte aligned
  const out = Buffer.alloc(8 + Buffer.byteLength(json));
  out.writeBigUInt64LE(BigInt(Buffer.byteLength(json)), 0);
  out.write(json, 8);
  return out;
}

export function writeSafetensors(file: string, specs: TensorSpec[], fill: TensorFiller): void {
  const fd = openSync(file, 'w');
  try {
    let position = 0;
    const header = headerBytes(specs);
    writeSync(fd, header, 0, header.length, position);
    position += header.length;
    const buffer = new Uint8Array(WRITE_WINDOW_ELEMENTS * 8);
    for (const spec of specs) {
      const n = elementCount(spec.shape);
      const size = bytesPerElement(spec.dtype);
      for (let first = 0; first < n; first += WRITE_WINDOW_ELEMENTS) {
        const count = Math.min(WRITE_WINDOW_ELEMENTS, n - first);
        const view = buffer.subarray(0, count * size);
        fill(spec, first, count, view);
        writeSync(fd, view, 0, view.length, position);
        position += view.length;
      }
    }
  } finally {
    closeSync(fd);
  }
}

/** Writes one file, or shards of at most `shardBytes` plus the index. Returns the files written. */
export function writeCheckpoint(folder: string, specs: TensorSpec[], fill: TensorFiller, shardBytes = Infinity): string[] {
  const shards: TensorSpec[][] = [[]];
  let size = 0;
  for (const s of specs) {
    const bytes = elementCount(s.shape) * bytesPerElement(s.dtype);
    if (size > 0 && size + bytes > shardBytes) {
      shards.push([]);
      size = 0;
    }
    shards.at(-1)!.push(s);
    size += bytes;
  }
  if (shards.length === 1) {
    const file = join(folder, 'model.safetensors');
    writeSafetensors(file, specs, fill);
    return [file];
  }
  const names = shards.map((_, i) => `model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`);
  const weightMap: Record<string, string> = {};
  let total = 0;
  shards.forEach((group, i) => {
    writeSafetensors(join(folder, names[i]!), group, fill);
    for (const s of group) {
      weightMap[s.name] = names[i]!;
      total += elementCount(s.shape) * bytesPerElement(s.dtype);
    }
  });
  writeFileSync(join(folder, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2));
  return names.map((n) => join(folder, n));
}
