/**
 * Tokenizer evidence of lineage: load a tokenizer from any of its file formats into one
 * normalized model, encode text with it exactly as its own library would, and compare two of
 * them (vocabulary as bytes, ids, special tokens, merge order, encodings) into the report's
 * `tokenizer` section.
 */
export { loadTokenizer, fromGguf, fromSentencePiece, fromTiktoken, fromTokenizerJson } from './load.ts';
export { compareTokenizers } from './compare.ts';
export { renderTokenizerText } from './render.ts';
export type { CompareOptions, TokenizerComparison, TokenizerSection, TokenizerSummary } from './compare.ts';
export { createEncoder } from './encode.ts';
export type { Encoder } from './encode.ts';
export { BUILTIN_CORPUS } from './corpus.ts';
export type { CorpusCategory, CorpusText } from './corpus.ts';
export type { EncodingAgreement } from './encoding.ts';
export type { MergeComparison, MergeSection } from './merges.ts';
export type { TokenSetDiff } from './overlap.ts';
export type { Relation } from './relation.ts';
export type { AddedToken, BpeOptions, ModelKind, Tokenizer, TokenizerFormat, TokenType } from './model.ts';
export type { PieceStyle } from './pieces.ts';
export { vocabSize } from './model.ts';
