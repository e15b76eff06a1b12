/**
 * Which tokenizer format a file holds (by its content, gzip looked through) and which tokenizer
 * files a model folder holds, in order of preference.
 *
 * Content decides, not the name: Llama 3's original/tokenizer.model and Kimi's tiktoken.model
 * are tiktoken rank files despite the SentencePiece-like name.
 */
import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { constants as zlibConstants, gunzipSync } from 'node:zlib';
import { BadInputError } from '../../errors.ts';
import { isGzip } from './bytes.ts';
import { ProtoReader, WIRE_LEN } from './protobuf.ts';

export type TokenizerFormat = 'tokenizer-json' | 'sentencepiece' | 'tiktoken' | 'gguf';

export interface DetectedTokenizerFile {
  path: string;
  format: TokenizerFormat;
  /** The file is gzip-compressed (the parsers decompress it themselves). */
  gzipped: boolean;
}

/** How much of a file detection looks at. */
const PROBE_BYTES = 64 * 1024;

async function readPrefix(path: string, n: number): Promise<Uint8Array> {
  let handle;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new BadInputError(path, 'is not a regular file');
    handle = await open(path, 'r');
    const buf = new Uint8Array(Math.min(n, info.size));
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    return buf.subarray(0, bytesRead);
  } catch (err) {
    if (err instanceof BadInputError) throw err;
    throw new BadInputError(path, `cannot read: ${(err as Error).message}`, { cause: err });
  } finally {
    await handle?.close();
  }
}

const TIKTOKEN_LINE = /^[A-Za-z0-9+/]+={0,2} \d+\r?$/;
const TOKENIZER_JSON_KEYS = ['"model"', '"added_tokens"', '"pre_tokenizer"', '"normalizer"', '"truncation"'];

/** SentencePiece ModelProto: starts with field 1 (pieces), whose message starts with field 1 (piece text). */
function looksLikeSentencePiece(bytes: Uint8Array): boolean {
  try {
    const r = new ProtoReader(bytes, '');
    const { field, wire } = r.tag();
    if (field !== 1 || wire !== WIRE_LEN) return false;
    const len = r.uint();
    if (len === 0) return false;
    const inner = r.tag();
    return inner.field === 1 && inner.wire === WIRE_LEN;
  } catch {
    return false;
  }
}

/** The format of a file's leading bytes (already decompressed), or null when none fits. */
export function detectFormatOfBytes(prefix: Uint8Array): TokenizerFormat | null {
  if (prefix.length >= 4 && prefix[0] === 0x47 && prefix[1] === 0x47 && prefix[2] === 0x55 && prefix[3] === 0x46) {
    return 'gguf';
  }
  const text = new TextDecoder('utf-8').decode(prefix.subarray(0, Math.min(prefix.length, PROBE_BYTES)));
  const trimmed = text.replace(/^\uFEFF/, '').trimStart();
  if (trimmed.startsWith('{')) {
    return TOKENIZER_JSON_KEYS.some((k) => trimmed.includes(k)) ? 'tokenizer-json' : null;
  }
  const firstLine = text.slice(0, text.indexOf('\n') < 0 ? text.length : text.indexOf('\n'));
  if (TIKTOKEN_LINE.test(firstLine)) return 'tiktoken';
  if (looksLikeSentencePiece(prefix)) return 'sentencepiece';
  return null;
}

/**
 * Detects the tokenizer format of a file from its first bytes (looking through gzip). Returns
 * null when the content is no tokenizer format this project reads; throws BadInputError when
 * the file cannot be read.
 */
export async function detectTokenizerFormat(path: string): Promise<DetectedTokenizerFile | null> {
  let prefix = await readPrefix(path, PROBE_BYTES);
  const gzipped = isGzip(prefix);
  if (gzipped) {
    try {
      // A sync flush decompresses what the prefix holds without requiring the stream's end.
      prefix = gunzipSync(prefix, { finishFlush: zlibConstants.Z_SYNC_FLUSH }).subarray(0, PROBE_BYTES);
    } catch (err) {
      throw new BadInputError(path, `not a valid gzip stream (${(err as Error).message})`, { cause: err });
    }
  }
  const format = detectFormatOfBytes(prefix);
  return format === null ? null : { path, format, gzipped };
}

/** File names that may hold a tokenizer; the content is then checked. */
const CANDIDATE = /^(tokenizer\.json|tokenizer\.model|tiktoken\.model|[^/]*\.tiktoken|[^/]*\.gguf)(\.gz)?$/i;
const FORMAT_PREFERENCE: Record<TokenizerFormat, number> = {
  // tokenizer.json is the whole tokenizer (added tokens, pre-tokenizer, post-processor); the
  // others lack some of it.
  'tokenizer-json': 0,
  sentencepiece: 1,
  tiktoken: 2,
  gguf: 3,
};

/**
 * The tokenizer files a model folder holds (its top level and `original/`), best first:
 * tokenizer.json, then a SentencePiece model, then tiktoken ranks, then GGUF; within a format
 * top-level before original/, uncompressed before gzip, then by name. Throws BadInputError when
 * the folder cannot be read.
 */
export async function findTokenizerFiles(folder: string): Promise<DetectedTokenizerFile[]> {
  let names: string[];
  try {
    names = await readdir(folder);
  } catch (err) {
    throw new BadInputError(folder, `cannot read folder: ${(err as Error).message}`, { cause: err });
  }
  const candidates = names.filter((n) => CANDIDATE.test(n)).map((n) => ({ path: join(folder, n), nested: false }));
  if (names.includes('original')) {
    try {
      const sub = await readdir(join(folder, 'original'));
      candidates.push(...sub.filter((n) => CANDIDATE.test(n)).map((n) => ({ path: join(folder, 'original', n), nested: true })));
    } catch {
      // `original` is a file, or unreadable: nothing to look at there.
    }
  }
  const found: { file: DetectedTokenizerFile; nested: boolean }[] = [];
  for (const { path, nested } of candidates) {
    // A candidate name on a folder or a broken link is not a tokenizer file; an unreadable or
    // corrupt file is reported (detectTokenizerFormat throws).
    const isFile = await stat(path).then((s) => s.isFile(), () => false);
    if (!isFile) continue;
    const file = await detectTokenizerFormat(path);
    if (file) found.push({ file, nested });
  }
  found.sort((a, b) =>
    FORMAT_PREFERENCE[a.file.format] - FORMAT_PREFERENCE[b.file.format] ||
    Number(a.nested) - Number(b.nested) ||
    Number(a.file.gzipped) - Number(b.file.gzipped) ||
    (a.file.path < b.file.path ? -1 : a.file.path > b.file.path ? 1 : 0));
  return found.map((f) => f.file);
}
