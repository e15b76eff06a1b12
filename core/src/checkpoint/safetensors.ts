/**
 * The safetensors header: an 8-byte little-endian length, then JSON naming each tensor's dtype,
 * shape and [begin, end) byte offsets relative to the end of the header. Everything the header
 * claims is checked against the file before any tensor is read, so a lying or truncated file is
 * named up front instead of producing wrong numbers later.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { BadInputError } from '../errors.ts';
import { runSteps, type Steps } from '../steps.ts';
import { bytesPerElement, elementCount, isKnownDType, type DType } from './dtype.ts';

/** Largest header we accept: real ones are a few MB even for 20k tensors. */
const MAX_HEADER_BYTES = 256 * 1024 * 1024;

export interface SafetensorsEntry {
  name: string;
  /** A known dtype, or the raw string when the file names one we do not know (see `note`). */
  dtype: DType | string;
  shape: number[];
  /** Absolute byte offset of the first byte in the file. */
  offset: number;
  byteLength: number;
  /** Set when the tensor is listed but cannot be compared (unknown dtype). */
  note?: string;
}

export interface SafetensorsHeader {
  file: string;
  fileSize: number;
  /** Absolute offset of the data section (8 + header length). */
  dataOffset: number;
  metadata: Record<string, string>;
  tensors: SafetensorsEntry[];
}

export function readSafetensorsHeader(file: string): SafetensorsHeader {
  return runSteps(readSafetensorsHeaderSteps(file));
}

/** The same, in steps of a few hundred entries (a 19k-tensor header is ~0.1 s of checking). */
export function* readSafetensorsHeaderSteps(file: string): Steps<SafetensorsHeader> {
  const { fileSize, json } = readHeaderJson(file);
  return yield* parseSafetensorsHeaderSteps(file, fileSize, 8 + json.byteLength, json.toString('utf8'));
}

/** The file's size and its header's JSON bytes. */
function readHeaderJson(file: string): { fileSize: number; json: Buffer } {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    throw new BadInputError(file, `cannot open: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    const fileSize = fstatSync(fd).size;
    if (fileSize < 8) throw new BadInputError(file, `truncated: ${fileSize} bytes, shorter than the 8-byte header length`);
    const lengthBytes = Buffer.alloc(8);
    readSync(fd, lengthBytes, 0, 8, 0);
    const length = checkHeaderLength(file, fileSize, lengthBytes);
    const json = Buffer.alloc(length);
    if (readSync(fd, json, 0, length, 8) !== length) throw new BadInputError(file, 'truncated while reading the header');
    return { fileSize, json };
  } finally {
    closeSync(fd);
  }
}

/**
 * The JSON length that the first 8 bytes of a file of `fileSize` bytes announce, checked against
 * the file and the 256 MiB limit. Shared by the local reader and remote (HTTP Range) opening.
 */
export function checkHeaderLength(file: string, fileSize: number, lengthBytes: Uint8Array): number {
  const headerLength = Buffer.from(lengthBytes.buffer, lengthBytes.byteOffset, 8).readBigUInt64LE(0);
  if (headerLength > BigInt(Math.min(MAX_HEADER_BYTES, fileSize - 8))) {
    throw new BadInputError(file, `header length ${headerLength} exceeds the file (${fileSize} bytes)${fileSize - 8 > MAX_HEADER_BYTES ? ' or the 256 MiB limit' : ''}`);
  }
  return Number(headerLength);
}

/**
 * Parses and checks header JSON (`text`, the bytes after the length) of a file of `fileSize`
 * bytes whose data section starts at `dataOffset`: the same checks wherever the bytes came from.
 */
export function parseSafetensorsHeader(file: string, fileSize: number, dataOffset: number, text: string): SafetensorsHeader {
  return runSteps(parseSafetensorsHeaderSteps(file, fileSize, dataOffset, text));
}

/** Entries checked between two steps. */
const STEP_ENTRIES = 256;

export function* parseSafetensorsHeaderSteps(file: string, fileSize: number, dataOffset: number, text: string): Steps<SafetensorsHeader> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new BadInputError(file, `header is not valid JSON (${(err as Error).message})`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new BadInputError(file, 'header is not a JSON object');
  yield;
  const dataSize = fileSize - dataOffset;
  const metadata: Record<string, string> = {};
  const tensors: SafetensorsEntry[] = [];
  let seen = 0;
  for (const [name, value] of Object.entries(raw as Record<string, unknown>)) {
    if (++seen % STEP_ENTRIES === 0) yield;
    if (name === '__metadata__') {
      if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) metadata[k] = String(v);
      continue;
    }
    tensors.push(parseEntry(file, name, value, dataOffset, dataSize));
  }
  yield;
  checkNoOverlap(file, tensors);
  return { file, fileSize, dataOffset, metadata, tensors };
}

function parseEntry(file: string, name: string, value: unknown, dataOffset: number, dataSize: number): SafetensorsEntry {
  const bad = (reason: string) => new BadInputError(file, `tensor '${name}': ${reason}`);
  if (!value || typeof value !== 'object') throw bad('entry is not an object');
  const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
  if (typeof dtype !== 'string') throw bad('dtype missing');
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw bad(`shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
    throw bad(`data_offsets ${JSON.stringify(offsets)} is not a pair of non-negative integers`);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) throw bad(`data_offsets [${begin}, ${end}] end before they begin`);
  if (end > dataSize) throw bad(`data_offsets [${begin}, ${end}] run past the end of the file (data section is ${dataSize} bytes; truncated?)`);
  const entry: SafetensorsEntry = { name, dtype, shape: shape as number[], offset: dataOffset + begin, byteLength: end - begin };
  if (!isKnownDType(dtype)) {
    entry.note = `unknown dtype '${dtype}'`;
  } else {
    const expected = elementCount(entry.shape) * bytesPerElement(dtype);
    if (expected !== entry.byteLength) throw bad(`${dtype} ${JSON.stringify(shape)} needs ${expected} bytes but data_offsets span ${entry.byteLength}`);
  }
  return entry;
}

function checkNoOverlap(file: string, tensors: SafetensorsEntry[]): void {
  const sorted = [...tensors].filter((t) => t.byteLength > 0).sort((x, y) => x.offset - y.offset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    const cur = sorted[i]!;
    if (cur.offset < prev.offset + prev.byteLength) {
      throw new BadInputError(file, `tensors '${prev.name}' and '${cur.name}' overlap in the file`);
    }
  }
}
