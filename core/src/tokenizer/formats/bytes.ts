/**
 * Small helpers shared by the tokenizer file parsers: transparent gzip and strict UTF-8.
 */
import { gunzipSync } from 'node:zlib';
import { BadInputError } from '../../errors.ts';

/** True when the bytes start with the gzip magic (1f 8b). */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** The bytes themselves, or their decompressed content when they are gzip. */
export function gunzipIfNeeded(bytes: Uint8Array, file: string): Uint8Array {
  if (!isGzip(bytes)) return bytes;
  try {
    return gunzipSync(bytes);
  } catch (err) {
    throw new BadInputError(file, `not a valid gzip stream (${(err as Error).message})`, { cause: err });
  }
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** Decodes UTF-8 text, failing with a named error on invalid bytes (a text format that is not text). */
export function decodeUtf8Text(bytes: Uint8Array, file: string): string {
  try {
    return strictUtf8.decode(bytes);
  } catch (err) {
    throw new BadInputError(file, 'not valid UTF-8 text', { cause: err });
  }
}

/** Text given as a string, or as bytes (possibly gzip) to decode. */
export function textOf(input: string | Uint8Array, file: string): string {
  if (typeof input === 'string') return input;
  return decodeUtf8Text(gunzipIfNeeded(input, file), file);
}

