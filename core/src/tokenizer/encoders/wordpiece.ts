/**
 * WordPiece (BERT): each pre-tokenized word is cut greedily into the longest vocabulary pieces
 * from the left, pieces after the first carrying the continuation prefix (`##`); a word that
 * cannot be cut completely, or is too long, becomes the unknown token.
 */
import type { WordPieceOptions } from '../model.ts';

export class WordPieceEncoder {
  private readonly unkId: number | null;

  constructor(private readonly ids: Map<string, number>, private readonly options: WordPieceOptions) {
    this.unkId = ids.get(options.unkToken) ?? null;
  }

  encodeWord(word: string): number[] {
    const chars = Array.from(word);
    const unk = this.unkId === null ? [] : [this.unkId];
    if (chars.length > this.options.maxInputCharsPerWord) return unk;
    const out: number[] = [];
    let start = 0;
    while (start < chars.length) {
      let end = chars.length;
      let found: number | undefined;
      while (start < end) {
        let sub = chars.slice(start, end).join('');
        if (start > 0) sub = this.options.continuingSubwordPrefix + sub;
        found = this.ids.get(sub);
        if (found !== undefined) break;
        end--;
      }
      if (found === undefined) return unk;
      out.push(found);
      start = end;
    }
    return out;
  }
}
