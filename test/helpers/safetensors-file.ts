/** Writes small safetensors files with exact, chosen bytes (including broken ones) for tests. */
import { writeFileSync } from 'node:fs';

export interface RawTensor {
  name: string;
  dtype: string;
  shape: number[];
  data: Uint8Array;
  /** Override data_offsets (to build lying headers). */
  offsets?: [number, number];
}

export function safetensorsBytes(tensors: RawTensor[], options: { headerLengthOverride?: bigint; rawHeader?: string } = {}): Buffer {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: t.offsets ?? [offset, offset + t.data.length] };
    offset += t.data.length;
  }
  const json = Buffer.from(options.rawHeader ?? JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(options.headerLengthOverride ?? BigInt(json.length));
  return Buffer.concat([length, json, ...tensors.map((t) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength))]);
}

export function writeSafetensorsFile(file: string, tensors: RawTensor[], options: Parameters<typeof safetensorsBytes>[1] = {}): void {
  writeFileSync(file, safetensorsBytes(tensors, options));
}

export function f32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

export function bf16Bytes(values: number[]): Uint8Array {
  const f = Float32Array.from(values);
  const bits = new Uint32Array(f.buffer);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = (bits[i]! + 0x7fff + ((bits[i]! >> 16) & 1)) >>> 16;
  return new Uint8Array(out.buffer);
}
