/**
 * A tokenizer's vocabulary seen through its bytes: every regular token becomes the byte string it
 * stands for (so `Ġhello`, `▁hello` and the tiktoken bytes ` hello` are one key), while special,
 * added and unused tokens keep their literal text in a namespace of their own (a `<s>` control
 * token is not the three bytes `<s>`).
 */
import { createHash } from 'node:crypto';
import type { Tokenizer, TokenType } from './model.ts';
import { pieceKey } from './pieces.ts';

/** Keys of tokens compared by their literal text rather than their bytes start with this. */
export const SPECIAL_NAMESPACE = '\uFFFF';

export interface VocabView {
  /** Normalized key by id; null for ids the tokenizer leaves empty. */
  keys: (string | null)[];
  /** First id of each key. */
  idOf: Map<string, number>;
  /** Number of ids (the tokenizer's own vocabulary size). */
  size: number;
  /** Number of distinct keys (byte-level duplicates such as `<0x41>` and `A` count once). */
  distinct: number;
}

/** Token types compared by their text in the special namespace. */
export function isSpecialType(t: TokenType): boolean {
  return t === 'control' || t === 'unknown' || t === 'user' || t === 'unused';
}

/** The normalized key of one token. */
export function tokenKey(tok: Tokenizer, id: number): string | null {
  const piece = tok.tokens[id];
  if (piece === null || piece === undefined) return null;
  const type = tok.types[id] ?? 'normal';
  if (isSpecialType(type)) return SPECIAL_NAMESPACE + piece;
  return pieceKey(piece, tok.pieceStyle, type === 'byte');
}

export function isSpecialKey(key: string): boolean {
  return key.startsWith(SPECIAL_NAMESPACE);
}

/** Builds the byte view of a tokenizer's vocabulary. */
export function vocabView(tok: Tokenizer): VocabView {
  const keys = tok.tokens.map((_, id) => tokenKey(tok, id));
  const idOf = new Map<string, number>();
  keys.forEach((k, id) => {
    if (k !== null && !idOf.has(k)) idOf.set(k, id);
  });
  return { keys, idOf, size: tok.tokens.length, distinct: idOf.size };
}

/** A key as length-prefixed latin1 text (one char per byte), so concatenations are unambiguous. */
function hashPart(key: string): string {
  const bytes = isSpecialKey(key) ? Buffer.from(key, 'utf8').toString('latin1') : key;
  return `${bytes.length}:${bytes}`;
}

/**
 * SHA-256 of the normalized vocabulary in id order (`byId`), and of its sorted key set (`bySet`):
 * equal `byId` hashes mean the same tokens at the same ids whatever the file format; equal
 * `bySet` hashes with different `byId` hashes mean the same tokens renumbered.
 */
export function vocabHashes(view: VocabView): { byId: string; bySet: string } {
  const byId: string[] = [];
  view.keys.forEach((k, id) => {
    if (k !== null) byId.push(`${id}=${hashPart(k)}`);
  });
  const bySet = [...view.idOf.keys()].sort().map(hashPart);
  const digest = (parts: string[]) => createHash('sha256').update(parts.join(''), 'latin1').digest('hex');
  return { byId: digest(byId), bySet: digest(bySet) };
}
