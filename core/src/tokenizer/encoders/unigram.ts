/**
 * Unigram segmentation (SentencePiece unigram, Hugging Face `Unigram`): the segmentation of a word
 * with the highest total piece score, found by Viterbi over the pieces that start at each position.
 * A character no piece covers becomes the unknown token with a score 10 below the lowest piece
 * score (SentencePiece's penalty); consecutive unknowns fuse; with byte fallback they become
 * `<0xNN>` pieces instead.
 */
import type { TokenType, UnigramOptions } from '../model.ts';
import { bytePieceValue, utf8 } from '../pieces.ts';

const UNK_PENALTY = 10;

export interface UnigramVocabulary {
  pieces: (string | null)[];
  types: TokenType[];
  scores: Float32Array;
}

export class UnigramEncoder {
  private readonly ids = new Map<string, number>();
  private readonly maxPieceLength: number;
  private readonly unkScore: number;
  private readonly byteIds: (number | undefined)[];

  constructor(private readonly vocab: UnigramVocabulary, private readonly options: UnigramOptions) {
    let maxLen = 1;
    let minScore = Infinity;
    const byteIds: (number | undefined)[] = new Array(256);
    vocab.pieces.forEach((piece, id) => {
      const t = vocab.types[id];
      if (piece !== null && t === 'byte') {
        const b = bytePieceValue(piece);
        if (b !== null && byteIds[b] === undefined) byteIds[b] = id;
      }
      // Control, unknown and byte pieces are never matched in text.
      if (piece === null || piece === '' || t === 'control' || t === 'unknown' || t === 'byte') return;
      if (!this.ids.has(piece)) this.ids.set(piece, id);
      maxLen = Math.max(maxLen, piece.length);
      if (t === 'normal') minScore = Math.min(minScore, vocab.scores[id]!);
    });
    this.maxPieceLength = maxLen;
    this.unkScore = (Number.isFinite(minScore) ? minScore : 0) - UNK_PENALTY;
    this.byteIds = byteIds;
  }

  private score(id: number): number {
    // SentencePiece gives user-defined pieces score 0 so that they are always preferred.
    return this.vocab.types[id] === 'user' ? 0 : this.vocab.scores[id]!;
  }

  /** The token ids of one word (already normalized and pre-tokenized). */
  encodeWord(word: string): number[] {
    const n = word.length;
    if (n === 0) return [];
    // best[i]: best score of word[0, i); from[i]: start of the last piece; piece[i]: its id (-1 = unknown).
    const best = new Float64Array(n + 1).fill(-Infinity);
    const from = new Int32Array(n + 1).fill(-1);
    const piece = new Int32Array(n + 1).fill(-1);
    best[0] = 0;
    for (let i = 0; i < n; i = nextCodePoint(word, i)) {
      if (best[i] === -Infinity) continue;
      const charEnd = nextCodePoint(word, i);
      let coversChar = false;
      const limit = Math.min(n, i + this.maxPieceLength);
      for (let j = charEnd; j <= limit; j = j < n ? nextCodePoint(word, j) : j + 1) {
        const id = this.ids.get(word.slice(i, j));
        if (id === undefined) continue;
        if (j === charEnd) coversChar = true;
        const s = best[i]! + this.score(id);
        if (s > best[j]!) {
          best[j] = s;
          from[j] = i;
          piece[j] = id;
        }
      }
      if (!coversChar) {
        const s = best[i]! + this.unkScore;
        if (s > best[charEnd]!) {
          best[charEnd] = s;
          from[charEnd] = i;
          piece[charEnd] = -1;
        }
      }
    }
    const segments: [number, number, number][] = [];
    for (let j = n; j > 0; j = from[j]!) segments.push([from[j]!, j, piece[j]!]);
    segments.reverse();
    const out: number[] = [];
    let unknownStart = -1;
    const flushUnknown = (end: number) => {
      if (unknownStart < 0) return;
      const text = word.slice(unknownStart, end);
      unknownStart = -1;
      if (this.options.byteFallback) {
        const bytes = Array.from(utf8(text), (b) => this.byteIds[b]);
        if (bytes.every((b) => b !== undefined)) {
          out.push(...(bytes as number[]));
          return;
        }
      }
      if (this.options.unkId !== null) out.push(this.options.unkId);
    };
    for (const [start, , id] of segments) {
      if (id < 0) {
        if (unknownStart < 0) unknownStart = start;
        continue;
      }
      flushUnknown(start);
      out.push(id);
    }
    flushUnknown(n);
    return out;
  }
}

function nextCodePoint(text: string, i: number): number {
  const c = text.charCodeAt(i);
  return c >= 0xd800 && c <= 0xdbff && i + 1 < text.length ? i + 2 : i + 1;
}
