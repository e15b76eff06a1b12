/**
 * A minimal protobuf wire-format reader: enough to walk a message field by field (varint,
 * fixed64, length-delimited, fixed32), skipping fields the caller does not know. Malformed data
 * gives a BadInputError naming the file and the byte offset.
 */
import { BadInputError } from '../../errors.ts';

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LEN = 2;
export const WIRE_FIXED32 = 5;

/** A varint split into its low and high 32 bits (unsigned), so 64-bit values lose nothing. */
export interface Varint64 {
  lo: number;
  hi: number;
}

export class ProtoReader {
  private readonly view: DataView;
  pos: number;
  readonly end: number;

  constructor(readonly bytes: Uint8Array, readonly file: string, start = 0, end = bytes.length) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = start;
    this.end = end;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  fail(reason: string, at = this.pos): never {
    throw new BadInputError(this.file, `malformed protobuf at byte ${at}: ${reason}`);
  }

  /** Reads a varint of up to 10 bytes as low/high 32-bit halves. */
  varint64(): Varint64 {
    const start = this.pos;
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) this.fail('varint runs past the end of the data', start);
      const b = this.bytes[this.pos++]!;
      const bits = b & 0x7f;
      if (i < 4) lo |= bits << (7 * i);
      else if (i === 4) {
        lo |= (bits & 0x0f) << 28;
        hi |= bits >>> 4;
      } else hi |= bits << (7 * i - 32);
      if ((b & 0x80) === 0) return { lo: lo >>> 0, hi: hi >>> 0 };
    }
    this.fail('varint longer than 10 bytes', start);
  }

  /** A varint as an unsigned number; fails when it exceeds 2^53. */
  uint(): number {
    const start = this.pos;
    const { lo, hi } = this.varint64();
    if (hi >= 0x200000) this.fail('varint value too large', start);
    return hi * 0x100000000 + lo;
  }

  /** A varint as int32 (proto int32/enum: negatives are sign-extended to 10 bytes). */
  int32(): number {
    return this.varint64().lo | 0;
  }

  bool(): boolean {
    const { lo, hi } = this.varint64();
    return (lo | hi) !== 0;
  }

  float(): number {
    this.need(4);
    const v = this.view.getFloat32(this.pos, true);
    this.pos += 4;
    return v;
  }

  /** A length-delimited field's bounds, checked against the enclosing message. */
  lengthDelimited(): { start: number; end: number } {
    const at = this.pos;
    const len = this.uint();
    if (len > this.end - this.pos) {
      this.fail(`length ${len} runs past the end of the data (${this.end - this.pos} bytes remain)`, at);
    }
    const start = this.pos;
    this.pos += len;
    return { start, end: this.pos };
  }

  bytesField(): Uint8Array {
    const { start, end } = this.lengthDelimited();
    return this.bytes.slice(start, end);
  }

  string(): string {
    const { start, end } = this.lengthDelimited();
    return utf8.decode(this.bytes.subarray(start, end));
  }

  /** A reader over an embedded message. */
  message(): ProtoReader {
    const { start, end } = this.lengthDelimited();
    return new ProtoReader(this.bytes, this.file, start, end);
  }

  /** Reads a field key: field number and wire type. */
  tag(): { field: number; wire: number } {
    const at = this.pos;
    const key = this.uint();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (field === 0) this.fail('field number 0', at);
    return { field, wire };
  }

  /** Skips a field's value of the given wire type. */
  skip(wire: number): void {
    switch (wire) {
      case WIRE_VARINT: this.varint64(); return;
      case WIRE_FIXED64: this.need(8); this.pos += 8; return;
      case WIRE_LEN: this.lengthDelimited(); return;
      case WIRE_FIXED32: this.need(4); this.pos += 4; return;
      default: this.fail(`unsupported wire type ${wire}`);
    }
  }

  /** Fails unless the field has the expected wire type. */
  expect(field: number, wire: number, expected: number): void {
    if (wire !== expected) this.fail(`field ${field} has wire type ${wire}, expected ${expected}`);
  }

  private need(n: number): void {
    if (n > this.end - this.pos) this.fail(`needs ${n} bytes, only ${this.end - this.pos} remain`);
  }
}

const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });
