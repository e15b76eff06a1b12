/**
 * The relation between real tokenizers, with the facts behind it: Llama 3 extends cl100k, Phi-3
 * extends Llama 2, MPT and GPT-NeoX are identical, Llama 2 and Mistral 7B are independent despite
 * sharing three quarters of their tokens, Qwen extends cl100k (minus its multi-digit tokens),
 * BORA (Korean, from scratch) is independent of Llama 2, and the Phi-3 merge holds Llama 2's
 * vocabulary plus added tokens.
 */
import { compareTokenizers, type TokenizerComparison, type TokenizerSection } from '../core/src/tokenizer/index.ts';
import { load, testWith, type SourceName } from './tokenizer-sources.ts';

async function compare(a: SourceName, b: SourceName, options = {}): Promise<TokenizerComparison> {
  const section: TokenizerSection = compareTokenizers(await load(a), await load(b), options);
  if (!section.available) throw new Error(section.reason);
  return section;
}

testWith(['llama3', 'cl100k'])('Llama 3 extends cl100k: its first 100,256 tokens at the same ids, 28,000 added', async (t) => {
  const s = await compare('llama3', 'cl100k');
  t.is(s.relation, 'extension', s.relationReason);
  t.is(s.vocabSizeA, 128256);
  t.is(s.vocabSizeB, 100277);
  t.false(s.vocabSizeMatch.tokenizer);
  t.is(s.sharedTokens.count, 100256);
  t.is(s.sameIdRate, 1);
  t.deepEqual(s.onlyA.idRange, [100256, 128255]);
  t.is(s.onlyA.count, 28000);
  t.is(s.onlyA.special, 256);
  t.true(s.specialTokens.onlyB.includes('<|endoftext|>'));
  t.true(s.merges.available && s.merges.commonPrefix === 100000 && s.merges.late.rankCorrelation === 1);
  t.regex(s.relationReason, /A holds 99\.995% of B's tokens/);
  // Same split pattern family and the same first 100k merges: English and code encode the same.
  t.true(s.encodingAgreement.available && s.encodingAgreement.byCategory.code!.identicalTextShare === 1);
});

testWith(['phi3', 'llama2'])('Phi-3 extends Llama 2: the same 32,000 tokens and merge order, 64 tokens added', async (t) => {
  const s = await compare('phi3', 'llama2');
  t.is(s.relation, 'extension', s.relationReason);
  t.is(s.sameIdRate, 1);
  t.deepEqual(s.onlyA.idRange, [32000, 32063]);
  t.is(s.onlyB.count, 0);
  t.true(s.merges.available && s.merges.commonPrefix === s.merges.countA && s.merges.countA === s.merges.countB);
  t.true(s.encodingAgreement.available && s.encodingAgreement.identicalIdsShare === 1);
});

testWith(['mpt', 'neox'])('MPT and GPT-NeoX are identical', async (t) => {
  const s = await compare('mpt', 'neox');
  t.is(s.relation, 'identical', s.relationReason);
  t.is(s.vocabHashA, s.vocabHashB);
  t.true(s.vocabSizeMatch.tokenizer);
  t.true(s.merges.available && s.merges.pairJaccard === 1);
});

testWith(['llama2', 'mistral'])('Llama 2 and Mistral 7B are independent despite sharing 75% of their tokens', async (t) => {
  const s = await compare('llama2', 'mistral');
  t.is(s.relation, 'independent', s.relationReason);
  t.true(s.vocabSizeMatch.tokenizer, 'both have exactly 32,000 ids: size alone would mislead');
  t.true(s.sharedTokens.shareOfA! > 0.7 && s.sharedTokens.shareOfB! > 0.7);
  t.true(s.sameIdRate! < 0.05);
  t.true(s.merges.available && s.merges.late.rankCorrelation! < 0.9 && Math.abs(s.merges.late.orderAgreement! - 0.5) < 0.05);
});

testWith(['qwen3', 'cl100k'])('Qwen extends cl100k: 98.9% of it in the same order, minus 1,100 number tokens', async (t) => {
  const s = await compare('qwen3', 'cl100k');
  t.is(s.relation, 'extension', s.relationReason);
  t.true(s.sameIdRate! < 0.01, 'ids shifted where the number tokens were removed');
  t.is(s.idAlignment.neighbourAgreement, 1);
  t.is(s.onlyB.count - s.onlyB.special, 1100);
  t.deepEqual(Object.keys(s.onlyB.scripts), ['digits']);
  t.true(s.merges.available && s.merges.late.rankCorrelation === 1);
});

testWith(['bora', 'llama2'])('BORA (Korean, trained from scratch) is independent of Llama 2', async (t) => {
  const s = await compare('bora', 'llama2');
  t.is(s.relation, 'independent', s.relationReason);
  t.true(s.sharedTokens.shareOfA! < 0.1);
  t.is(Object.keys(s.onlyA.scripts)[0], 'Hangul');
});

testWith(['phi3Merge', 'llama2'])('the Phi-3 merge holds Llama 2\'s vocabulary plus added tokens', async (t) => {
  const s = await compare('phi3Merge', 'llama2');
  t.is(s.relation, 'extension', s.relationReason);
  t.is(s.sameIdRate, 1);
  t.true(s.sharedTokens.shareOfB! > 0.9999);
  t.true(s.onlyA.special >= 11);
  t.true(s.specialTokens.onlyA.includes('<|user|>'));
});

testWith(['gpt2', 'r50k', 'p50k'])('GPT-2 (GGUF) is r50k (tiktoken); p50k extends it with whitespace tokens', async (t) => {
  const same = await compare('gpt2', 'r50k');
  t.is(same.relation, 'identical', same.relationReason);
  const ext = await compare('r50k', 'p50k');
  t.is(ext.relation, 'extension', ext.relationReason);
  t.deepEqual(Object.keys(ext.onlyB.scripts), ['whitespace']);
});

testWith(['o200k', 'cl100k', 'gemma', 'llama2'])('independent vocabularies with large overlap: o200k/cl100k, Gemma/Llama 2', async (t) => {
  const openai = await compare('o200k', 'cl100k');
  t.is(openai.relation, 'independent', openai.relationReason);
  const gemma = await compare('gemma', 'llama2');
  t.is(gemma.relation, 'independent', gemma.relationReason);
  t.true(gemma.sharedTokens.shareOfB! > 0.9, 'the seed\'s 90-98% band would call this an extension');
  t.regex(gemma.overlapBand, /90-98%/);
});

testWith(['starcoder', 'refact', 'granite'])('StarCoder, Refact and Granite: the same tokens renumbered', async (t) => {
  const s = await compare('starcoder', 'refact');
  t.is(s.relation, 'reordered', s.relationReason);
  t.true(s.sharedTokens.shareOfA! > 0.99 && s.sameIdRate! < 0.05);
  t.true(s.encodingAgreement.available && s.encodingAgreement.identicalTextShare === 1 && s.encodingAgreement.identicalIdsShare === 0);
  const g = await compare('granite', 'starcoder');
  t.is(g.relation, 'reordered', g.relationReason);
});

testWith(['deepseekLlm', 'deepseekCoder', 'llama3', 'qwen3'])('one lineage, neither containing the other: overlapping', async (t) => {
  const ds = await compare('deepseekLlm', 'deepseekCoder');
  t.is(ds.relation, 'overlapping', ds.relationReason);
  const siblings = await compare('llama3', 'qwen3');
  t.is(siblings.relation, 'overlapping', siblings.relationReason);
});

testWith(['bge', 'gpt2'])('WordPiece against byte-level BPE: compared by bytes, no merge order', async (t) => {
  const s = await compare('bge', 'gpt2');
  t.is(s.relation, 'independent', s.relationReason);
  t.false(s.merges.available);
  t.true(s.sharedTokens.count > 10000, 'word-initial WordPieces meet space-prefixed BPE tokens');
});

testWith(['llama3', 'cl100k'])('the relation does not depend on the argument order', async (t) => {
  const ab = await compare('llama3', 'cl100k');
  const ba = await compare('cl100k', 'llama3');
  t.is(ab.relation, ba.relation);
  t.is(ab.sharedTokens.count, ba.sharedTokens.count);
  t.is(ab.sharedTokens.shareOfA, ba.sharedTokens.shareOfB);
  t.deepEqual(ab.onlyA, ba.onlyB);
});

testWith(['llama2', 'phi3'])('config vocab sizes are reported beside the tokenizers\' own', async (t) => {
  const s = await compare('phi3', 'llama2', { configVocabA: 32064, configVocabB: 32000 });
  t.is(s.configVocabSizeA, 32064);
  t.is(s.configVocabSizeB, 32000);
  t.false(s.vocabSizeMatch.config);
  const same = await compare('llama2', 'llama2', { configVocabA: 32000, configVocabB: 32000 });
  t.is(same.relation, 'identical');
  t.true(same.vocabSizeMatch.config);
  t.is(same.encodingAgreement.available && same.encodingAgreement.boundaryF1, 1);
});
