/**
 * Test-only helpers for the tokenizer format tests: where the real files are, and small writers
 * (GGUF, SentencePiece ModelProto) that build files the parsers must read back exactly.
 */
import test from 'ava';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** /work/shared/data (beside the repo; CI puts a copy there too). */
export const SHARED_DATA = fileURLToPath(new URL('../../shared/data/', import.meta.url));
export const GGUF_VOCAB_DIR = SHARED_DATA + 'gguf-vocab/';
export const TOKENIZERS_DIR = SHARED_DATA + 'tokenizers/';
export const NODE_MODULES = fileURLToPath(new URL('../node_modules/', import.meta.url));

/**
 * `test` when every path exists, otherwise `test.skip` after saying why (real data is never
 * copied into the repo, so a checkout without it skips these tests).
 */
export function testIfPresent(paths: string[], what: string): typeof test {
  const missing = paths.filter((p) => !existsSync(p));
  if (missing.length === 0) return test;
  console.warn(`skipping tests on ${what}: missing ${missing.join(', ')}`);
  return test.skip as unknown as typeof test;
}

// ---------------------------------------------------------------------------------------------
// Byte writer

export class ByteWriter {
  private chunks: Uint8Array[] = [];
  private length = 0;
  push(bytes: Uint8Array): this {
    this.chunks.push(bytes);
    this.length += bytes.length;
    return this;
  }
  private fixed(size: number, set: (v: DataView) => void): this {
    const b = new Uint8Array(size);
    set(new DataView(b.buffer));
    return this.push(b);
  }
  u8(v: number): this { return this.fixed(1, (d) => d.setUint8(0, v)); }
  i8(v: number): this { return this.fixed(1, (d) => d.setInt8(0, v)); }
  u16(v: number): this { return this.fixed(2, (d) => d.setUint16(0, v, true)); }
  i16(v: number): this { return this.fixed(2, (d) => d.setInt16(0, v, true)); }
  u32(v: number): this { return this.fixed(4, (d) => d.setUint32(0, v, true)); }
  i32(v: number): this { return this.fixed(4, (d) => d.setInt32(0, v, true)); }
  f32(v: number): this { return this.fixed(4, (d) => d.setFloat32(0, v, true)); }
  f64(v: number): this { return this.fixed(8, (d) => d.setFloat64(0, v, true)); }
  u64(v: bigint | number): this { return this.fixed(8, (d) => d.setBigUint64(0, BigInt(v), true)); }
  i64(v: bigint | number): this { return this.fixed(8, (d) => d.setBigInt64(0, BigInt(v), true)); }
  get size(): number { return this.length; }
  bytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const c of this.chunks) { out.set(c, o); o += c.length; }
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// GGUF writer

/** A GGUF value to write, with its type spelled out (the parser must infer nothing). */
export type GgufW =
  | { t: 'uint8' | 'int8' | 'uint16' | 'int16' | 'uint32' | 'int32' | 'float32' | 'float64'; v: number }
  | { t: 'uint64' | 'int64'; v: bigint | number }
  | { t: 'bool'; v: boolean }
  | { t: 'string'; v: string }
  | { t: 'array'; elem: GgufW['t']; items: GgufW[] };

export const GGUF_TYPE_ID: Record<GgufW['t'], number> = {
  uint8: 0, int8: 1, uint16: 2, int16: 3, uint32: 4, int32: 5, float32: 6, bool: 7, string: 8,
  array: 9, uint64: 10, int64: 11, float64: 12,
};

export function writeGgufString(w: ByteWriter, s: string): void {
  const b = Buffer.from(s, 'utf8');
  w.u64(b.length).push(b);
}

function writeGgufValue(w: ByteWriter, v: GgufW): void {
  switch (v.t) {
    case 'uint8': w.u8(v.v); break;
    case 'int8': w.i8(v.v); break;
    case 'uint16': w.u16(v.v); break;
    case 'int16': w.i16(v.v); break;
    case 'uint32': w.u32(v.v); break;
    case 'int32': w.i32(v.v); break;
    case 'float32': w.f32(v.v); break;
    case 'float64': w.f64(v.v); break;
    case 'uint64': w.u64(v.v); break;
    case 'int64': w.i64(v.v); break;
    case 'bool': w.u8(v.v ? 1 : 0); break;
    case 'string': writeGgufString(w, v.v); break;
    case 'array':
      w.u32(GGUF_TYPE_ID[v.elem]).u64(v.items.length);
      for (const item of v.items) writeGgufValue(w, item);
      break;
  }
}

export interface GgufSpec {
  version?: number;
  kv: [string, GgufW][];
  tensors?: { name: string; shape: number[]; type: number; offset: number }[];
  /** Bytes appended after the header (tensor data), already aligned by the writer. */
  dataBytes?: number;
  alignment?: number;
}

export function writeGguf(spec: GgufSpec): Uint8Array {
  const w = new ByteWriter();
  w.push(Buffer.from('GGUF', 'latin1')).u32(spec.version ?? 3);
  const tensors = spec.tensors ?? [];
  w.u64(tensors.length).u64(spec.kv.length);
  for (const [key, value] of spec.kv) {
    writeGgufString(w, key);
    w.u32(GGUF_TYPE_ID[value.t]);
    writeGgufValue(w, value);
  }
  for (const t of tensors) {
    writeGgufString(w, t.name);
    w.u32(t.shape.length);
    for (const d of t.shape) w.u64(d);
    w.u32(t.type).u64(t.offset);
  }
  if (spec.dataBytes) {
    const alignment = spec.alignment ?? 32;
    const pad = (alignment - (w.size % alignment)) % alignment;
    w.push(new Uint8Array(pad + spec.dataBytes));
  }
  return w.bytes();
}

/** Array helpers for writing. */
export const garr = (elem: GgufW['t'], items: GgufW[]): GgufW => ({ t: 'array', elem, items });
export const gstrs = (items: string[]): GgufW => garr('string', items.map((v) => ({ t: 'string', v })));

// ---------------------------------------------------------------------------------------------
// Protobuf / SentencePiece ModelProto writer

export function varint(v: bigint | number): number[] {
  // Negative int32 values are written as 10-byte two's complement, as protobuf does.
  let x = BigInt.asUintN(64, BigInt(v));
  const out: number[] = [];
  do {
    let b = Number(x & 0x7fn);
    x >>= 7n;
    if (x !== 0n) b |= 0x80;
    out.push(b);
  } while (x !== 0n);
  return out;
}

export class ProtoWriter {
  private readonly out: number[] = [];
  tag(field: number, wire: number): this { this.out.push(...varint(field * 8 + wire)); return this; }
  varintField(field: number, v: bigint | number | boolean): this {
    this.tag(field, 0);
    this.out.push(...varint(typeof v === 'boolean' ? (v ? 1 : 0) : v));
    return this;
  }
  floatField(field: number, v: number): this {
    this.tag(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.out.push(...b);
    return this;
  }
  fixed64Field(field: number, v: bigint): this {
    this.tag(field, 1);
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, v, true);
    this.out.push(...b);
    return this;
  }
  bytesField(field: number, bytes: Uint8Array): this {
    this.tag(field, 2);
    this.out.push(...varint(bytes.length));
    for (const b of bytes) this.out.push(b);
    return this;
  }
  stringField(field: number, s: string): this { return this.bytesField(field, Buffer.from(s, 'utf8')); }
  messageField(field: number, m: ProtoWriter): this { return this.bytesField(field, m.bytes()); }
  raw(bytes: number[]): this { this.out.push(...bytes); return this; }
  bytes(): Uint8Array { return Uint8Array.from(this.out); }
}

/** SentencePiece piece types by name, as numbered in sentencepiece_model.proto (and llama.cpp's token types). */
export const SPM_TYPE_ID = { normal: 1, unknown: 2, control: 3, user: 4, unused: 5, byte: 6 } as const;

export interface SpmSpec {
  pieces: { piece: string; score: number; type: number }[];
  trainer?: (w: ProtoWriter) => void;
  normalizer?: (w: ProtoWriter) => void;
  /** Extra top-level fields written after the pieces (e.g. unknown ones the parser must skip). */
  extra?: (w: ProtoWriter) => void;
}

/** Encodes a SentencePiece ModelProto. */
export function writeSentencePieceModel(spec: SpmSpec): Uint8Array {
  const w = new ProtoWriter();
  for (const p of spec.pieces) {
    const m = new ProtoWriter().stringField(1, p.piece).floatField(2, p.score);
    if (p.type !== 1) m.varintField(3, p.type); // NORMAL is the default and left out, as protobuf does
    w.messageField(1, m);
  }
  if (spec.trainer) { const t = new ProtoWriter(); spec.trainer(t); w.messageField(2, t); }
  if (spec.normalizer) { const n = new ProtoWriter(); spec.normalizer(n); w.messageField(3, n); }
  spec.extra?.(w);
  return w.bytes();
}
