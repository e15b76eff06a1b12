/**
 * The architecture section: field diffs, which tensor groups can be compared, the relation,
 * caveats and the compute estimate.
 */
import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { analyzeArchitecture, parseTokenCount, renderArchitectureText } from '../core/src/arch/index.ts';
import { runLength } from '../core/src/arch/diff.ts';
import { BadInputError } from '../core/src/errors.ts';

const FIXTURES = fileURLToPath(new URL('./fixtures/configs/', import.meta.url));
const DATA = fileURLToPath(new URL('../../shared/data/', import.meta.url));
const haveData = existsSync(DATA);
if (!haveData) console.warn(`arch-diff: ${DATA} is absent, so the tests on real configs are skipped`);
const dataTest = haveData ? test : test.skip;

type Json = Record<string, unknown>;
const readJson = (file: string): Json => JSON.parse(readFileSync(file, 'utf8')) as Json;
const fixture = (name: string) => readJson(`${FIXTURES}${name}.json`);
const real = (name: string) => readJson(`${DATA}configs/${name}`);
const groupOf = (section: ReturnType<typeof analyzeArchitecture>, group: string) => section.comparable.find((g) => g.group === group);

test('identical configs: no diffs, every group comparable, and the caveat that this is weak evidence', (t) => {
  const llama = fixture('meta-llama-3-8b');
  const s = analyzeArchitecture(llama, structuredClone(llama));
  t.deepEqual(s.diffs, []);
  t.is(s.summary.relation, 'identical');
  t.true(s.comparable.every((g) => g.status === 'comparable'));
  t.deepEqual(s.comparable.map((g) => g.group), ['embedding', 'lm_head', 'attention.q', 'attention.k', 'attention.v', 'attention.o', 'norms', 'mlp']);
  t.true(s.identical.includes('hidden_size'));
  t.true(s.notes.some((n) => n.startsWith('Identical or near-identical configs are weak evidence')));
  t.is(s.a.totalParams, 8_030_261_248);
  t.is(s.b.activeParams, 8_030_261_248);
  t.is(groupOf(s, 'attention.q')?.pairs, 32);
  t.is(groupOf(s, 'mlp')?.pairs, 3 * 32);
});

dataTest('vocabulary extension (Llama-3.1-70B vs Reflection-70B): only embedding and lm_head change shape', (t) => {
  const reflection = real('Reflection-Llama-3.1-70B__config.json');
  const base = {
    ...reflection, vocab_size: 128256, max_position_embeddings: 131072,
    rope_scaling: { factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192, rope_type: 'llama3' },
  };
  const s = analyzeArchitecture(base, reflection, { labelA: 'llama-3.1-70b', labelB: 'reflection' });
  t.deepEqual(s.diffs.map((d) => d.field), ['vocabSize', 'ropeScaling', 'maxPositionEmbeddings']);
  const vocab = s.diffs[0]!;
  t.is(vocab.effect, 'shapes');
  t.true(vocab.meaning.startsWith('B has 6 more tokens: consistent with a vocabulary extended'));
  t.is(s.diffs[1]!.effect, 'none');
  t.is(groupOf(s, 'embedding')?.status, 'partial');
  t.is(groupOf(s, 'lm_head')?.status, 'partial');
  t.true(s.comparable.filter((g) => g.group !== 'embedding' && g.group !== 'lm_head').every((g) => g.status === 'comparable'));
  t.is(s.summary.relation, 'partly-comparable');
  t.is(s.summary.shapeDiffs, 1);
  t.is(s.b.totalParams! - s.a.totalParams!, 2 * 6 * 8192);
});

dataTest('different widths (Mixtral-8x22B vs Mixtral-8x7B): nothing compares directly', (t) => {
  const s = analyzeArchitecture(real('WizardLM-2-8x22B__config.json'), fixture('mixtral-8x7b'));
  t.is(s.summary.relation, 'incomparable');
  t.true(s.diffs.some((d) => d.field === 'hiddenSize' && d.effect === 'shapes'));
  t.true(s.comparable.every((g) => g.status === 'not-comparable'));
  t.true(s.notes.some((n) => n.startsWith('Different shapes do not prove independence')));
});

test('dense vs MoE with the dense MLP\'s shape (Llama-3-8B vs Mixtral-8x7B): upcycling is named', (t) => {
  const s = analyzeArchitecture(fixture('meta-llama-3-8b'), fixture('mixtral-8x7b'));
  const experts = groupOf(s, 'routed_experts')!;
  t.is(experts.status, 'partial');
  t.regex(experts.note, /B's experts have the shape of A's dense MLP/);
  t.is(experts.pairs, 32 * 8 * 3);
  t.is(groupOf(s, 'mlp')?.status, 'partial');
  t.is(groupOf(s, 'router')?.status, 'absent');
  t.regex(groupOf(s, 'router')!.note, /A is dense, B is mixture-of-experts/);
  const moe = s.diffs.find((d) => d.field === 'numRoutedExperts')!;
  t.regex(moe.meaning, /upcycled/);
  // Fields that only mean something for MoE models are not listed as separate differences.
  t.false(s.diffs.some((d) => d.field === 'moeIntermediateSize' || d.field === 'numSharedExperts'));
});

dataTest('expert pruning (Qwen3.5 REAP with 128 experts vs its 256-expert base): experts match by content', (t) => {
  const pruned = real('Qwen3.5-18B-REAP-A3B-Coding__config.json');
  const base = { ...pruned, num_experts: 256 };
  const s = analyzeArchitecture(base, pruned);
  t.deepEqual(s.diffs.map((d) => d.field), ['numRoutedExperts']);
  t.regex(s.diffs[0]!.meaning, /pruned \(REAP\)/);
  const experts = groupOf(s, 'routed_experts')!;
  t.is(experts.status, 'partial');
  t.regex(experts.note, /256 vs 128 experts per layer/);
  t.is(groupOf(s, 'router')?.status, 'not-comparable');
  t.is(groupOf(s, 'other_mixers')?.status, 'comparable');
  t.is(groupOf(s, 'attention.q')?.a?.layers, 10);
});

test('depth up-scaling: per-layer tensors compare for the layers both have', (t) => {
  const small = { model_type: 'llama', hidden_size: 128, intermediate_size: 352, num_hidden_layers: 5, num_attention_heads: 8, num_key_value_heads: 4, vocab_size: 105, tie_word_embeddings: true };
  const deep = { ...small, num_hidden_layers: 8 };
  const s = analyzeArchitecture(small, deep);
  t.deepEqual(s.diffs.map((d) => d.field), ['numLayers']);
  t.is(s.diffs[0]!.effect, 'layout');
  const q = groupOf(s, 'attention.q')!;
  t.is(q.status, 'partial');
  t.regex(q.note, /5 vs 8 layers: at most 5 layer pairs/);
  t.is(q.pairs, 5);
  t.is(groupOf(s, 'embedding')?.status, 'comparable');
  t.is(s.summary.relation, 'partly-comparable');
});

test('the LayerNorm trap and shape-compatible groups across families (Solar-Open vs GLM-4.5-Air)', (t) => {
  const s = analyzeArchitecture(fixture('solar-open-100b'), fixture('glm-4.5-air'));
  t.false(s.summary.sameFamily);
  t.is(groupOf(s, 'norms')?.status, 'partial');
  t.regex(groupOf(s, 'norms')!.note, /centered cosine/);
  t.is(groupOf(s, 'attention.k')?.status, 'partial', 'same [1024, 4096] shape, 48 vs 46 layers');
  t.is(groupOf(s, 'attention.q')?.status, 'not-comparable');
  t.is(groupOf(s, 'router')?.status, 'partial', 'router [128, 4096] in 48 vs 45 MoE layers');
  t.is(groupOf(s, 'routed_experts')?.status, 'not-comparable');
  t.is(groupOf(s, 'embedding')?.status, 'partial');
  t.is(groupOf(s, 'mlp')?.status, 'absent');
  t.true(s.diffs.some((d) => d.field === 'qkvBias'));
});

test('MLA against GQA: the attention weights cannot be compared', (t) => {
  const s = analyzeArchitecture(fixture('deepseek-v2-lite'), { ...fixture('meta-llama-3-8b'), hidden_size: 2048 });
  const kind = s.diffs.find((d) => d.field === 'attentionKind')!;
  t.is(kind.a, 'MLA');
  t.is(kind.b, 'GQA');
  t.regex(kind.meaning, /MLA/);
  t.is(groupOf(s, 'attention.kv')?.status, 'absent');
  t.is(groupOf(s, 'attention.k')?.status, 'absent');
  t.is(groupOf(s, 'attention.q')?.status, 'not-comparable');
});

test('tied against untied output head: compare one\'s lm_head with the other\'s embedding', (t) => {
  const untied = { model_type: 'llama', hidden_size: 64, intermediate_size: 172, num_hidden_layers: 5, num_attention_heads: 8, num_key_value_heads: 4, vocab_size: 512, tie_word_embeddings: false };
  const s = analyzeArchitecture(untied, { ...untied, tie_word_embeddings: true });
  const head = groupOf(s, 'lm_head')!;
  t.is(head.status, 'partial');
  t.regex(head.note, /compare A's lm_head with B's embedding/);
  t.deepEqual(s.diffs.map((d) => d.field), ['tieWordEmbeddings']);
});

test('compute estimate: 6 · N_active · D, with and without the input embedding', (t) => {
  const s = analyzeArchitecture(fixture('meta-llama-3-8b'), fixture('mixtral-8x7b'), { tokens: 15e12 });
  t.is(s.compute?.tokens, 15e12);
  t.is(s.compute?.a.flops, 6 * 8_030_261_248 * 15e12);
  t.is(s.compute?.b.flops, 6 * s.b.activeParams! * 15e12);
  t.is(s.compute?.a.flopsNonEmbedding, 6 * (8_030_261_248 - 128256 * 4096) * 15e12);
  t.is(analyzeArchitecture(fixture('gemma-7b'), fixture('gemma-7b')).compute, null);
});

test('parseTokenCount: K/M/B/T suffixes, plain numbers and exponents', (t) => {
  t.is(parseTokenCount('19.7T'), 19.7e12);
  t.is(parseTokenCount('2.5B'), 2.5e9);
  t.is(parseTokenCount('300m'), 300e6);
  t.is(parseTokenCount('15K'), 15e3);
  t.is(parseTokenCount('500000'), 500000);
  t.is(parseTokenCount('1e12'), 1e12);
  t.is(parseTokenCount(' 7 T '), 7e12);
  for (const bad of ['', 'abc', '-5', '0', '5X', '1.2.3', 'T']) t.is(parseTokenCount(bad), null, bad);
});

test('runLength: uniform, periodic and irregular layer lists', (t) => {
  t.is(runLength(['moe', 'moe', 'moe']), 'moe×3');
  t.is(runLength(['dense', 'dense', 'dense', 'moe', 'moe']), 'dense×3, moe×2');
  t.is(runLength(['l', 'l', 'a', 'l', 'l', 'a']), '(l×2, a)×2');
  t.is(runLength(['a']), 'a');
});

test('the JSON section has the fields DESIGN.md fixes, and survives a JSON round trip', (t) => {
  const s = analyzeArchitecture(fixture('qwen2-57b-a14b'), fixture('qwen3-30b-a3b'), { labelA: 'qwen2', labelB: 'qwen3', tokens: 1e12 });
  const json = JSON.parse(JSON.stringify(s)) as Json;
  for (const key of ['a', 'b', 'diffs', 'comparable', 'notes']) t.true(key in json, key);
  const a = json['a'] as Json;
  t.is(a['totalParams'], s.a.totalParams);
  t.is(a['activeParams'], s.a.activeParams);
  t.is(a['source'], 'qwen2');
  t.is(a['ffnLayout'], 'moe×28');
  for (const d of json['diffs'] as Json[]) {
    for (const key of ['field', 'label', 'a', 'b', 'effect', 'meaning']) t.true(key in d, key);
  }
  t.false(JSON.stringify(s).includes('NaN'));
});

test('the text summary shows both models side by side and marks differences', (t) => {
  const s = analyzeArchitecture(fixture('meta-llama-3-8b'), fixture('mixtral-8x7b'), { labelA: 'llama', labelB: 'mixtral', tokens: 15e12 });
  const text = renderArchitectureText(s);
  t.regex(text, /A: llama \(Llama\)/);
  t.regex(text, /\* vocab_size +128256 +32000/);
  t.regex(text, /  hidden_size +4096 +4096/);
  t.regex(text, /total params +8\.03B \(8,030,261,248\) +46\.7B \(46,702,792,704\)/);
  t.regex(text, /routed experts +partial/);
  t.regex(text, /Training compute \(6 · N_active · D, D = 15T tokens\)/);
});

test('a config that is not a model config: BadInputError naming the label', (t) => {
  const err = t.throws(() => analyzeArchitecture(fixture('gemma-7b'), { foo: 1 }, { labelB: 'b/config.json' }), { instanceOf: BadInputError });
  t.is(err?.file, 'b/config.json');
});

test('a setting one config leaves unsaid is unknown, not a difference; a stated one is', (t) => {
  const base = { model_type: 'llama', hidden_size: 64, intermediate_size: 172, num_hidden_layers: 2, num_attention_heads: 8, vocab_size: 512, tie_word_embeddings: false };
  t.deepEqual(analyzeArchitecture(base, { ...base, rope_theta: 500000, torch_dtype: 'bfloat16' }).diffs, []);
  const s = analyzeArchitecture({ ...base, rope_theta: 10000 }, { ...base, rope_theta: 500000 });
  t.deepEqual(s.diffs.map((d) => [d.label, d.a, d.b, d.effect]), [['rope_theta', 10000, 500000, 'none']]);
  t.is(s.summary.relation, 'same-shapes');
});
