/**
 * Text to token ids with a loaded tokenizer: added tokens are matched in the raw text first (as
 * Hugging Face's AddedVocabulary does), each remaining segment is normalized, pre-tokenized and
 * handed word by word to the model (BPE, Unigram or WordPiece). No BOS/EOS is added: the
 * comparison is about how text is cut, not about templates.
 */
import { BadInputError } from '../errors.ts';
import { BpeEncoder } from './encoders/bpe.ts';
import { UnigramEncoder } from './encoders/unigram.ts';
import { WordPieceEncoder } from './encoders/wordpiece.ts';
import type { AddedToken, Tokenizer } from './model.ts';
import { compileNormalizer, type Normalizer } from './normalize.ts';
import { compilePreTokenizer, isWhitespace, type PreTokenizer } from './pretokenize.ts';
import { escapeRegex } from './regex.ts';

export interface Encoder {
  /** Token ids of a text, without BOS/EOS. */
  encode(text: string): number[];
}

type Segment = { text: string } | { id: number };

/** Splits raw text on the added tokens: leftmost match, longest first, honouring lstrip/rstrip/single_word. */
export class AddedTokenSplitter {
  private readonly re: RegExp | null;
  private readonly byContent = new Map<string, AddedToken>();

  constructor(added: AddedToken[]) {
    for (const t of added) if (t.content !== '' && !this.byContent.has(t.content)) this.byContent.set(t.content, t);
    const contents = [...this.byContent.keys()].sort((a, b) => b.length - a.length);
    this.re = contents.length ? new RegExp(contents.map(escapeRegex).join('|'), 'gu') : null;
  }

  split(text: string): Segment[] {
    if (!this.re) return [{ text }];
    const out: Segment[] = [];
    let last = 0;
    this.re.lastIndex = 0;
    for (const m of text.matchAll(this.re)) {
      const token = this.byContent.get(m[0])!;
      let start = m.index!;
      let end = start + m[0].length;
      if (start < last) continue; // overlaps an rstrip that consumed it
      if (token.singleWord) {
        const before = text.slice(0, start);
        const after = text.slice(end);
        if (/[\p{L}\p{N}_]$/u.test(before) || /^[\p{L}\p{N}_]/u.test(after)) continue;
      }
      if (token.lstrip) while (start > last && isWhitespace(text[start - 1]!)) start--;
      if (token.rstrip) while (end < text.length && isWhitespace(text[end]!)) end++;
      if (start > last) out.push({ text: text.slice(last, start) });
      out.push({ id: token.id });
      last = end;
    }
    if (last < text.length) out.push({ text: text.slice(last) });
    return out;
  }
}

function pieceIds(tok: Tokenizer): Map<string, number> {
  const ids = new Map<string, number>();
  tok.tokens.forEach((piece, id) => {
    if (piece !== null && !ids.has(piece)) ids.set(piece, id);
  });
  return ids;
}

/** Builds the encoder of a tokenizer; throws when its pipeline or model cannot be run here. */
export function createEncoder(tok: Tokenizer): Encoder {
  const file = tok.source.path;
  if (tok.encodeUnsupported) throw new BadInputError(file, `cannot encode text: ${tok.encodeUnsupported}`);
  const normalize: Normalizer = compileNormalizer(tok.normalizer, file);
  const preTokenize: PreTokenizer = compilePreTokenizer(tok.preTokenizer, file);
  const splitter = new AddedTokenSplitter(tok.added);
  let encodeWord: (word: string) => number[];
  switch (tok.model) {
    case 'bpe': {
      const bpe = new BpeEncoder(
        { ids: pieceIds(tok), pieces: tok.tokens, types: tok.types, scores: tok.scores, merges: tok.merges },
        tok.bpe!,
      );
      encodeWord = (w) => bpe.encodeWord(w);
      break;
    }
    case 'unigram': {
      if (!tok.scores) throw new BadInputError(file, 'cannot encode text: a Unigram model without scores');
      const uni = new UnigramEncoder({ pieces: tok.tokens, types: tok.types, scores: tok.scores }, tok.unigram!);
      encodeWord = (w) => uni.encodeWord(w);
      break;
    }
    case 'wordpiece': {
      const wp = new WordPieceEncoder(pieceIds(tok), tok.wordpiece!);
      encodeWord = (w) => wp.encodeWord(w);
      break;
    }
    case 'other':
      throw new BadInputError(file, 'cannot encode text: the model type is not supported');
  }
  return {
    encode(text: string): number[] {
      const out: number[] = [];
      const segments = splitter.split(text);
      segments.forEach((seg, i) => {
        if ('id' in seg) {
          out.push(seg.id);
          return;
        }
        const words = preTokenize([normalize(seg.text)], i === 0);
        for (const w of words) for (const id of encodeWord(w)) out.push(id);
      });
      return out;
    },
  };
}
