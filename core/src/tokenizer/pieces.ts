/**
 * Token pieces as bytes: the common ground on which vocabularies of different families compare.
 *
 * A byte-level BPE vocabulary (GPT-2, Llama 3, Qwen) spells bytes with the GPT-2 byte alphabet
 * (`Ġ` = space, `Ċ` = newline, ...); a SentencePiece vocabulary spells a space as `▁` and raw bytes
 * as `<0xNN>` pieces; a tiktoken rank file holds the bytes themselves; WordPiece marks a word's
 * continuation with `##`. Mapping all of them to byte strings makes "the same piece" mean the same
 * thing across families, so a byte-level and an SPM vocabulary that hold the same strings share them.
 */

/** How the pieces of a vocabulary spell their bytes. */
export type PieceStyle = 'byte-level' | 'metaspace' | 'wordpiece' | 'plain';

/** The GPT-2 byte-to-character table (bytes.py in openai/gpt-2, `bytes_to_unicode`). */
function buildByteAlphabet(): { byteToChar: string[]; charToByte: Map<string, number> } {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const keep = new Set(printable);
  const byteToChar: string[] = new Array(256);
  let next = 0;
  for (let b = 0; b < 256; b++) {
    // Printable bytes stand for themselves; the others are shifted above U+00FF, in byte order.
    byteToChar[b] = keep.has(b) ? String.fromCharCode(b) : String.fromCharCode(256 + next++);
  }
  const charToByte = new Map<string, number>();
  byteToChar.forEach((c, b) => charToByte.set(c, b));
  return { byteToChar, charToByte };
}

const alphabet = buildByteAlphabet();
export const BYTE_TO_CHAR: readonly string[] = alphabet.byteToChar;

const utf8Encoder = new TextEncoder();

/** UTF-8 bytes of a string. */
export function utf8(text: string): Uint8Array {
  return utf8Encoder.encode(text);
}

/** Bytes written in the GPT-2 byte alphabet (what a byte-level pre-tokenizer produces). */
export function bytesToByteLevel(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += BYTE_TO_CHAR[bytes[i]!];
  return out;
}

/** The bytes a byte-level piece spells, or null when a character is outside the byte alphabet. */
export function byteLevelToBytes(piece: string): Uint8Array | null {
  const out = new Uint8Array(piece.length);
  let i = 0;
  for (const ch of piece) {
    const b = alphabet.charToByte.get(ch);
    if (b === undefined) return null;
    out[i++] = b;
  }
  return out.subarray(0, i);
}

const BYTE_PIECE = /^<0x([0-9A-Fa-f]{2})>$/;

/** The byte of a SentencePiece byte piece (`<0x0A>` -> 10), or null. */
export function bytePieceValue(piece: string): number | null {
  const m = BYTE_PIECE.exec(piece);
  return m ? parseInt(m[1]!, 16) : null;
}

/** The SentencePiece byte piece for a byte (10 -> `<0x0A>`). */
export function bytePiece(byte: number): string {
  return `<0x${byte.toString(16).toUpperCase().padStart(2, '0')}>`;
}

export const METASPACE = '\u2581';

/**
 * The bytes a piece stands for in running text. `isBytePiece` says whether the piece is a
 * SentencePiece byte token (its type, where the file says so).
 */
export function pieceToBytes(piece: string, style: PieceStyle, isBytePiece = false): Uint8Array {
  switch (style) {
    case 'byte-level': {
      // Added tokens of byte-level vocabularies are often stored as raw text (`<|im_start|>`,
      // `<｜begin▁of▁sentence｜>`); a piece that does not decode is taken as the text it shows.
      return byteLevelToBytes(piece) ?? utf8(piece);
    }
    case 'metaspace': {
      if (isBytePiece) {
        const b = bytePieceValue(piece);
        if (b !== null) return Uint8Array.of(b);
      }
      return utf8(piece.replaceAll(METASPACE, ' '));
    }
    case 'wordpiece':
      // A word-initial WordPiece stands after a space; `##x` continues a word.
      return piece.startsWith('##') && piece.length > 2 ? utf8(piece.slice(2)) : utf8(' ' + piece);
    case 'plain':
      return utf8(piece);
  }
}

/** UTF-8 of a string as a key (see bytesKey), without an intermediate array. */
function utf8Key(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}

/**
 * The key (see bytesKey) of the bytes a piece stands for: pieceToBytes, made cheap for the
 * hundreds of thousands of pieces and merges a comparison goes through.
 */
export function pieceKey(piece: string, style: PieceStyle, isBytePiece = false): string {
  switch (style) {
    case 'byte-level': {
      let key = '';
      for (const ch of piece) {
        const b = alphabet.charToByte.get(ch);
        if (b === undefined) return utf8Key(piece);
        key += String.fromCharCode(b);
      }
      return key;
    }
    case 'metaspace': {
      if (isBytePiece) {
        const b = bytePieceValue(piece);
        if (b !== null) return String.fromCharCode(b);
      }
      return utf8Key(piece.replaceAll(METASPACE, ' '));
    }
    case 'wordpiece':
      return utf8Key(piece.startsWith('##') && piece.length > 2 ? piece.slice(2) : ' ' + piece);
    case 'plain':
      return utf8Key(piece);
  }
}

/** A byte string as a compact Map key: one UTF-16 unit per byte (all below U+0100). */
export function bytesKey(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 8192) {
    s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return s;
}

/** The bytes of a key made by bytesKey. */
export function keyBytes(key: string): Uint8Array {
  const out = new Uint8Array(key.length);
  for (let i = 0; i < key.length; i++) out[i] = key.charCodeAt(i);
  return out;
}
