import test from 'ava';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { BadInputError } from '../core/src/errors.ts';
import {
  GgufTruncatedError, parseGguf, readGgufFile, readGgufVocab, type GgufFile,
} from '../core/src/tokenizer/formats/gguf.ts';
import {
  ByteWriter, garr, gstrs, GGUF_VOCAB_DIR, testIfPresent, writeGguf, writeGgufString, type GgufW,
} from './tokenizer-formats-fixtures.ts';

const realTest = testIfPresent([GGUF_VOCAB_DIR], 'the llama.cpp vocab GGUF files in shared/data/gguf-vocab');

function load(name: string): GgufFile {
  const path = GGUF_VOCAB_DIR + name;
  return parseGguf(readFileSync(path), path);
}

/** Expected vocabulary facts of each real file (from llama.cpp's conversion of the original tokenizers). */
const EXPECTED: Record<string, { model: string; tokens: number; pre?: string; merges?: number; bos?: number; eos?: number }> = {
  'ggml-vocab-llama-spm.gguf': { model: 'llama', tokens: 32000, pre: 'default', bos: 1, eos: 2 },
  'ggml-vocab-phi-3.gguf': { model: 'llama', tokens: 32064, pre: 'default', bos: 1, eos: 32000 },
  'ggml-vocab-baichuan.gguf': { model: 'llama', tokens: 64000, bos: 1, eos: 2 },
  'ggml-vocab-bert-bge.gguf': { model: 'bert', tokens: 30522, pre: 'bert-bge' },
  'ggml-vocab-gpt-2.gguf': { model: 'gpt2', tokens: 50257, pre: 'gpt-2', merges: 50000, bos: 50256, eos: 50256 },
  'ggml-vocab-gpt-neox.gguf': { model: 'gpt2', tokens: 50432, merges: 50009, bos: 0, eos: 0 },
  'ggml-vocab-mpt.gguf': { model: 'gpt2', tokens: 50432, pre: 'mpt', merges: 50009 },
  'ggml-vocab-refact.gguf': { model: 'gpt2', tokens: 49216, pre: 'refact', merges: 48891 },
  'ggml-vocab-starcoder.gguf': { model: 'gpt2', tokens: 49152, pre: 'starcoder', merges: 48872 },
  'ggml-vocab-deepseek-coder.gguf': { model: 'gpt2', tokens: 32256, pre: 'deepseek-coder', merges: 31757, bos: 32013, eos: 32014 },
  'ggml-vocab-deepseek-llm.gguf.gz': { model: 'gpt2', tokens: 102400, pre: 'deepseek-llm', merges: 99757, bos: 100000, eos: 100001 },
  'ggml-vocab-falcon.gguf.gz': { model: 'gpt2', tokens: 65024, pre: 'falcon', merges: 64784, bos: 11, eos: 11 },
};

realTest('every real vocab GGUF parses, with the vocabulary llama.cpp converted', (t) => {
  const names = readdirSync(GGUF_VOCAB_DIR).filter((n) => /\.gguf(\.gz)?$/.test(n)).sort();
  t.deepEqual(names, Object.keys(EXPECTED).sort(), 'the test knows every file in the folder');
  for (const name of names) {
    const gguf = load(name);
    const vocab = readGgufVocab(gguf);
    const want = EXPECTED[name]!;
    t.is(gguf.version, 3, name);
    t.is(gguf.tensors.length, 0, `${name} is vocab-only`);
    t.is(vocab.model, want.model, name);
    t.is(vocab.tokens.length, want.tokens, name);
    t.is(vocab.pre, want.pre, name);
    t.is(vocab.merges?.length, want.merges, name);
    if (want.bos !== undefined) t.is(vocab.bosId, want.bos, name);
    if (want.eos !== undefined) t.is(vocab.eosId, want.eos, name);
    t.deepEqual(vocab.warnings, [], name);
    // Per-token arrays agree with the token list, and tokens are unique.
    t.is(vocab.tokenTypes?.length, want.tokens, name);
    if (vocab.scores) t.is(vocab.scores.length, want.tokens, name);
    t.is(new Set(vocab.tokens).size, want.tokens, `${name} has unique tokens`);
    // The architecture's own vocab_size, where recorded, matches.
    const arch = gguf.metadata.get('general.architecture') as string;
    const declared = gguf.metadata.get(`${arch}.vocab_size`);
    if (declared !== undefined) t.is(declared, want.tokens, name);
    t.is(gguf.dataOffset % 32, 0, name);
    // With no tensors the file may end before the alignment padding, never earlier.
    if (!name.endsWith('.gz')) t.true(gguf.dataOffset - readFileSync(GGUF_VOCAB_DIR + name).length < 32, name);
    // BPE merges: "a b" with one space, and each merge's result is itself a token.
    if (vocab.merges) {
      const tokens = new Set(vocab.tokens);
      const broken = vocab.merges.filter((m) => {
        const parts = m.split(' ');
        return parts.length !== 2 || !tokens.has(parts[0]! + parts[1]!);
      });
      t.deepEqual(broken, [], `${name}: every merge yields a token`);
    }
  }
});

realTest('llama-spm: SentencePiece vocabulary with scores, types and byte tokens', (t) => {
  const gguf = load('ggml-vocab-llama-spm.gguf');
  const v = readGgufVocab(gguf);
  t.deepEqual(v.tokens.slice(0, 4), ['<unk>', '<s>', '</s>', '<0x00>']);
  t.is(v.tokens[259], '▁▁');
  t.is(v.unkId, 0);
  t.is(v.addBos, true);
  t.is(v.addEos, false);
  t.true(v.scores instanceof Float32Array);
  t.true(v.tokenTypes instanceof Int32Array);
  const typeCounts = new Map<number, number>();
  for (const ty of v.tokenTypes!) typeCounts.set(ty, (typeCounts.get(ty) ?? 0) + 1);
  t.deepEqual([...typeCounts].sort((a, b) => a[0] - b[0]), [[1, 31741], [2, 1], [3, 2], [6, 256]]);
  // Byte tokens <0x00>..<0xFF> sit at ids 3..258 with type 6.
  for (let b = 0; b < 256; b++) {
    t.is(v.tokens[3 + b], `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    t.is(v.tokenTypes![3 + b], 6);
  }
  // Scores of normal pieces decrease with the id (SentencePiece BPE stores -rank).
  t.true(v.scores![1000]! > v.scores![20000]!);
  t.is(gguf.metadataTypes.get('tokenizer.ggml.tokens'), 'array<string>');
  t.is(gguf.metadataTypes.get('tokenizer.ggml.scores'), 'array<float32>');
  t.is(gguf.metadata.get('llama.block_count'), 32);
});

realTest('phi-3 and bert-bge keep their other tokenizer keys', (t) => {
  const phi = readGgufVocab(load('ggml-vocab-phi-3.gguf'));
  t.is(typeof phi.other.get('tokenizer.chat_template'), 'string');
  t.is(phi.padId, 32000);
  t.is(phi.tokens[32000], '<|endoftext|>');
  const bert = readGgufVocab(load('ggml-vocab-bert-bge.gguf'));
  t.is(bert.unkId, 100);
  t.is(bert.tokens[100], '[UNK]');
  t.is(bert.other.get('tokenizer.ggml.cls_token_id'), 101);
  t.is(bert.other.get('tokenizer.ggml.seperator_token_id'), 102);
  t.is(bert.other.get('tokenizer.ggml.mask_token_id'), 103);
});

realTest('gpt-2: byte-level BPE vocabulary', (t) => {
  const v = readGgufVocab(load('ggml-vocab-gpt-2.gguf'));
  t.is(v.tokens[50256], '<|endoftext|>');
  t.is(v.tokens[0], '!');
  t.is(v.merges![0], 'Ġ t');
  t.is(v.scores, undefined);
});

realTest('a gzip GGUF parses the same as its decompressed bytes', (t) => {
  const path = GGUF_VOCAB_DIR + 'ggml-vocab-falcon.gguf.gz';
  const gz = readFileSync(path);
  const a = readGgufVocab(parseGguf(gz, path));
  const b = readGgufVocab(parseGguf(gunzipSync(gz), path));
  t.deepEqual(a.tokens, b.tokens);
  t.deepEqual(a.merges, b.merges);
});

realTest('every cut of a real header is reported as truncated, naming the file', (t) => {
  const bytes = readFileSync(GGUF_VOCAB_DIR + 'ggml-vocab-llama-spm.gguf');
  const full = parseGguf(bytes, 'x');
  // Cut at the start, inside the counts, the metadata, and just before the end of the header.
  for (const cut of [0, 3, 7, 20, 100, 1000, 300_000, full.dataOffset - 40]) {
    const err = t.throws(() => parseGguf(bytes.subarray(0, cut), 'llama-spm.gguf'), { instanceOf: BadInputError });
    t.is(err?.file, 'llama-spm.gguf');
    t.true(err instanceof GgufTruncatedError, `cut at ${cut}: ${err?.message}`);
    t.true(err?.message.startsWith('llama-spm.gguf: '));
  }
  // Truncated gzip is a gzip error, still named.
  const gz = gzipSync(bytes);
  const err = t.throws(() => parseGguf(gz.subarray(0, gz.length - 100), 'cut.gguf.gz'), { instanceOf: BadInputError });
  t.regex(err!.message, /^cut\.gguf\.gz: not a valid gzip stream/);
});

// --------------------------------------------------------------------------------------------
// Synthetic files: every value type, v2 and v3, and each kind of damage.

const ALL_TYPES: [string, GgufW][] = [
  ['t.u8', { t: 'uint8', v: 255 }],
  ['t.i8', { t: 'int8', v: -128 }],
  ['t.u16', { t: 'uint16', v: 65535 }],
  ['t.i16', { t: 'int16', v: -32768 }],
  ['t.u32', { t: 'uint32', v: 4294967295 }],
  ['t.i32', { t: 'int32', v: -2147483648 }],
  ['t.f32', { t: 'float32', v: 0.5 }],
  ['t.f64', { t: 'float64', v: Math.PI }],
  ['t.bool', { t: 'bool', v: true }],
  ['t.str', { t: 'string', v: 'héllo ▁ 世界' }],
  ['t.u64.safe', { t: 'uint64', v: 2 ** 53 - 1 }],
  ['t.u64.big', { t: 'uint64', v: 2n ** 64n - 1n }],
  ['t.i64.neg', { t: 'int64', v: -5 }],
  ['t.i64.big', { t: 'int64', v: -(2n ** 63n) }],
  ['a.u8', garr('uint8', [{ t: 'uint8', v: 1 }, { t: 'uint8', v: 2 }])],
  ['a.i8', garr('int8', [{ t: 'int8', v: -1 }])],
  ['a.u16', garr('uint16', [{ t: 'uint16', v: 513 }])],
  ['a.i16', garr('int16', [{ t: 'int16', v: -513 }])],
  ['a.u32', garr('uint32', [{ t: 'uint32', v: 70000 }, { t: 'uint32', v: 1 }])],
  ['a.i32', garr('int32', [{ t: 'int32', v: -70000 }])],
  ['a.f32', garr('float32', [{ t: 'float32', v: -1.25 }, { t: 'float32', v: 3 }])],
  ['a.f64', garr('float64', [{ t: 'float64', v: 1e300 }])],
  ['a.u64', garr('uint64', [{ t: 'uint64', v: 2n ** 63n }])],
  ['a.i64', garr('int64', [{ t: 'int64', v: -7 }])],
  ['a.bool', garr('bool', [{ t: 'bool', v: false }, { t: 'bool', v: true }])],
  ['a.str', gstrs(['a', '', 'ünï'])],
  ['a.empty', garr('int32', [])],
  ['a.nested', garr('array', [gstrs(['x', 'y']), garr('int32', [{ t: 'int32', v: 9 }]), garr('array', [garr('uint8', [{ t: 'uint8', v: 7 }])])])],
  ['general.alignment', { t: 'uint32', v: 64 }],
];

const TENSORS = [
  { name: 'token_embd.weight', shape: [8, 4], type: 30, offset: 0 },
  { name: 'blk.0.attn_q.weight', shape: [8, 8], type: 12, offset: 64 },
  { name: 'odd', shape: [1], type: 250, offset: 128 },
];

for (const version of [2, 3] as const) {
  test(`GGUF v${version}: every metadata value type and tensor infos round-trip`, (t) => {
    const bytes = writeGguf({ version, kv: ALL_TYPES, tensors: TENSORS, dataBytes: 256, alignment: 64 });
    const g = parseGguf(bytes, 'synthetic.gguf');
    t.is(g.version, version);
    const m = g.metadata;
    t.is(m.get('t.u8'), 255);
    t.is(m.get('t.i8'), -128);
    t.is(m.get('t.u16'), 65535);
    t.is(m.get('t.i16'), -32768);
    t.is(m.get('t.u32'), 4294967295);
    t.is(m.get('t.i32'), -2147483648);
    t.is(m.get('t.f32'), 0.5);
    t.is(m.get('t.f64'), Math.PI);
    t.is(m.get('t.bool'), true);
    t.is(m.get('t.str'), 'héllo ▁ 世界');
    t.is(m.get('t.u64.safe'), 2 ** 53 - 1, 'safe 64-bit values are numbers');
    t.is(m.get('t.u64.big'), 2n ** 64n - 1n, 'unsafe 64-bit values are bigints');
    t.is(m.get('t.i64.neg'), -5);
    t.is(m.get('t.i64.big'), -(2n ** 63n));
    t.deepEqual(m.get('a.u8'), Uint8Array.from([1, 2]));
    t.deepEqual(m.get('a.i8'), Int8Array.from([-1]));
    t.deepEqual(m.get('a.u16'), Uint16Array.from([513]));
    t.deepEqual(m.get('a.i16'), Int16Array.from([-513]));
    t.deepEqual(m.get('a.u32'), Uint32Array.from([70000, 1]));
    t.deepEqual(m.get('a.i32'), Int32Array.from([-70000]));
    t.deepEqual(m.get('a.f32'), Float32Array.from([-1.25, 3]));
    t.deepEqual(m.get('a.f64'), Float64Array.from([1e300]));
    t.deepEqual(m.get('a.u64'), BigUint64Array.from([2n ** 63n]));
    t.deepEqual(m.get('a.i64'), BigInt64Array.from([-7n]));
    t.deepEqual(m.get('a.bool'), [false, true]);
    t.deepEqual(m.get('a.str'), ['a', '', 'ünï']);
    t.deepEqual(m.get('a.empty'), new Int32Array(0));
    t.deepEqual(m.get('a.nested'), [['x', 'y'], Int32Array.from([9]), [Uint8Array.from([7])]]);
    t.is(g.metadataTypes.get('a.nested'), 'array<array>');
    t.is(g.metadataTypes.get('t.u64.big'), 'uint64');
    t.is(g.alignment, 64);
    t.deepEqual(g.tensors, [
      { name: 'token_embd.weight', shape: [8, 4], type: 30, typeName: 'BF16', offset: 0 },
      { name: 'blk.0.attn_q.weight', shape: [8, 8], type: 12, typeName: 'Q4_K', offset: 64 },
      { name: 'odd', shape: [1], type: 250, typeName: null, offset: 128 },
    ]);
    t.is(g.dataOffset % 64, 0);
    t.is(bytes.length - g.dataOffset, 256, 'data starts right after the aligned header');
  });
}

test('a GGUF inside an unaligned view of a larger buffer parses', (t) => {
  const bytes = writeGguf({ kv: ALL_TYPES.slice(0, 22) });
  const host = new Uint8Array(bytes.length + 3);
  host.set(bytes, 3);
  const g = parseGguf(host.subarray(3), 'view.gguf');
  t.deepEqual(g.metadata.get('a.u32'), Uint32Array.from([70000, 1]));
  t.deepEqual(g.metadata.get('a.f32'), Float32Array.from([-1.25, 3]));
});

function badGguf(t: import('ava').ExecutionContext, bytes: Uint8Array, pattern: RegExp): void {
  const err = t.throws(() => parseGguf(bytes, 'bad.gguf'), { instanceOf: BadInputError });
  t.is(err?.file, 'bad.gguf');
  t.regex(err!.reason, pattern);
}

function header(version: number, tensors: number | bigint, kvs: number | bigint): ByteWriter {
  return new ByteWriter().push(Buffer.from('GGUF', 'latin1')).u32(version).u64(tensors).u64(kvs);
}

test('bad magic, wrong or big-endian version', (t) => {
  badGguf(t, Buffer.from('GGML\x03\0\0\0'), /not a GGUF file: magic is 47 47 4d 4c/);
  badGguf(t, new Uint8Array(0), /truncated GGUF: only 0 bytes, not even the magic/);
  badGguf(t, header(1, 0, 0).bytes(), /version 1 is not supported/);
  badGguf(t, header(4, 0, 0).bytes(), /unknown GGUF version 4/);
  badGguf(t, header(0x03000000, 0, 0).bytes(), /big-endian GGUF is not supported/);
});

test('a string whose length runs past the end', (t) => {
  const w = header(3, 0, 1).u64(1_000_000).push(new Uint8Array(20));
  badGguf(t, w.bytes(), /metadata key #0 at byte 24 has length 1000000, past the end/);
  const v = header(3, 0, 1);
  writeGgufString(v, 'key');
  v.u32(8).u64(50).push(Buffer.from('short'));
  badGguf(t, v.bytes(), /string value at byte \d+ has length 50, past the end/);
});

test('counts and array lengths the file cannot hold', (t) => {
  badGguf(t, header(3, 0, 2n ** 40n).bytes(), /claims 1099511627776 metadata entries/);
  badGguf(t, header(3, 2n ** 63n, 0).bytes(), /tensor count at byte 8 is implausibly large/);
  const w = header(3, 0, 1);
  writeGgufString(w, 'arr');
  w.u32(9).u32(4).u64(1_000_000_000).push(new Uint8Array(16));
  badGguf(t, w.bytes(), /array of 1000000000 uint32 at byte \d+ runs past the end/);
});

test('unknown value types, bad bools, duplicate keys, bad alignment and tensor infos', (t) => {
  const kv = (key: string, type: number, body: (w: ByteWriter) => void): Uint8Array => {
    const w = header(3, 0, 1);
    writeGgufString(w, key);
    w.u32(type);
    body(w);
    return w.bytes();
  };
  badGguf(t, kv('k', 13, (w) => w.u32(0)), /unknown GGUF value type 13/);
  badGguf(t, kv('k', 9, (w) => w.u32(99).u64(0)), /unknown GGUF value type 99/);
  badGguf(t, kv('k', 7, (w) => w.u8(2)), /bool at byte \d+ has value 2/);
  badGguf(t, writeGguf({ kv: [['k', { t: 'uint8', v: 1 }], ['k', { t: 'uint8', v: 2 }]] }), /duplicate metadata key "k"/);
  badGguf(t, writeGguf({ kv: [['general.alignment', { t: 'uint32', v: 48 }]] }), /general.alignment must be a positive power of two, got 48/);
  badGguf(t, writeGguf({ kv: [['general.alignment', { t: 'string', v: '32' }]] }), /general.alignment must be a positive power of two/);
  badGguf(t, writeGguf({ kv: [], tensors: [{ name: 'a', shape: [1], type: 0, offset: 16 }] }), /tensor "a" has data offset 16, not a multiple of the alignment 32/);
  badGguf(t, writeGguf({ kv: [], tensors: [{ name: 'a', shape: [1, 1, 1, 1, 1], type: 0, offset: 0 }] }), /tensor "a" has 5 dimensions/);
  badGguf(t, writeGguf({ kv: [], tensors: [{ name: 'a', shape: [1], type: 0, offset: 0 }, { name: 'a', shape: [1], type: 0, offset: 32 }] }), /duplicate tensor name "a"/);
  // A truncated tensor info is truncation, not a crash.
  const ok = writeGguf({ kv: [], tensors: [{ name: 'a', shape: [4, 4], type: 0, offset: 0 }] });
  badGguf(t, ok.subarray(0, ok.length - 4), /truncated GGUF: data offset of tensor "a"/);
});

// --------------------------------------------------------------------------------------------
// readGgufVocab on synthetic files

function vocabFile(kv: [string, GgufW][]): GgufFile {
  return parseGguf(writeGguf({ kv }), 'v.gguf');
}

test('readGgufVocab: typed arrays from other numeric types, ids, flags and other keys', (t) => {
  const v = readGgufVocab(vocabFile([
    ['tokenizer.ggml.model', { t: 'string', v: 'llama' }],
    ['tokenizer.ggml.tokens', gstrs(['<unk>', '<s>', '</s>', 'a'])],
    ['tokenizer.ggml.scores', garr('float64', [0, 0, 0, -1.5].map((v) => ({ t: 'float64', v })))],
    ['tokenizer.ggml.token_type', garr('uint8', [2, 3, 3, 1].map((v) => ({ t: 'uint8', v })))],
    ['tokenizer.ggml.bos_token_id', { t: 'uint32', v: 1 }],
    ['tokenizer.ggml.eos_token_id', { t: 'uint64', v: 2 }],
    ['tokenizer.ggml.unknown_token_id', { t: 'int32', v: 0 }],
    ['tokenizer.ggml.padding_token_id', { t: 'uint32', v: 99 }],
    ['tokenizer.ggml.add_space_prefix', { t: 'bool', v: false }],
    ['tokenizer.ggml.eot_token_id', { t: 'uint32', v: 2 }],
    ['tokenizer.chat_template', { t: 'string', v: '{{ x }}' }],
    ['general.name', { t: 'string', v: 'not tokenizer' }],
  ]));
  t.deepEqual(v.scores, Float32Array.from([0, 0, 0, -1.5]));
  t.deepEqual(v.tokenTypes, Int32Array.from([2, 3, 3, 1]));
  t.is(v.bosId, 1);
  t.is(v.eosId, 2);
  t.is(v.unkId, 0);
  t.is(v.padId, undefined, 'an out-of-range id is dropped, as llama.cpp does');
  t.deepEqual(v.warnings, ['tokenizer.ggml.padding_token_id = 99 is outside the vocabulary (0..3); ignored']);
  t.is(v.addSpacePrefix, false);
  t.is(v.addBos, undefined);
  t.deepEqual([...v.other.keys()], ['tokenizer.ggml.eot_token_id', 'tokenizer.chat_template']);
});

test('readGgufVocab: missing or mistyped tokenizer keys are named errors', (t) => {
  const model: [string, GgufW] = ['tokenizer.ggml.model', { t: 'string', v: 'gpt2' }];
  const tokens: [string, GgufW] = ['tokenizer.ggml.tokens', gstrs(['a', 'b'])];
  const cases: [[string, GgufW][], RegExp][] = [
    [[['general.name', { t: 'string', v: 'x' }]], /has no tokenizer \(tokenizer.ggml.model is missing\)/],
    [[['tokenizer.ggml.model', { t: 'uint32', v: 1 }], tokens], /tokenizer.ggml.model must be a string \(found uint32\)/],
    [[model], /tokenizer.ggml.tokens must be an array of strings \(found nothing\)/],
    [[model, ['tokenizer.ggml.tokens', garr('int32', [])]], /tokenizer.ggml.tokens must be an array of strings \(found array<int32>\)/],
    [[model, tokens, ['tokenizer.ggml.scores', garr('float32', [{ t: 'float32', v: 1 }])]], /tokenizer.ggml.scores has 1 entries for 2 tokens/],
    [[model, tokens, ['tokenizer.ggml.scores', gstrs(['1', '2'])]], /tokenizer.ggml.scores must be an array of numbers/],
    [[model, tokens, ['tokenizer.ggml.token_type', garr('float32', [{ t: 'float32', v: 1 }, { t: 'float32', v: 1 }])]], /token_type must be an array of integers/],
    [[model, tokens, ['tokenizer.ggml.merges', garr('int32', [])]], /tokenizer.ggml.merges must be an array of strings/],
    [[model, tokens, ['tokenizer.ggml.bos_token_id', { t: 'float32', v: 1.5 }]], /bos_token_id must be an integer \(found float32\)/],
    [[model, tokens, ['tokenizer.ggml.add_bos_token', { t: 'uint8', v: 1 }]], /add_bos_token must be a bool \(found uint8\)/],
  ];
  for (const [kv, pattern] of cases) {
    const err = t.throws(() => readGgufVocab(vocabFile(kv)), { instanceOf: BadInputError });
    t.is(err?.file, 'v.gguf');
    t.regex(err!.message, pattern);
  }
});

// --------------------------------------------------------------------------------------------
// readGgufFile: reads only the header of a large file, and names unreadable files.

test('readGgufFile reads a growing prefix: header bigger than the first read, tensor data not needed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lineage-gguf-'));
  try {
    // A 9 MiB string makes the header overflow the first 8 MiB read; 24 MiB of tensor data
    // follow that the reader must not need.
    const big = 'x'.repeat(9 << 20);
    const bytes = writeGguf({
      kv: [['big', { t: 'string', v: big }], ['tokenizer.ggml.model', { t: 'string', v: 'gpt2' }], ['tokenizer.ggml.tokens', gstrs(['a'])]],
      tensors: [{ name: 'w', shape: [3 << 20, 2], type: 0, offset: 0 }],
      dataBytes: 24 << 20,
    });
    const path = join(dir, 'model.gguf');
    writeFileSync(path, bytes);
    const g = await readGgufFile(path);
    t.is((g.metadata.get('big') as string).length, big.length);
    t.deepEqual(g.tensors[0]!.shape, [3 << 20, 2]);
    t.is(readGgufVocab(g).tokens[0], 'a');
    // The header alone (data cut off) still parses: only the header is read.
    writeFileSync(path, bytes.subarray(0, g.dataOffset));
    t.is((await readGgufFile(path)).tensors.length, 1);
    // A file that ends inside the header is truncated.
    writeFileSync(path, bytes.subarray(0, 9 << 20));
    await t.throwsAsync(readGgufFile(path), { instanceOf: GgufTruncatedError, message: /model\.gguf: truncated GGUF/ });
    await t.throwsAsync(readGgufFile(join(dir, 'absent.gguf')), { instanceOf: BadInputError, message: /absent\.gguf: cannot open/ });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
