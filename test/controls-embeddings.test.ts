/**
 * Embeddings over shared tokens (issue 5): synthetic models on disk with tokenizer.json files: a
 * vocabulary-extended derivative (rows appended for new tokens), the same renumbered (rows
 * shuffled with their ids, lm_head tied), an independent model that shares most of the tokens,
 * a model of another hidden size, and a model without a tokenizer.
 */
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openCheckpoint } from '../core/src/checkpoint/folder.ts';
import { analyzeSharedEmbeddings } from '../core/src/controls/embeddings.ts';
import { Random } from '../core/src/synth/random.ts';
import { synthesize } from '../core/src/synth/synth.ts';
import { loadTokenizer } from '../core/src/tokenizer/index.ts';
import { BYTE_TO_CHAR } from '../core/src/tokenizer/pieces.ts';
import { tempDir } from './helpers/tmpdir.ts';
import { rewrite, shuffled } from './helpers/rewrite.ts';

const HIDDEN = 64;
const BASE_VOCAB = 600;
const NEW_TOKENS = 88;



/** Distinct pseudo-words spelled in the GPT-2 byte alphabet (`Ġ` = a leading space). */
function words(count: number, seed: number, avoid: Set<string>): string[] {
  const random = new Random(seed, 'words');
  const out: string[] = [];
  const seen = new Set(avoid);
  while (out.length < count) {
    const len = 3 + Math.floor(random.uniform() * 6);
    let w = 'Ġ';
    for (let i = 0; i < len; i++) w += String.fromCharCode(97 + Math.floor(random.uniform() * 26));
    if (!seen.has(w)) { seen.add(w); out.push(w); }
  }
  return out;
}

/** A byte-level BPE tokenizer.json whose vocabulary is `tokens` by id; specials are added tokens at the given ids. */
function writeTokenizer(folder: string, tokens: (string | null)[], specials: Record<number, string>): void {
  const vocab: Record<string, number> = {};
  tokens.forEach((tok, id) => { if (tok !== null && specials[id] === undefined) vocab[tok] = id; });
  writeFileSync(join(folder, 'tokenizer.json'), JSON.stringify({
    version: '1.0',
    added_tokens: Object.entries(specials).map(([id, content]) => ({ id: Number(id), content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, fuse_unk: false, byte_fallback: false, vocab, merges: [] },
  }));
}


const isVocabTensor = (name: string) => name === 'model.embed_tokens.weight' || name === 'lm_head.weight';
const root = tempDir('lineage-embeddings-');
const p = (name: string) => join(root, name);
const shape = { layers: 1, hidden: HIDDEN, heads: 4, kvHeads: 2, intermediate: 128, vocab: BASE_VOCAB };

// A: 256 byte tokens, 343 words, one special token.
const bytes = [...BYTE_TO_CHAR];
const wordsA = words(BASE_VOCAB - 257, 1, new Set(bytes));
const tokensA: string[] = [...bytes, ...wordsA, '<|endoftext|>'];
synthesize('base', { out: p('base'), seed: 31, shape });
writeTokenizer(p('base'), tokensA, { [BASE_VOCAB - 1]: '<|endoftext|>' });

// B: A fine-tuned, with 88 new tokens appended (87 words and a special) and rows for them.
const newWords = words(NEW_TOKENS - 1, 2, new Set(tokensA));
const tokensB = [...tokensA, ...newWords, '<|im_start|>'];
const vocabB = BASE_VOCAB + NEW_TOKENS;
synthesize('derivative', { out: p('derived'), like: p('base'), drift: 0.03, seed: 32 });
const fresh = new Random(33, 'new rows');
rewrite(p('derived'), p('extended'), (name, shape, values) => {
  if (!isVocabTensor(name)) return [{ name, shape, values }];
  const rows = new Float32Array(vocabB * HIDDEN);
  rows.set(values);
  for (let i = values.length; i < rows.length; i++) rows[i] = 0.02 * fresh.normal();
  return [{ name, shape: [vocabB, HIDDEN], values: rows }];
}, (c) => ({ ...c, vocab_size: vocabB }));
writeTokenizer(p('extended'), tokensB, { [BASE_VOCAB - 1]: '<|endoftext|>', [vocabB - 1]: '<|im_start|>' });

// B': the extended model renumbered (token i of B is token order[i] of B', its rows move with it), lm_head tied.
const order = shuffled(vocabB, 4);
rewrite(p('extended'), p('renumbered'), (name, shape, values) => {
  if (name === 'lm_head.weight') return [];
  if (!isVocabTensor(name)) return [{ name, shape, values }];
  const rows = new Float32Array(values.length);
  for (let i = 0; i < vocabB; i++) rows.set(values.subarray(i * HIDDEN, (i + 1) * HIDDEN), order[i]! * HIDDEN);
  return [{ name, shape, values: rows }];
}, (c) => ({ ...c, tie_word_embeddings: true }));
const tokensRenumbered = new Array<string>(vocabB);
tokensB.forEach((tok, i) => { tokensRenumbered[order[i]!] = tok; });
writeTokenizer(p('renumbered'), tokensRenumbered, { [order[BASE_VOCAB - 1]!]: '<|endoftext|>', [order[vocabB - 1]!]: '<|im_start|>' });

// C: independent, 700 tokens: the bytes, 300 of A's words at other ids, 143 of its own, the special.
const vocabC = 700;
const ownWords = words(vocabC - 257 - 300, 5, new Set([...tokensB]));
const pickedA = shuffled(wordsA.length, 6).slice(0, 300).map((i) => wordsA[i]!);
const tokensC = [...bytes, ...shuffled(443, 7).map((i) => [...pickedA, ...ownWords][i]!), '<|endoftext|>'];
synthesize('base', { out: p('independent'), seed: 34, shape: { ...shape, vocab: vocabC } });
writeTokenizer(p('independent'), tokensC, { [vocabC - 1]: '<|endoftext|>' });

// D: another hidden size; E: no tokenizer at all.
synthesize('base', { out: p('narrow'), seed: 35, shape: { ...shape, hidden: 32, heads: 2, kvHeads: 1 } });
writeTokenizer(p('narrow'), tokensA, { [BASE_VOCAB - 1]: '<|endoftext|>' });
synthesize('base', { out: p('no-tokenizer'), seed: 36, shape });

const model = async (name: string) => ({ ck: openCheckpoint(p(name)), tok: await loadTokenizer(p(name)) });

test('a vocabulary-extended derivative: the shared tokens keep their rows', async (t) => {
  const [a, b] = [await model('base'), await model('extended')];
  t.not(a.ck.tensors.find((x) => x.name === 'model.embed_tokens.weight')!.shape[0], b.ck.tensors.find((x) => x.name === 'model.embed_tokens.weight')!.shape[0], 'shapes differ');
  const c = (await analyzeSharedEmbeddings(a.ck, b.ck, a.tok, b.tok, { seed: 1 }))!;
  t.log(`extended: cc ${c.centeredCosine}, rows ${c.rowMean} vs null ${c.nullMean} ± ${c.nullSd} (closed form ${c.closedFormNullSd}), z ${c.z}`);
  t.is(c.sharedTokens, BASE_VOCAB);
  t.is(c.sameIdShare, 1);
  t.is(c.rowsCompared, BASE_VOCAB);
  t.deepEqual(c.tensors.map((x) => x.tensor), ['embedding', 'lm_head']);
  t.true(c.centeredCosine! > 0.99 && c.cosine! > 0.99);
  t.true(c.rowMean! > 0.99);
  t.true(Math.abs(c.nullMean!) < 0.05, 'other tokens\' rows are unrelated');
  t.true(c.z! > 100);
  for (const x of c.tensors) t.true(x.z! > 50 && x.centeredCosine! > 0.99, `${x.tensor}: z ${x.z}`);
  t.regex(c.nullKind, /^empirical/);
});

test('renumbered vocabulary: tokens are matched by their bytes, not their ids', async (t) => {
  const [a, b] = [await model('base'), await model('renumbered')];
  const c = (await analyzeSharedEmbeddings(a.ck, b.ck, a.tok, b.tok, { seed: 1, threads: 2 }))!;
  t.is(c.sharedTokens, BASE_VOCAB);
  t.true(c.sameIdShare! < 0.05);
  t.deepEqual(c.tensors.map((x) => x.tensor), ['embedding'], 'lm_head is tied on one side: embedding rows only');
  t.true(c.centeredCosine! > 0.99);
  t.true(c.z! > 100);
  // Pairing rows by id instead (both sides read with A's vocabulary) finds nothing.
  const byId = (await analyzeSharedEmbeddings(a.ck, b.ck, a.tok, a.tok, { seed: 1 }))!;
  t.true(Math.abs(byId.z!) < 4, `rows paired by id: z ${byId.z}`);
  t.true(Math.abs(byId.centeredCosine!) < 0.05);
});

test('a sample of the shared rows is enough', async (t) => {
  const [a, b] = [await model('base'), await model('extended')];
  const c = (await analyzeSharedEmbeddings(a.ck, b.ck, a.tok, b.tok, { seed: 9, maxRows: 64 }))!;
  t.is(c.rowsCompared, 64);
  t.is(c.sharedTokens, BASE_VOCAB);
  t.true(c.z! > 30);
  const again = (await analyzeSharedEmbeddings(a.ck, b.ck, a.tok, b.tok, { seed: 9, maxRows: 64 }))!;
  t.deepEqual(again, c, 'seeded: the same rows and the same numbers');
  const sampled = (await analyzeSharedEmbeddings(a.ck, b.ck, a.tok, b.tok, { seed: 9, sample: 0.1 }))!;
  t.is(sampled.rowsCompared, 256, 'a 10% sample keeps at least 256 rows');
});

test('an independent model sharing most tokens: rows at their null', async (t) => {
  const [a, c] = [await model('base'), await model('independent')];
  const e = (await analyzeSharedEmbeddings(a.ck, c.ck, a.tok, c.tok, { seed: 1 }))!;
  t.log(`independent: shared ${e.sharedTokens}, cc ${e.centeredCosine}, rows ${e.rowMean} vs null ${e.nullMean} ± ${e.nullSd} (closed form ${e.closedFormNullSd}), z ${e.z}`);
  t.is(e.sharedTokens, 256 + 300 + 1);
  t.true(e.sameIdShare! < 0.5);
  t.true(Math.abs(e.centeredCosine!) < 0.05);
  t.true(Math.abs(e.z!) < 4, `z = ${e.z}`);
  for (const x of e.tensors) t.true(Math.abs(x.z!) < 4, `${x.tensor}: z ${x.z}`);
  // Isotropic random rows: the empirical null agrees with the closed form.
  t.true(e.nullSd! / e.closedFormNullSd! > 0.8 && e.nullSd! / e.closedFormNullSd! < 1.25, `${e.nullSd} vs ${e.closedFormNullSd}`);
});

test('another hidden size: shared tokens counted, rows not comparable', async (t) => {
  const [a, d] = [await model('base'), await model('narrow')];
  const c = (await analyzeSharedEmbeddings(a.ck, d.ck, a.tok, d.tok))!;
  t.is(c.sharedTokens, BASE_VOCAB);
  t.is(c.z, null);
  t.is(c.centeredCosine, null);
  t.is(c.rowsCompared, 0);
  t.regex(c.note, /hidden sizes differ \(64 vs 32\)/);
});

test('no tokenizer on a side: null, no error', async (t) => {
  const [a, e] = [await model('base'), await model('no-tokenizer')];
  t.is(e.tok, null);
  t.is(await analyzeSharedEmbeddings(a.ck, e.ck, a.tok, e.tok), null);
  t.is(await analyzeSharedEmbeddings(e.ck, a.ck, e.tok, a.tok), null);
});
