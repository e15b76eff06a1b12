/**
 * The one normalized tokenizer model that every file format is loaded into: tokens by id with
 * their types, ordered merges, scores, added/special tokens, and the pipeline (normalizer and
 * pre-tokenizer, written as the Hugging Face tokenizer.json specs they are or are equivalent to)
 * that the encoders need.
 */
import type { PieceStyle } from './pieces.ts';

/** What a token is for; GGUF's token types, which every format maps onto. */
export type TokenType = 'normal' | 'unknown' | 'control' | 'user' | 'unused' | 'byte';

/** The segmentation algorithm; 'other' for models whose vocabulary is compared but not run (WordLevel, RWKV...). */
export type ModelKind = 'bpe' | 'unigram' | 'wordpiece' | 'other';

/** The file format the tokenizer came from. */
export type TokenizerFormat = 'tokenizer.json' | 'tokenizer.model' | 'tiktoken' | 'gguf' | 'vocab.json+merges.txt' | 'vocab.txt';

/** A token matched in raw text before the model runs (Hugging Face `added_tokens`). */
export interface AddedToken {
  id: number;
  content: string;
  /** Special (control) token, as opposed to an added word. */
  special: boolean;
  lstrip: boolean;
  rstrip: boolean;
  singleWord: boolean;
  /** Matched on the normalized text rather than the raw text. */
  normalized: boolean;
}

/** How BPE chooses the next pair to merge. */
export type MergePriority =
  /** Ordered merges list: lower rank first (Hugging Face BPE, GGUF `gpt2`). */
  | 'merges'
  /** Rank of the merged token, lower first (tiktoken). */
  | 'token-rank'
  /** Score of the merged piece, higher first (SentencePiece BPE, GGUF `llama`). */
  | 'piece-score';

export interface BpeOptions {
  priority: MergePriority;
  byteFallback: boolean;
  /** Unknown-token piece, or null when the model has none (unknown text is dropped). */
  unkToken: string | null;
  fuseUnk: boolean;
  /** A word that is itself a token is emitted without merging (Llama 3). */
  ignoreMerges: boolean;
  continuingSubwordPrefix: string;
  endOfWordSuffix: string;
}

export interface UnigramOptions {
  unkId: number | null;
  byteFallback: boolean;
}

export interface WordPieceOptions {
  unkToken: string;
  continuingSubwordPrefix: string;
  maxInputCharsPerWord: number;
}

/** A Hugging Face tokenizer.json component spec (`{ type: ..., ... }`), kept as JSON. */
export type Spec = { type: string; [key: string]: unknown };

export interface Tokenizer {
  /** Where it was read from. */
  source: { path: string; format: TokenizerFormat };
  model: ModelKind;
  pieceStyle: PieceStyle;
  /** Piece text by id, as the file spells it; null for ids the file leaves empty. */
  tokens: (string | null)[];
  types: TokenType[];
  /** SentencePiece / GGUF scores by id, where the format has them. */
  scores: Float32Array | null;
  /** Ordered merges as piece pairs, where the format lists them. */
  merges: [string, string][] | null;
  /** Tokens matched in raw text before the model runs. */
  added: AddedToken[];
  /** Named special tokens (bos, eos, unk, pad, ...), by id. */
  specialIds: Record<string, number>;
  /** Normalizer and pre-tokenizer specs (tokenizer.json form); null = none. */
  normalizer: Spec | null;
  preTokenizer: Spec | null;
  bpe: BpeOptions | null;
  unigram: UnigramOptions | null;
  wordpiece: WordPieceOptions | null;
  /** Why this tokenizer cannot encode text, when it cannot (the comparison still uses its vocab). */
  encodeUnsupported: string | null;
  /** Free-form facts worth reporting (e.g. the GGUF pre-tokenizer name). */
  notes: string[];
}

/** Number of ids the tokenizer defines (its own vocabulary size). */
export function vocabSize(tok: Tokenizer): number {
  return tok.tokens.length;
}
