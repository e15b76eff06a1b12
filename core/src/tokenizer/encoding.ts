/**
 * Encoding agreement: both tokenizers encode the same texts, each token becomes the bytes it
 * stands for, and the two token streams are compared: the share of texts cut into identical byte
 * pieces (and identical ids), and how many token boundaries (byte offsets) they share.
 *
 * SentencePiece-style tokenizers insert a leading space (the dummy prefix) that byte-level ones do
 * not; it is removed before comparing, so that the cut of the text itself is compared. A
 * tokenizer that rewrites the text (lowercasing, NFKC) yields a stream that is not the text's
 * bytes; such texts are compared on pieces only where both streams agree.
 */
import type { CorpusCategory } from './corpus.ts';
import type { Encoder } from './encode.ts';
import type { Tokenizer } from './model.ts';
import { bytesKey, keyBytes, utf8 } from './pieces.ts';
import { ratio, round } from './stats.ts';
import { isSpecialKey, type VocabView } from './vocab.ts';

export interface EncodingInput {
  text: string;
  category?: CorpusCategory | string;
}

interface Side {
  tok: Tokenizer;
  view: VocabView;
  encoder: Encoder;
}

interface Encoded {
  ids: number[];
  /** Byte pieces, leading inserted space removed. */
  pieces: string[];
  /** The concatenated stream (as a key string). */
  stream: string;
  unknown: number;
  byteFallback: number;
}

function encodeSide(side: Side, text: string, textKey: string): Encoded {
  const ids = side.encoder.encode(text);
  const pieces = ids.map((id) => {
    const k = side.view.keys[id] ?? '';
    // Special tokens matched in text stand for their text.
    return isSpecialKey(k) ? bytesKey(utf8(k.slice(1))) : k;
  });
  let stream = pieces.join('');
  // Remove a dummy-prefix space the tokenizer inserted (SentencePiece `▁` at the start).
  if (stream.length === textKey.length + 1 && stream.startsWith(' ') && stream.slice(1) === textKey && pieces.length > 0) {
    pieces[0] = pieces[0]!.slice(1);
    if (pieces[0] === '') pieces.shift();
    stream = stream.slice(1);
  }
  let unknown = 0;
  let byteFallback = 0;
  for (const id of ids) {
    const t = side.tok.types[id];
    if (t === 'unknown') unknown++;
    else if (t === 'byte') byteFallback++;
  }
  return { ids, pieces, stream, unknown, byteFallback };
}

function boundaries(pieces: string[]): Set<number> {
  const out = new Set<number>();
  let at = 0;
  for (const p of pieces) {
    at += p.length;
    out.add(at);
  }
  return out;
}

interface Tally {
  texts: number;
  identicalPieces: number;
  identicalIds: number;
  comparable: number;
  sharedBoundaries: number;
  boundariesA: number;
  boundariesB: number;
  tokensA: number;
  tokensB: number;
  bytes: number;
}

const emptyTally = (): Tally => ({
  texts: 0, identicalPieces: 0, identicalIds: 0, comparable: 0, sharedBoundaries: 0, boundariesA: 0, boundariesB: 0, tokensA: 0, tokensB: 0, bytes: 0,
});

function summarize(t: Tally) {
  return {
    texts: t.texts,
    identicalTextShare: round(ratio(t.identicalPieces, t.texts)),
    identicalIdsShare: round(ratio(t.identicalIds, t.texts)),
    boundaryF1: round(ratio(2 * t.sharedBoundaries, t.boundariesA + t.boundariesB)),
    tokensA: t.tokensA,
    tokensB: t.tokensB,
    bytesPerTokenA: round(ratio(t.bytes, t.tokensA), 4),
    bytesPerTokenB: round(ratio(t.bytes, t.tokensB), 4),
  };
}

export interface DisagreementSample {
  text: string;
  a: string[];
  b: string[];
}

export type EncodingAgreement =
  | ({
      available: true;
      corpus: 'builtin' | 'file';
      /** Texts whose streams differ as bytes (normalization), left out of boundaryF1. */
      notComparable: number;
      unknownTokensA: number;
      unknownTokensB: number;
      byteFallbackTokensA: number;
      byteFallbackTokensB: number;
      byCategory: Record<string, ReturnType<typeof summarize>>;
      /** A few texts cut differently, pieces shown as text. */
      samples: DisagreementSample[];
    } & ReturnType<typeof summarize>)
  | { available: false; reason: string };

function show(piece: string): string {
  return new TextDecoder('utf-8').decode(keyBytes(piece));
}

/** Encodes every text with both tokenizers and measures how alike the token streams are. */
export function encodingAgreement(a: Side, b: Side, texts: EncodingInput[], corpus: 'builtin' | 'file'): EncodingAgreement {
  if (texts.length === 0) return { available: false, reason: 'no texts to encode' };
  const total = emptyTally();
  const byCategory = new Map<string, Tally>();
  let notComparable = 0;
  const unk = [0, 0];
  const fallback = [0, 0];
  const samples: DisagreementSample[] = [];
  for (const { text, category } of texts) {
    const textKey = bytesKey(utf8(text));
    const ea = encodeSide(a, text, textKey);
    const eb = encodeSide(b, text, textKey);
    unk[0] += ea.unknown;
    unk[1] += eb.unknown;
    fallback[0] += ea.byteFallback;
    fallback[1] += eb.byteFallback;
    const cat = category ?? 'file';
    if (!byCategory.has(cat)) byCategory.set(cat, emptyTally());
    const tallies = [total, byCategory.get(cat)!];
    const samePieces = ea.pieces.length === eb.pieces.length && ea.pieces.every((p, i) => p === eb.pieces[i]);
    const sameIds = ea.ids.length === eb.ids.length && ea.ids.every((id, i) => id === eb.ids[i]);
    const comparable = ea.stream === eb.stream;
    if (!comparable) notComparable++;
    let shared = 0;
    const ba = boundaries(ea.pieces);
    const bb = boundaries(eb.pieces);
    if (comparable) for (const x of ba) if (bb.has(x)) shared++;
    for (const t of tallies) {
      t.texts++;
      if (samePieces) t.identicalPieces++;
      if (sameIds) t.identicalIds++;
      t.tokensA += ea.ids.length;
      t.tokensB += eb.ids.length;
      t.bytes += textKey.length;
      if (comparable) {
        t.comparable++;
        t.sharedBoundaries += shared;
        t.boundariesA += ba.size;
        t.boundariesB += bb.size;
      }
    }
    if (!samePieces && samples.length < 5) {
      samples.push({ text: text.length > 120 ? text.slice(0, 117) + '...' : text, a: ea.pieces.slice(0, 40).map(show), b: eb.pieces.slice(0, 40).map(show) });
    }
  }
  return {
    available: true,
    corpus,
    ...summarize(total),
    notComparable,
    unknownTokensA: unk[0]!,
    unknownTokensB: unk[1]!,
    byteFallbackTokensA: fallback[0]!,
    byteFallbackTokensB: fallback[1]!,
    byCategory: Object.fromEntries([...byCategory].map(([k, t]) => [k, summarize(t)])),
    samples,
  };
}
