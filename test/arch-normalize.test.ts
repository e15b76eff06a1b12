/**
 * config.json of each family → the normalized description (real configs where we have them).
 */
import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { normalizeConfig } from '../core/src/arch/normalize.ts';
import { runLength } from '../core/src/arch/diff.ts';
import { BadInputError } from '../core/src/errors.ts';

const FIXTURES = fileURLToPath(new URL('./fixtures/configs/', import.meta.url));
const DATA = fileURLToPath(new URL('../../shared/data/', import.meta.url));
const haveData = existsSync(DATA);
if (!haveData) console.warn(`arch-normalize: ${DATA} is absent, so the tests on real configs are skipped`);
const dataTest = haveData ? test : test.skip;

const readJson = (file: string): unknown => JSON.parse(readFileSync(file, 'utf8'));
const fixture = (name: string) => normalizeConfig(readJson(`${FIXTURES}${name}.json`), name);
const real = (name: string) => normalizeConfig(readJson(`${DATA}configs/${name}`), name);

dataTest('Mixtral (WizardLM-2-8x22B): experts from num_local_experts, expert width from intermediate_size', (t) => {
  const a = real('WizardLM-2-8x22B__config.json');
  t.is(a.family, 'mixtral');
  t.is(a.hiddenSize, 6144);
  t.is(a.numLayers, 56);
  t.is(a.attentionKind, 'GQA');
  t.is(a.headDim, 128);
  t.is(a.numRoutedExperts, 8);
  t.is(a.expertsPerToken, 2);
  t.is(a.moeIntermediateSize, 16384);
  t.is(a.intermediateSize, null);
  t.is(a.numSharedExperts, 0);
  t.is(a.numMoeLayers, 56);
  t.is(a.ropeTheta, 1e6);
  t.false(a.tieWordEmbeddings);
  t.deepEqual(a.assumptions, []);
});

dataTest('Llama (Reflection-Llama-3.1-70B): extended vocabulary, GQA 64/8', (t) => {
  const a = real('Reflection-Llama-3.1-70B__config.json');
  t.is(a.family, 'llama');
  t.is(a.vocabSize, 128262);
  t.is(a.numAttentionHeads, 64);
  t.is(a.numKeyValueHeads, 8);
  t.is(a.headDim, 128);
  t.is(a.intermediateSize, 28672);
  t.is(a.numRoutedExperts, null);
  t.is(a.numDenseLayers, 80);
  t.is(a.normType, 'rmsnorm');
  t.is(a.normEps, 1e-5);
  t.is(a.activation, 'silu');
  t.is(a.dtype, 'float32');
});

dataTest('Gemma-3 inside a vision-language config (medgemma-27b): text_config, 4 norms, q/k norms, SigLIP tower', (t) => {
  const a = real('medgemma-27b-it__config.json');
  t.is(a.textConfigKey, 'text_config');
  t.is(a.modelType, 'gemma3_text');
  t.is(a.outerModelType, 'gemma3');
  t.is(a.family, 'gemma3_text');
  t.is(a.hiddenSize, 5376);
  t.is(a.headDim, 128);
  t.is(a.numKeyValueHeads, 16);
  t.is(a.normsPerLayer, 4);
  t.is(a.qkNorm, 'head');
  t.true(a.tieWordEmbeddings);
  t.true(a.assumptions.some((s) => s.startsWith('tie_word_embeddings absent')));
  t.deepEqual(a.attentionLayerTypes, { sliding_attention: 52, full_attention: 10 });
  t.deepEqual(a.ropeScaling, { factor: 8, rope_type: 'linear' });
  t.is(a.activation, 'gelu_pytorch_tanh');
  t.is(a.vision?.modelType, 'siglip_vision_model');
  t.is(a.vision?.numLayers, 27);
  t.is(a.vision?.projector, 'gemma3');
});

dataTest('Granite-MoE: 32 experts of 512, top-8, tied embeddings', (t) => {
  const a = real('granite-3.1-1b-a400m-instruct__config.json');
  t.is(a.family, 'granitemoe');
  t.is(a.numRoutedExperts, 32);
  t.is(a.expertsPerToken, 8);
  t.is(a.moeIntermediateSize, 512);
  t.is(a.intermediateSize, null);
  t.true(a.tieWordEmbeddings);
  t.is(a.ropeTheta, 1.5e6);
});

dataTest('BORA: EMA and attention layers from layer_types, sparse and shared experts, tie_embedding', (t) => {
  const a = real('BORA-1.1B-A0.4B__config.json');
  t.is(a.family, 'bora_moe');
  t.is(a.mixers.filter((m) => m === 'ema').length, 16);
  t.is(a.mixers.filter((m) => m === 'attention').length, 7);
  t.is(runLength(a.mixers).startsWith('ema×3, attention, ema×3, attention'), true);
  t.is(a.numRoutedExperts, 16);
  t.is(a.numSharedExperts, 2);
  t.is(a.sharedExpertIntermediateSize, 1536);
  t.is(a.moeIntermediateSize, 768);
  t.is(a.expertsPerToken, 2);
  t.is(a.numMoeLayers, 23);
  t.true(a.tieWordEmbeddings);
  t.is(a.headDim, 128);
  t.is(a.normEps, 1e-5);
  t.deepEqual(a.ema, { expand: 2, convKernel: 4 });
});

dataTest('MiniCPM3: MLA with q_lora_rank, v_head_dim from qk_nope_head_dim, longrope summarised', (t) => {
  const a = real('minicpm3-4b.config.json');
  t.is(a.family, 'minicpm3');
  t.is(a.attentionKind, 'MLA');
  t.deepEqual(a.mla, { qLoraRank: 768, kvLoraRank: 256, qkNopeHeadDim: 64, qkRopeHeadDim: 32, vHeadDim: 64 });
  t.is(a.headDim, 96);
  t.is(a.vHeadDim, 64);
  t.true(a.assumptions.some((s) => s.startsWith('v_head_dim absent')));
  t.true(a.tieWordEmbeddings);
  t.is(a.ropeScaling?.['type'], 'longrope');
  t.is(a.ropeScaling?.['long_factor'], '[16 values]');
});

dataTest('Phi-3 (a SLERP merge): MHA 32/32, vocabulary 32064, sliding window', (t) => {
  const a = real('3PRYMMAL-PHI3-3B-SLERP__config.json');
  t.is(a.family, 'phi3');
  t.is(a.attentionKind, 'MHA');
  t.is(a.vocabSize, 32064);
  t.is(a.slidingWindow, 2047);
  t.false(a.tieWordEmbeddings);
  t.is(a.ropeScaling, null);
});

dataTest('Qwen3.5 MoE (REAP-pruned): Gated DeltaNet and gated attention layers, shared expert with gate', (t) => {
  const a = real('Qwen3.5-18B-REAP-A3B-Coding__config.json');
  t.is(a.family, 'qwen3_next');
  t.is(runLength(a.mixers), '(linear_attention×3, attention)×10');
  t.deepEqual(a.linearAttention, { numKeyHeads: 16, numValueHeads: 32, keyHeadDim: 128, valueHeadDim: 128, convKernel: 4 });
  t.true(a.attentionOutputGate);
  t.is(a.qkNorm, 'head');
  t.is(a.headDim, 256);
  t.is(a.numRoutedExperts, 128);
  t.is(a.sharedExpertIntermediateSize, 512);
  t.true(a.sharedExpertGate);
  t.is(a.ropeTheta, 1e7);
  t.is(a.partialRotaryFactor, 0.25);
  t.is(a.ropeScaling, null);
  t.is(a.dtype, 'float16');
  t.true(a.assumptions.some((s) => s.includes('mtp_num_hidden_layers=1')));
});

test('DeepSeek-V2-Lite: MLA without q low rank, first layer dense, two shared experts, no correction bias', (t) => {
  const a = fixture('deepseek-v2-lite');
  t.is(a.family, 'deepseek_v2');
  t.is(a.mla?.qLoraRank, null);
  t.is(a.mla?.kvLoraRank, 512);
  t.is(a.headDim, 192);
  t.is(a.firstKDense, 1);
  t.deepEqual(a.denseLayerIndices, [0]);
  t.is(a.numMoeLayers, 26);
  t.is(a.numSharedExperts, 2);
  t.is(a.sharedExpertIntermediateSize, 2 * 1408);
  t.false(a.routerCorrectionBias);
  t.is(a.mtpLayers, 0);
  t.is(a.ropeScaling?.['type'], 'yarn');
});

test('DeepSeek-V3: noaux_tc correction bias, one MTP layer, fp8 quantization', (t) => {
  const a = fixture('deepseek-v3');
  t.is(a.family, 'deepseek_v3');
  t.true(a.routerCorrectionBias);
  t.is(a.mtpLayers, 1);
  t.is(a.quantization, 'fp8');
  t.deepEqual(a.denseLayerIndices, [0, 1, 2]);
  t.is(a.mla?.qLoraRank, 1536);
});

test('GLM-4.5-Air (glm4_moe): q/k/v bias, no q/k norm, partial rotary, dense first layer, MTP', (t) => {
  const a = fixture('glm-4.5-air');
  t.is(a.family, 'glm4_moe');
  t.true(a.qkvBias);
  t.false(a.outputBias);
  t.is(a.qkNorm, null);
  t.is(a.partialRotaryFactor, 0.5);
  t.deepEqual(a.denseLayerIndices, [0]);
  t.is(a.mtpLayers, 1);
  t.true(a.routerCorrectionBias);
  t.is(a.numAttentionHeads! * a.headDim!, 12288);
});

test('Qwen2-MoE and Qwen3-MoE: shared expert and biases in one, q/k norm and no shared expert in the other', (t) => {
  const q2 = fixture('qwen2-57b-a14b');
  t.is(q2.family, 'qwen2_moe');
  t.true(q2.qkvBias);
  t.false(q2.outputBias);
  t.true(q2.sharedExpertGate);
  t.is(q2.sharedExpertIntermediateSize, 20480);
  t.is(q2.numSharedExperts, 1);
  t.is(q2.slidingWindow, null, 'use_sliding_window false');
  const q3 = fixture('qwen3-30b-a3b');
  t.is(q3.family, 'qwen3_moe');
  t.is(q3.qkNorm, 'head');
  t.false(q3.qkvBias);
  t.is(q3.numSharedExperts, 0);
  t.is(q3.numMoeLayers, 48);
});

test('Qwen-MoE decoder_sparse_step and mlp_only_layers decide the dense layers', (t) => {
  const a = normalizeConfig({
    model_type: 'qwen3_moe', hidden_size: 64, intermediate_size: 256, moe_intermediate_size: 32, num_hidden_layers: 6,
    num_attention_heads: 4, num_key_value_heads: 2, head_dim: 16, vocab_size: 100, num_experts: 4, num_experts_per_tok: 2,
    decoder_sparse_step: 2, mlp_only_layers: [5],
  });
  t.deepEqual(a.ffns, ['dense', 'moe', 'dense', 'moe', 'dense', 'dense']);
  t.deepEqual(a.denseLayerIndices, [0, 2, 4, 5]);
});

test('Phi-3.5-MoE: LayerNorm, attention and lm_head biases, longrope', (t) => {
  const a = fixture('phi-3.5-moe');
  t.is(a.family, 'phimoe');
  t.is(a.normType, 'layernorm');
  t.true(a.qkvBias);
  t.true(a.outputBias);
  t.true(a.lmHeadBias);
  t.is(a.numRoutedExperts, 16);
  t.is(a.moeIntermediateSize, 6400);
  t.is(a.ropeScaling?.['type'], 'longrope');
});

test('Gemma and Gemma-2: tied by default, two and four norms per layer', (t) => {
  const g1 = fixture('gemma-7b');
  const g2 = fixture('gemma-2-9b');
  t.true(g1.tieWordEmbeddings);
  t.true(g2.tieWordEmbeddings);
  t.is(g1.normsPerLayer, 2);
  t.is(g2.normsPerLayer, 4);
  t.is(g1.headDim, 256);
  t.is(g2.attentionKind, 'GQA');
  t.is(g1.attentionKind, 'MHA');
});

test('EXAONE: num_layers, layer_norm_epsilon and activation_function', (t) => {
  const a = fixture('exaone-3.0-7.8b');
  t.is(a.family, 'exaone');
  t.is(a.numLayers, 32);
  t.is(a.normEps, 1e-5);
  t.is(a.activation, 'silu');
  t.false(a.tieWordEmbeddings);
});

test('Solar-Open and gpt-oss: correction bias; sinks, expert biases and sliding/full layers', (t) => {
  const solar = fixture('solar-open-100b');
  t.is(solar.family, 'solar_open');
  t.true(solar.routerCorrectionBias);
  t.is(solar.numMoeLayers, 48);
  t.is(solar.sharedExpertIntermediateSize, 1280);
  const oss = fixture('gpt-oss-120b');
  t.true(oss.attentionSinks);
  t.true(oss.expertBias);
  t.true(oss.routerBias);
  t.deepEqual(oss.attentionLayerTypes, { sliding_attention: 18, full_attention: 18 });
  t.is(oss.headDim, 64);
});

test('LLaVA: a nested text_config that omits LlamaConfig defaults, CLIP tower', (t) => {
  const a = fixture('llava-1.5-7b');
  t.is(a.textConfigKey, 'text_config');
  t.is(a.family, 'llama');
  t.is(a.hiddenSize, 4096);
  t.is(a.intermediateSize, 11008);
  t.is(a.vocabSize, 32064);
  t.false(a.tieWordEmbeddings, 'inherited from the outer config');
  t.true(a.assumptions.some((s) => s.includes('LlamaConfig defaults assumed')));
  t.is(a.vision?.modelType, 'clip_vision_model');
  t.is(a.vision?.projector, 'llava');
});

test('attention kinds: MHA, GQA, MQA', (t) => {
  const base = { model_type: 'llama', hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 8, vocab_size: 100 };
  t.is(normalizeConfig(base).attentionKind, 'MHA');
  t.is(normalizeConfig({ ...base, num_key_value_heads: 2 }).attentionKind, 'GQA');
  t.is(normalizeConfig({ ...base, num_key_value_heads: 1 }).attentionKind, 'MQA');
});

test('an unknown model_type is read as a Llama-style decoder and marked unknown', (t) => {
  const a = normalizeConfig({ model_type: 'mystery', hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 8, vocab_size: 100 });
  t.is(a.family, 'unknown');
  t.is(a.familyLabel, 'unknown (mystery)');
  t.is(a.headDim, 8);
});

test('model_type missing: the family comes from architectures', (t) => {
  const a = normalizeConfig({ architectures: ['MixtralForCausalLM'], hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 8, vocab_size: 100, num_local_experts: 4, num_experts_per_tok: 2 });
  t.is(a.family, 'mixtral');
  t.is(a.moeIntermediateSize, 128);
});

test('a config that is not a model config is named in the error', (t) => {
  const notObject = t.throws(() => normalizeConfig([1, 2], 'x/config.json'), { instanceOf: BadInputError });
  t.is(notObject?.message, 'x/config.json: not a JSON object, so not a model config');
  const noHidden = t.throws(() => normalizeConfig({ model_type: 'llama', vocab_size: 5 }, 'y.json'), { instanceOf: BadInputError });
  t.is(noHidden?.message, 'y.json: not a model config: no hidden_size');
  const noVocab = t.throws(() => normalizeConfig({ hidden_size: 8, num_hidden_layers: 2 }, 'z.json'), { instanceOf: BadInputError });
  t.is(noVocab?.message, 'z.json: not a model config: no vocab_size');
});
