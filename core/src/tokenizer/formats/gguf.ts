/**
 * GGUF (llama.cpp) header parser: versions 2 and 3, little-endian, every metadata value type.
 *
 * Only the header is read (magic, metadata, tensor infos); tensor data is never touched, so a
 * prefix of a huge checkpoint that holds the whole header parses as well as the full file
 * (see `readGgufFile`, which reads just enough of a file on disk).
 *
 * Layout (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md):
 *   "GGUF" | u32 version | u64 tensor_count | u64 kv_count | kv[kv_count] | tensor_info[tensor_count]
 *   | padding to general.alignment (default 32) | tensor data
 * Strings are u64 length + UTF-8 bytes; arrays are u32 element type + u64 count + elements.
 */
import { open } from 'node:fs/promises';
import { BadInputError } from '../../errors.ts';
import { gunzipIfNeeded, isGzip } from './bytes.ts';

/** GGUF metadata value types, by their numeric id in the file. */
export const GGUF_VALUE_TYPES = [
  'uint8', 'int8', 'uint16', 'int16', 'uint32', 'int32', 'float32', 'bool', 'string', 'array',
  'uint64', 'int64', 'float64',
] as const;
export type GgufValueTypeName = (typeof GGUF_VALUE_TYPES)[number];

/**
 * A metadata value. Scalars: integers up to 32 bits and floats are numbers; 64-bit integers are
 * numbers when they are safe integers and bigints otherwise. Arrays of numbers are typed arrays
 * of the element type (64-bit ones as BigInt64Array/BigUint64Array), arrays of strings are
 * string[], of bools boolean[], and arrays of arrays are GgufValue[] holding those.
 */
export type GgufArray =
  | Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array
  | Float32Array | Float64Array | BigUint64Array | BigInt64Array
  | boolean[] | string[] | GgufValue[];
export type GgufValue = number | bigint | boolean | string | GgufArray;

export interface GgufTensorInfo {
  name: string;
  /** Dimensions as stored (ggml order: innermost first). */
  shape: number[];
  /** ggml_type id. */
  type: number;
  /** ggml type name (F32, BF16, Q4_K, ...), null for an id this reader does not know. */
  typeName: string | null;
  /** Offset of the tensor's data relative to `dataOffset`. */
  offset: number;
}

export interface GgufFile {
  /** The name errors are reported under. */
  file: string;
  version: 2 | 3;
  metadata: Map<string, GgufValue>;
  /** Each key's declared type: 'uint32', 'string', 'array<string>', 'array<array>', ... */
  metadataTypes: Map<string, string>;
  tensors: GgufTensorInfo[];
  /** general.alignment, or the default 32. */
  alignment: number;
  /** Absolute byte offset where tensor data starts (end of header, aligned). */
  dataOffset: number;
}

/** ggml_type names by id; ids that were removed from ggml (4, 5, 31-33, 36-38) are absent. */
const GGML_TYPE_NAMES: Record<number, string> = {
  0: 'F32', 1: 'F16', 2: 'Q4_0', 3: 'Q4_1', 6: 'Q5_0', 7: 'Q5_1', 8: 'Q8_0', 9: 'Q8_1',
  10: 'Q2_K', 11: 'Q3_K', 12: 'Q4_K', 13: 'Q5_K', 14: 'Q6_K', 15: 'Q8_K', 16: 'IQ2_XXS',
  17: 'IQ2_XS', 18: 'IQ3_XXS', 19: 'IQ1_S', 20: 'IQ4_NL', 21: 'IQ3_S', 22: 'IQ2_S', 23: 'IQ4_XS',
  24: 'I8', 25: 'I16', 26: 'I32', 27: 'I64', 28: 'F64', 29: 'IQ1_M', 30: 'BF16', 34: 'TQ1_0',
  35: 'TQ2_0', 39: 'MXFP4',
};

/** ggml's GGML_MAX_DIMS: llama.cpp rejects tensors with more dimensions. */
const MAX_DIMS = 4;
const DEFAULT_ALIGNMENT = 32;
const MAGIC = 0x46554747; // "GGUF" read as a little-endian u32

/**
 * The header ends past the bytes given. A BadInputError like any other, but distinguishable so
 * `readGgufFile` can read more of the file and try again.
 */
export class GgufTruncatedError extends BadInputError {}

const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

/** Byte size of each fixed-size value type; strings and arrays have a minimum instead. */
const FIXED_SIZE: Partial<Record<number, number>> = {
  0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8,
};
const STRING = 8;
const ARRAY = 9;

class Reader {
  private readonly view: DataView;
  pos = 0;
  constructor(readonly bytes: Uint8Array, readonly file: string) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  get remaining(): number {
    return this.bytes.length - this.pos;
  }
  need(n: number, what: string): void {
    if (n > this.remaining) {
      throw new GgufTruncatedError(
        this.file,
        `truncated GGUF: ${what} at byte ${this.pos} needs ${n} bytes, only ${this.remaining} remain`,
      );
    }
  }
  u8(): number { this.need(1, 'uint8'); return this.view.getUint8(this.pos++); }
  u32(what = 'uint32'): number {
    this.need(4, what);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  u64(what = 'uint64'): bigint {
    this.need(8, what);
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    return v;
  }
  /** A u64 count or size that must fit a JS number (anything larger cannot be in a real file). */
  u64Number(what: string): number {
    const start = this.pos;
    const v = this.u64(what);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new BadInputError(this.file, `${what} at byte ${start} is implausibly large (${v})`);
    }
    return Number(v);
  }
  string(what: string): string {
    const start = this.pos;
    const len = this.u64Number(`${what} length`);
    if (len > this.remaining) {
      throw new GgufTruncatedError(
        this.file,
        `truncated GGUF: ${what} at byte ${start} has length ${len}, past the end of the data (${this.remaining} bytes remain)`,
      );
    }
    const s = utf8.decode(this.bytes.subarray(this.pos, this.pos + len));
    this.pos += len;
    return s;
  }
}

function bad(r: Reader, reason: string): never {
  throw new BadInputError(r.file, reason);
}

function typeNameOf(r: Reader, type: number, where: number): GgufValueTypeName {
  const name = GGUF_VALUE_TYPES[type];
  if (name === undefined) bad(r, `unknown GGUF value type ${type} at byte ${where}`);
  return name;
}

function safeInt(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function readScalar(r: Reader, type: number): number | bigint | boolean {
  const size = FIXED_SIZE[type]!;
  r.need(size, GGUF_VALUE_TYPES[type]!);
  const view = new DataView(r.bytes.buffer, r.bytes.byteOffset + r.pos, size);
  const start = r.pos;
  r.pos += size;
  switch (type) {
    case 0: return view.getUint8(0);
    case 1: return view.getInt8(0);
    case 2: return view.getUint16(0, true);
    case 3: return view.getInt16(0, true);
    case 4: return view.getUint32(0, true);
    case 5: return view.getInt32(0, true);
    case 6: return view.getFloat32(0, true);
    case 7: {
      const b = view.getUint8(0);
      if (b > 1) bad(r, `bool at byte ${start} has value ${b} (expected 0 or 1)`);
      return b === 1;
    }
    case 10: return safeInt(view.getBigUint64(0, true));
    case 11: return safeInt(view.getBigInt64(0, true));
    case 12: return view.getFloat64(0, true);
    default: throw new Error(`readScalar: not a scalar type ${type}`);
  }
}

/** Copies `count` little-endian elements into a fresh typed array (the source may be unaligned). */
function readNumericArray(r: Reader, type: number, count: number): GgufArray {
  const size = FIXED_SIZE[type]!;
  const view = new DataView(r.bytes.buffer, r.bytes.byteOffset + r.pos, count * size);
  r.pos += count * size;
  switch (type) {
    case 0: return r.bytes.slice(r.pos - count, r.pos);
    case 1: return new Int8Array(r.bytes.slice(r.pos - count, r.pos).buffer);
    case 2: { const a = new Uint16Array(count); for (let i = 0; i < count; i++) a[i] = view.getUint16(i * 2, true); return a; }
    case 3: { const a = new Int16Array(count); for (let i = 0; i < count; i++) a[i] = view.getInt16(i * 2, true); return a; }
    case 4: { const a = new Uint32Array(count); for (let i = 0; i < count; i++) a[i] = view.getUint32(i * 4, true); return a; }
    case 5: { const a = new Int32Array(count); for (let i = 0; i < count; i++) a[i] = view.getInt32(i * 4, true); return a; }
    case 6: { const a = new Float32Array(count); for (let i = 0; i < count; i++) a[i] = view.getFloat32(i * 4, true); return a; }
    case 10: { const a = new BigUint64Array(count); for (let i = 0; i < count; i++) a[i] = view.getBigUint64(i * 8, true); return a; }
    case 11: { const a = new BigInt64Array(count); for (let i = 0; i < count; i++) a[i] = view.getBigInt64(i * 8, true); return a; }
    case 12: { const a = new Float64Array(count); for (let i = 0; i < count; i++) a[i] = view.getFloat64(i * 8, true); return a; }
    default: throw new Error(`readNumericArray: not a numeric type ${type}`);
  }
}

/** Reads an array body (element type, count, elements); returns the value and its type description. */
function readArray(r: Reader, depth: number): { value: GgufArray; typeDesc: string } {
  const typeAt = r.pos;
  const elemType = r.u32('array element type');
  const elemName = typeNameOf(r, elemType, typeAt);
  const countAt = r.pos;
  const count = r.u64Number('array length');
  // Every element takes at least this many bytes, so a count the data cannot hold is caught
  // before anything is allocated for it.
  const minElem = FIXED_SIZE[elemType] ?? (elemType === STRING ? 8 : 12);
  if (count * minElem > r.remaining) {
    throw new GgufTruncatedError(
      r.file,
      `truncated GGUF: array of ${count} ${elemName} at byte ${countAt} runs past the end of the data (${r.remaining} bytes remain)`,
    );
  }
  const typeDesc = `array<${elemName}>`;
  if (elemType === STRING) {
    const out: string[] = new Array(count);
    for (let i = 0; i < count; i++) out[i] = r.string('string');
    return { value: out, typeDesc };
  }
  if (elemType === ARRAY) {
    // Recursion depth is bounded by the data itself (12 bytes per level), but a hostile file
    // could still nest deep enough to overflow the stack; real files nest at most twice.
    if (depth >= 64) bad(r, `arrays nested more than 64 deep at byte ${typeAt}`);
    const out: GgufValue[] = new Array(count);
    for (let i = 0; i < count; i++) out[i] = readArray(r, depth + 1).value;
    return { value: out, typeDesc };
  }
  if (elemType === 7) {
    const out: boolean[] = new Array(count);
    for (let i = 0; i < count; i++) out[i] = readScalar(r, 7) as boolean;
    return { value: out, typeDesc };
  }
  return { value: readNumericArray(r, elemType, count), typeDesc };
}

function readValue(r: Reader, type: number): { value: GgufValue; typeDesc: string } {
  if (type === STRING) return { value: r.string('string value'), typeDesc: 'string' };
  if (type === ARRAY) return readArray(r, 0);
  return { value: readScalar(r, type), typeDesc: GGUF_VALUE_TYPES[type]! };
}

/**
 * Parses a GGUF header (gzip-compressed input is decompressed first). Throws BadInputError
 * (GgufTruncatedError when the header runs past the end) on anything malformed.
 */
export function parseGguf(input: Uint8Array, file: string): GgufFile {
  const bytes = gunzipIfNeeded(input, file);
  const r = new Reader(bytes, file);
  if (bytes.length < 4) {
    throw new GgufTruncatedError(file, `truncated GGUF: only ${bytes.length} bytes, not even the magic`);
  }
  const magic = r.u32('magic');
  if (magic !== MAGIC) {
    const shown = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
    bad(r, `not a GGUF file: magic is ${shown}, expected 47 47 55 46 ("GGUF")`);
  }
  const version = r.u32('version');
  if (version === 1) bad(r, 'GGUF version 1 is not supported (only versions 2 and 3)');
  if (version !== 2 && version !== 3) {
    // A big-endian v2/v3 file stores the version byte-swapped.
    if (version === 0x02000000 || version === 0x03000000) bad(r, 'big-endian GGUF is not supported');
    bad(r, `unknown GGUF version ${version} (only versions 2 and 3 are supported)`);
  }
  const tensorCount = r.u64Number('tensor count');
  const kvCount = r.u64Number('metadata count');
  // Minimal sizes: a key/value pair is at least 8 (key length) + 4 (type) + 1 bytes, a tensor
  // info 8 (name length) + 4 (dims) + 4 (type) + 8 (offset) bytes.
  if (kvCount * 13 + tensorCount * 24 > r.remaining) {
    throw new GgufTruncatedError(
      file,
      `truncated GGUF: header claims ${kvCount} metadata entries and ${tensorCount} tensors, more than the ${r.remaining} remaining bytes can hold`,
    );
  }

  const metadata = new Map<string, GgufValue>();
  const metadataTypes = new Map<string, string>();
  for (let i = 0; i < kvCount; i++) {
    const keyAt = r.pos;
    const key = r.string(`metadata key #${i}`);
    if (metadata.has(key)) bad(r, `duplicate metadata key "${key}" at byte ${keyAt}`);
    const typeAt = r.pos;
    const type = r.u32(`type of "${key}"`);
    typeNameOf(r, type, typeAt);
    const { value, typeDesc } = readValue(r, type);
    metadata.set(key, value);
    metadataTypes.set(key, typeDesc);
  }

  let alignment = DEFAULT_ALIGNMENT;
  const declared = metadata.get('general.alignment');
  if (declared !== undefined) {
    if (typeof declared !== 'number' || !Number.isInteger(declared) || declared <= 0 || (declared & (declared - 1)) !== 0) {
      bad(r, `general.alignment must be a positive power of two, got ${String(declared)}`);
    }
    alignment = declared;
  }

  const tensors: GgufTensorInfo[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    const nameAt = r.pos;
    const name = r.string(`tensor name #${i}`);
    if (seen.has(name)) bad(r, `duplicate tensor name "${name}" at byte ${nameAt}`);
    seen.add(name);
    const nDims = r.u32(`dimension count of tensor "${name}"`);
    if (nDims > MAX_DIMS) bad(r, `tensor "${name}" has ${nDims} dimensions (at most ${MAX_DIMS})`);
    const shape: number[] = [];
    for (let d = 0; d < nDims; d++) shape.push(r.u64Number(`dimension ${d} of tensor "${name}"`));
    const type = r.u32(`type of tensor "${name}"`);
    const offset = r.u64Number(`data offset of tensor "${name}"`);
    if (offset % alignment !== 0) {
      bad(r, `tensor "${name}" has data offset ${offset}, not a multiple of the alignment ${alignment}`);
    }
    tensors.push({ name, shape, type, typeName: GGML_TYPE_NAMES[type] ?? null, offset });
  }
  const dataOffset = Math.ceil(r.pos / alignment) * alignment;
  return { file, version, metadata, metadataTypes, tensors, alignment, dataOffset };
}

/**
 * Reads and parses the GGUF header of a file on disk. Plain files are read a growing prefix at
 * a time (8 MiB, then doubling) until the header fits, so a multi-gigabyte checkpoint costs only
 * its header; gzip files are read and decompressed whole.
 */
export async function readGgufFile(path: string, name: string = path): Promise<GgufFile> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    throw new BadInputError(name, `cannot open: ${(err as Error).message}`, { cause: err });
  }
  try {
    const { size } = await handle.stat();
    const head = new Uint8Array(Math.min(2, size));
    await handle.read(head, 0, head.length, 0);
    let chunk = isGzip(head) ? size : Math.min(size, 8 << 20);
    for (;;) {
      const bytes = new Uint8Array(chunk);
      const { bytesRead } = await handle.read(bytes, 0, chunk, 0);
      try {
        return parseGguf(bytes.subarray(0, bytesRead), name);
      } catch (err) {
        if (!(err instanceof GgufTruncatedError) || chunk >= size) throw err;
        chunk = Math.min(size, chunk * 2);
      }
    }
  } catch (err) {
    if (err instanceof BadInputError) throw err;
    throw new BadInputError(name, `cannot read: ${(err as Error).message}`, { cause: err });
  } finally {
    await handle.close();
  }
}

/** The tokenizer stored in a GGUF file's tokenizer.* metadata. */
export interface GgufVocab {
  /** tokenizer.ggml.model: 'llama' (SentencePiece), 'gpt2' (byte-level BPE), 'bert', 't5', 'rwkv', ... */
  model: string;
  /** tokenizer.ggml.pre: the pre-tokenizer llama.cpp applies ('default', 'llama3', 'deepseek-coder', ...). */
  pre?: string;
  tokens: string[];
  scores?: Float32Array;
  /** llama.cpp token types: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte. */
  tokenTypes?: Int32Array;
  /** BPE merges as stored ("a b"), in priority order. */
  merges?: string[];
  bosId?: number;
  eosId?: number;
  unkId?: number;
  padId?: number;
  addBos?: boolean;
  addEos?: boolean;
  addSpacePrefix?: boolean;
  /** Every other tokenizer.* key (other special ids, chat template, ...), as stored. */
  other: Map<string, GgufValue>;
  /** Problems llama.cpp would also tolerate (a special id out of range), one line each. */
  warnings: string[];
}

const PREFIX = 'tokenizer.ggml.';
const CONSUMED = new Set([
  'model', 'pre', 'tokens', 'scores', 'token_type', 'merges', 'bos_token_id', 'eos_token_id',
  'unknown_token_id', 'padding_token_id', 'add_bos_token', 'add_eos_token', 'add_space_prefix',
].map((k) => PREFIX + k));

function isNumericArray(v: GgufValue | undefined): v is Exclude<GgufArray, boolean[] | string[] | GgufValue[] | BigUint64Array | BigInt64Array> {
  return ArrayBuffer.isView(v) && !(v instanceof BigUint64Array) && !(v instanceof BigInt64Array);
}

/**
 * Extracts the tokenizer from a parsed GGUF. Throws BadInputError when the file has no
 * tokenizer or its tokenizer keys have the wrong type or length.
 */
export function readGgufVocab(gguf: GgufFile): GgufVocab {
  const { file, metadata, metadataTypes } = gguf;
  const fail = (key: string, what: string): never => {
    throw new BadInputError(file, `${key} ${what} (found ${metadataTypes.get(key) ?? 'nothing'})`);
  };
  const str = (key: string): string | undefined => {
    const v = metadata.get(key);
    if (v === undefined) return undefined;
    if (typeof v !== 'string') fail(key, 'must be a string');
    return v as string;
  };
  const bool = (key: string): boolean | undefined => {
    const v = metadata.get(key);
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') fail(key, 'must be a bool');
    return v as boolean;
  };

  const model = str(PREFIX + 'model');
  if (model === undefined) throw new BadInputError(file, 'has no tokenizer (tokenizer.ggml.model is missing)');
  const rawTokens = metadata.get(PREFIX + 'tokens');
  if (!Array.isArray(rawTokens) || rawTokens.some((t) => typeof t !== 'string')) {
    fail(PREFIX + 'tokens', 'must be an array of strings');
  }
  const tokens = rawTokens as string[];
  const n = tokens.length;
  const vocab: GgufVocab = { model, tokens, other: new Map(), warnings: [] };

  const pre = str(PREFIX + 'pre');
  if (pre !== undefined) vocab.pre = pre;

  const scores = metadata.get(PREFIX + 'scores');
  if (scores !== undefined) {
    if (!isNumericArray(scores)) fail(PREFIX + 'scores', 'must be an array of numbers');
    const s = scores as ArrayLike<number>;
    if (s.length !== n) fail(PREFIX + 'scores', `has ${s.length} entries for ${n} tokens`);
    vocab.scores = s instanceof Float32Array ? s : Float32Array.from(s);
  }
  const types = metadata.get(PREFIX + 'token_type');
  if (types !== undefined) {
    if (!isNumericArray(types) || types instanceof Float32Array || types instanceof Float64Array) {
      fail(PREFIX + 'token_type', 'must be an array of integers');
    }
    const t = types as ArrayLike<number>;
    if (t.length !== n) fail(PREFIX + 'token_type', `has ${t.length} entries for ${n} tokens`);
    vocab.tokenTypes = t instanceof Int32Array ? t : Int32Array.from(t);
  }
  const merges = metadata.get(PREFIX + 'merges');
  if (merges !== undefined) {
    if (!Array.isArray(merges) || merges.some((m) => typeof m !== 'string')) {
      fail(PREFIX + 'merges', 'must be an array of strings');
    }
    vocab.merges = merges as string[];
  }

  const ids: [string, 'bosId' | 'eosId' | 'unkId' | 'padId'][] = [
    ['bos_token_id', 'bosId'], ['eos_token_id', 'eosId'], ['unknown_token_id', 'unkId'], ['padding_token_id', 'padId'],
  ];
  for (const [suffix, field] of ids) {
    const key = PREFIX + suffix;
    const v = metadata.get(key);
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isInteger(v)) fail(key, 'must be an integer');
    const id = v as number;
    // llama.cpp warns about and ignores an out-of-range special id rather than refusing the file.
    if (id < 0 || id >= n) vocab.warnings.push(`${key} = ${id} is outside the vocabulary (0..${n - 1}); ignored`);
    else vocab[field] = id;
  }
  const addBos = bool(PREFIX + 'add_bos_token');
  if (addBos !== undefined) vocab.addBos = addBos;
  const addEos = bool(PREFIX + 'add_eos_token');
  if (addEos !== undefined) vocab.addEos = addEos;
  const addSpacePrefix = bool(PREFIX + 'add_space_prefix');
  if (addSpacePrefix !== undefined) vocab.addSpacePrefix = addSpacePrefix;

  for (const [key, value] of metadata) {
    if (key.startsWith('tokenizer.') && !CONSUMED.has(key)) vocab.other.set(key, value);
  }
  return vocab;
}
