/**
 * The `tokenizer` section of a lineage report: two tokenizers compared on vocabulary size, shared
 * tokens (as bytes, across formats), id alignment, special tokens, merge order, encodings of the
 * same texts, and the relation these add up to.
 */
import { BUILTIN_CORPUS } from './corpus.ts';
import { createEncoder, type Encoder } from './encode.ts';
import { encodingAgreement, type EncodingAgreement, type EncodingInput } from './encoding.ts';
import { compareMerges, type MergeSection } from './merges.ts';
import type { Tokenizer } from './model.ts';
import { compareVocabularies, type TokenSetDiff } from './overlap.ts';
import { decideRelation, overlapBand, type Relation } from './relation.ts';
import { vocabHashes, vocabView } from './vocab.ts';

export interface CompareOptions {
  /** Texts to encode instead of the built-in corpus. */
  texts?: string[];
  /** vocab_size of each model's config.json, when known: it may differ from the tokenizer's. */
  configVocabA?: number;
  configVocabB?: number;
  /** How to name the models in messages (their paths); default 'A' and 'B'. */
  labelA?: string;
  labelB?: string;
}

export interface TokenizerSummary {
  path: string;
  format: Tokenizer['source']['format'];
  model: Tokenizer['model'];
  pieceStyle: Tokenizer['pieceStyle'];
  vocabSize: number;
  /** Distinct byte strings (byte tokens and the characters they spell count once). */
  distinctTokens: number;
  /** SHA-256 of the normalized vocabulary by id, and of its sorted token set. */
  vocabHash: string;
  vocabSetHash: string;
  /** Named special tokens (bos, eos, unk, pad) by id, where the file says. */
  specialIds: Record<string, number>;
  /** Why this tokenizer cannot encode text, if it cannot. */
  encodeUnsupported: string | null;
  notes: string[];
}

export interface TokenizerComparison {
  available: true;
  a: TokenizerSummary;
  b: TokenizerSummary;
  vocabSizeA: number;
  vocabSizeB: number;
  configVocabSizeA: number | null;
  configVocabSizeB: number | null;
  vocabSizeMatch: {
    /** The tokenizers define the same number of ids. */
    tokenizer: boolean;
    /** The configs' vocab_size values are equal; null when either is unknown. */
    config: boolean | null;
  };
  sharedTokens: {
    count: number;
    /** Shared among regular (non-special) tokens. */
    regular: number;
    shareOfA: number | null;
    shareOfB: number | null;
  };
  sameIdRate: number | null;
  idAlignment: {
    /** Most common id shift idB - idA among shared tokens, and the share of shared tokens it covers. */
    dominantOffset: number | null;
    dominantOffsetShare: number | null;
    /** Spearman correlation of the shared tokens' ids (1: same order). */
    orderCorrelation: number | null;
    /** Share of neighbouring shared tokens (in A's id order) whose B ids keep that order. */
    neighbourAgreement: number | null;
  };
  specialTokens: {
    /** Special/added tokens (by text) only one side has; lists cut at 50, counts complete. */
    onlyA: string[];
    onlyB: string[];
    onlyACount: number;
    onlyBCount: number;
    shared: number;
    sharedSameId: number;
  };
  /** Tokens only one side has: on the larger side of an extension, what was added. */
  onlyA: TokenSetDiff;
  onlyB: TokenSetDiff;
  merges: MergeSection;
  vocabHashA: string;
  vocabHashB: string;
  relation: Relation;
  relationReason: string;
  /** Where the overlap falls in the seed's bands (>98%, 90-98%, <90%), for reference. */
  overlapBand: string;
  encodingAgreement: EncodingAgreement;
}

export type TokenizerSection = TokenizerComparison | { available: false; reason: string };

function summary(tok: Tokenizer, distinct: number, hashes: { byId: string; bySet: string }): TokenizerSummary {
  return {
    path: tok.source.path,
    format: tok.source.format,
    model: tok.model,
    pieceStyle: tok.pieceStyle,
    vocabSize: tok.tokens.length,
    distinctTokens: distinct,
    vocabHash: hashes.byId,
    vocabSetHash: hashes.bySet,
    specialIds: tok.specialIds,
    encodeUnsupported: tok.encodeUnsupported,
    notes: tok.notes,
  };
}

function encoderOf(tok: Tokenizer): Encoder | string {
  if (tok.encodeUnsupported) return tok.encodeUnsupported;
  try {
    return createEncoder(tok);
  } catch (err) {
    return (err as Error).message;
  }
}

const SPECIAL_LIST_LIMIT = 50;

function limited(list: string[]): string[] {
  return list.slice(0, SPECIAL_LIST_LIMIT);
}

/**
 * Compares two tokenizers. A missing tokenizer (null: the model folder has none) gives
 * `{ available: false, reason }` instead of a comparison.
 */
export function compareTokenizers(a: Tokenizer | null, b: Tokenizer | null, options: CompareOptions = {}): TokenizerSection {
  if (!a || !b) {
    const labelA = options.labelA ?? 'A';
    const labelB = options.labelB ?? 'B';
    const which = !a && !b ? `neither ${labelA} nor ${labelB} has` : `${!a ? labelA : labelB} has no`;
    return { available: false, reason: `${which} tokenizer files (tokenizer.json, tokenizer.model, *.tiktoken, *.gguf, vocab.json + merges.txt or vocab.txt)` };
  }
  const viewA = vocabView(a);
  const viewB = vocabView(b);
  const hashA = vocabHashes(viewA);
  const hashB = vocabHashes(viewB);
  const overlap = compareVocabularies(viewA, viewB);
  const merges = compareMerges(a, b);

  const texts: EncodingInput[] = options.texts ? options.texts.map((text) => ({ text })) : [...BUILTIN_CORPUS];
  const encA = encoderOf(a);
  const encB = encoderOf(b);
  let encoding: EncodingAgreement;
  if (typeof encA === 'string') encoding = { available: false, reason: `A cannot encode: ${encA}` };
  else if (typeof encB === 'string') encoding = { available: false, reason: `B cannot encode: ${encB}` };
  else {
    encoding = encodingAgreement(
      { tok: a, view: viewA, encoder: encA },
      { tok: b, view: viewB, encoder: encB },
      texts,
      options.texts ? 'file' : 'builtin',
    );
  }

  const identicalVocab = hashA.byId === hashB.byId;
  const sameSet = hashA.bySet === hashB.bySet;
  const { relation, reason } = decideRelation({ viewA, viewB, overlap, merges, encoding, identicalVocab, sameSet });
  const sharedSpecial = new Set(overlap.special.shared);
  const specialOnlyA = overlap.special.a.filter((s) => !sharedSpecial.has(s));
  const specialOnlyB = overlap.special.b.filter((s) => !sharedSpecial.has(s));
  const configA = options.configVocabA ?? null;
  const configB = options.configVocabB ?? null;
  return {
    available: true,
    a: summary(a, viewA.distinct, hashA),
    b: summary(b, viewB.distinct, hashB),
    vocabSizeA: viewA.size,
    vocabSizeB: viewB.size,
    configVocabSizeA: configA,
    configVocabSizeB: configB,
    vocabSizeMatch: {
      tokenizer: viewA.size === viewB.size,
      config: configA === null || configB === null ? null : configA === configB,
    },
    sharedTokens: { count: overlap.shared, regular: overlap.sharedRegular, shareOfA: overlap.shareOfA, shareOfB: overlap.shareOfB },
    sameIdRate: overlap.sameIdRate,
    idAlignment: {
      dominantOffset: overlap.dominantOffset,
      dominantOffsetShare: overlap.dominantOffsetShare,
      orderCorrelation: overlap.idOrderCorrelation,
      neighbourAgreement: overlap.idNeighbourAgreement,
    },
    specialTokens: {
      onlyA: limited(specialOnlyA),
      onlyB: limited(specialOnlyB),
      onlyACount: specialOnlyA.length,
      onlyBCount: specialOnlyB.length,
      shared: overlap.special.shared.length,
      sharedSameId: overlap.special.sharedSameId,
    },
    onlyA: overlap.onlyA,
    onlyB: overlap.onlyB,
    merges,
    vocabHashA: hashA.byId,
    vocabHashB: hashB.byId,
    relation,
    relationReason: reason,
    overlapBand: overlapBand(overlap),
    encodingAgreement: encoding,
  };
}
