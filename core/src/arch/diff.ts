/**
 * Field-by-field differences between two normalized architectures, each with what it means for
 * the lineage question: whether it changes tensor shapes, which tensors exist, or nothing a
 * derivative would have to retrain.
 */
import type { NormalizedArch } from './types.ts';

/**
 * shapes: tensors change shape, so those weights cannot be compared directly;
 * layout: tensors are added or removed, the rest still compare;
 * none: no effect on weights (a setting a derivative may change freely).
 */
export type DiffEffect = 'shapes' | 'layout' | 'none';

export interface FieldDiff {
  /** Key in the normalized description (`hiddenSize`, `mla.kvLoraRank`). */
  field: string;
  /** The config.json spelling most families use. */
  label: string;
  a: unknown;
  b: unknown;
  effect: DiffEffect;
  meaning: string;
}

export interface FieldSpec {
  field: string;
  label: string;
  /** A feature flag: the side-by-side table leaves it out when neither model has it. */
  feature?: boolean;
  /**
   * Only meaningful when both models state it: expert widths and MLA ranks (the parent field's
   * diff already says one side lacks the feature), and settings a config may leave unsaid
   * (rope_theta, eps, dtype), where absent means unknown, not different.
   */
  dependent?: boolean;
  /** 0 and absent mean the same (no shared experts, no MTP layers). */
  zeroIsAbsent?: boolean;
  get: (arch: NormalizedArch) => unknown;
  effect: DiffEffect;
  meaning: (a: NormalizedArch, b: NormalizedArch) => string;
}

const fixed = (text: string) => () => text;

export const FIELDS: FieldSpec[] = [
  { field: 'modelType', label: 'model_type', get: (x) => x.modelType, effect: 'none',
    meaning: fixed('different modeling code; a model converted to another family\'s layout can still hold the same weights') },
  { field: 'hiddenSize', label: 'hidden_size', get: (x) => x.hiddenSize, effect: 'shapes',
    meaning: fixed('every weight matrix differs in shape, so no tensor compares directly; derivatives almost never change the width') },
  { field: 'numLayers', label: 'num_hidden_layers', get: (x) => x.numLayers, effect: 'layout',
    meaning: fixed('different depth: the layers both have still compare; depth up-scaling (SOLAR-10.7B duplicated Mistral layers) and layer pruning change this number') },
  { field: 'numAttentionHeads', label: 'num_attention_heads', get: (x) => x.numAttentionHeads, effect: 'shapes',
    meaning: (a, b) => (a.numAttentionHeads ?? 0) * (a.headDim ?? 0) === (b.numAttentionHeads ?? 0) * (b.headDim ?? 0)
      ? 'same q/o widths split into different heads: shapes match, head grouping does not'
      : 'q/o projections differ in width' },
  { field: 'numKeyValueHeads', label: 'num_key_value_heads', get: (x) => x.numKeyValueHeads, effect: 'shapes',
    meaning: fixed('k/v projections differ in shape (GQA grouping); derivatives rarely regroup heads') },
  { field: 'headDim', label: 'head_dim', get: (x) => x.headDim, effect: 'shapes',
    meaning: fixed('attention head width differs') },
  { field: 'attentionKind', label: 'attention', get: (x) => x.attentionKind, effect: 'shapes',
    meaning: (a, b) => a.attentionKind === 'MLA' || b.attentionKind === 'MLA'
      ? 'latent attention (MLA) against ordinary attention: the attention weights cannot be compared'
      : 'different key/value head sharing (MHA, GQA, MQA): k/v shapes differ' },
  { field: 'mla.qLoraRank', label: 'q_lora_rank', get: (x) => x.mla?.qLoraRank, effect: 'shapes', meaning: fixed('MLA query path differs in shape') },
  { field: 'mla.kvLoraRank', dependent: true, label: 'kv_lora_rank', get: (x) => x.mla?.kvLoraRank, effect: 'shapes', meaning: fixed('MLA key/value latent differs in width') },
  { field: 'mla.qkNopeHeadDim', dependent: true, label: 'qk_nope_head_dim', get: (x) => x.mla?.qkNopeHeadDim, effect: 'shapes', meaning: fixed('MLA head widths differ') },
  { field: 'mla.qkRopeHeadDim', dependent: true, label: 'qk_rope_head_dim', get: (x) => x.mla?.qkRopeHeadDim, effect: 'shapes', meaning: fixed('MLA rotary part differs in width') },
  { field: 'mla.vHeadDim', dependent: true, label: 'v_head_dim', get: (x) => x.mla?.vHeadDim, effect: 'shapes', meaning: fixed('value heads differ in width') },
  { field: 'vocabSize', label: 'vocab_size', get: (x) => x.vocabSize, effect: 'shapes', meaning: vocabMeaning },
  { field: 'intermediateSize', dependent: true, label: 'intermediate_size', get: (x) => x.intermediateSize, effect: 'shapes',
    meaning: fixed('dense MLP widths differ: those weights cannot be compared directly') },
  { field: 'moeIntermediateSize', dependent: true, label: 'moe_intermediate_size', get: (x) => x.moeIntermediateSize, effect: 'shapes',
    meaning: fixed('routed experts differ in width') },
  { field: 'sharedExpertIntermediateSize', dependent: true, zeroIsAbsent: true, label: 'shared_expert_intermediate_size', get: (x) => x.sharedExpertIntermediateSize, effect: 'shapes',
    meaning: fixed('shared experts differ in width') },
  { field: 'numRoutedExperts', label: 'n_routed_experts', get: (x) => x.numRoutedExperts, effect: 'layout',
    meaning: (a, b) => !a.numRoutedExperts || !b.numRoutedExperts
      ? 'one model is dense, the other mixture-of-experts: experts may be upcycled from the dense MLP (compare each expert with it)'
      : 'different expert counts: experts pruned (REAP), merged or added; compare experts by content, not by index' },
  { field: 'numSharedExperts', dependent: true, zeroIsAbsent: true, label: 'n_shared_experts', get: (x) => x.numSharedExperts, effect: 'layout', meaning: fixed('different shared-expert counts') },
  { field: 'expertsPerToken', dependent: true, label: 'num_experts_per_tok', get: (x) => x.expertsPerToken, effect: 'none',
    meaning: fixed('routing top-k is a setting: changing it needs no new weights, but changes the active parameter count') },
  { field: 'firstKDense', dependent: true, label: 'first_k_dense_replace', get: (x) => x.firstKDense, effect: 'layout', meaning: fixed('different number of leading dense layers') },
  { field: 'moeLayerFreq', dependent: true, label: 'moe_layer_freq', get: (x) => x.moeLayerFreq, effect: 'layout', meaning: fixed('experts sit in different layers') },
  { field: 'ffnLayout', label: 'FFN per layer', get: (x) => layoutPattern(x.ffns), effect: 'layout', meaning: fixed('dense and MoE layers sit in different places') },
  { field: 'mixerLayout', label: 'mixer per layer', get: (x) => layoutPattern(x.mixers), effect: 'layout',
    meaning: fixed('different token mixers per layer (e.g. linear against full attention)') },
  { field: 'attentionLayerTypes', label: 'layer_types', get: (x) => x.attentionLayerTypes, effect: 'none',
    meaning: fixed('different sliding/full attention pattern: no effect on weight shapes') },
  { field: 'ropeTheta', dependent: true, label: 'rope_theta', get: (x) => x.ropeTheta, effect: 'none',
    meaning: fixed('RoPE base changed, as long-context continued pre-training does; no effect on shapes') },
  { field: 'ropeScaling', label: 'rope_scaling', get: (x) => x.ropeScaling, effect: 'none',
    meaning: fixed('context-extension setting; no effect on shapes') },
  { field: 'partialRotaryFactor', label: 'partial_rotary_factor', get: (x) => x.partialRotaryFactor, effect: 'none',
    meaning: fixed('rotary share of each head differs; weights trained for one do not fit the other well') },
  { field: 'maxPositionEmbeddings', dependent: true, label: 'max_position_embeddings', get: (x) => x.maxPositionEmbeddings, effect: 'none',
    meaning: (a, b) => a.learnedPositions || b.learnedPositions ? 'learned position tables differ in length' : 'context length setting; no effect on shapes' },
  { field: 'slidingWindow', label: 'sliding_window', get: (x) => x.slidingWindow, effect: 'none', meaning: fixed('attention window setting; no effect on shapes') },
  { field: 'tieWordEmbeddings', label: 'tie_word_embeddings', get: (x) => x.tieWordEmbeddings, effect: 'layout',
    meaning: fixed('one model ties lm_head to its embedding: compare the untied lm_head with the tied embedding') },
  { field: 'normType', label: 'norm', get: (x) => x.normType, effect: 'layout', meaning: fixed('RMSNorm against LayerNorm (which adds biases)') },
  { field: 'normEps', dependent: true, label: 'norm eps', get: (x) => x.normEps, effect: 'none', meaning: fixed('numerical setting; no effect on weights') },
  { field: 'normsPerLayer', label: 'norms per layer', get: (x) => x.normsPerLayer, effect: 'layout', meaning: fixed('different norm placement (e.g. Gemma-2\'s extra post-norms)') },
  { field: 'activation', dependent: true, label: 'hidden_act', get: (x) => x.activation, effect: 'none',
    meaning: fixed('different activation: derivatives keep their base\'s; weights still compare in shape') },
  { field: 'qkvBias', feature: true, label: 'qkv bias', get: (x) => x.qkvBias, effect: 'layout', meaning: fixed('q/k/v bias tensors exist in one model only') },
  { field: 'outputBias', feature: true, label: 'o_proj bias', get: (x) => x.outputBias, effect: 'layout', meaning: fixed('output-projection bias exists in one model only') },
  { field: 'mlpBias', feature: true, label: 'mlp bias', get: (x) => x.mlpBias, effect: 'layout', meaning: fixed('MLP bias tensors exist in one model only') },
  { field: 'qkNorm', label: 'qk norm', get: (x) => x.qkNorm, effect: 'layout', meaning: fixed('q/k norm vectors exist in one model only') },
  { field: 'attentionOutputGate', feature: true, label: 'attn_output_gate', get: (x) => x.attentionOutputGate, effect: 'shapes', meaning: fixed('gated attention doubles q_proj') },
  { field: 'attentionSinks', feature: true, label: 'attention sinks', get: (x) => x.attentionSinks, effect: 'layout', meaning: fixed('learned attention sinks in one model only') },
  { field: 'routerCorrectionBias', feature: true, label: 'e_score_correction_bias', get: (x) => x.routerCorrectionBias, effect: 'layout',
    meaning: fixed('aux-loss-free routing bias in one model only') },
  { field: 'sharedExpertGate', feature: true, label: 'shared_expert_gate', get: (x) => x.sharedExpertGate, effect: 'layout', meaning: fixed('shared-expert gate in one model only') },
  { field: 'lmHeadBias', feature: true, label: 'lm_head bias', get: (x) => x.lmHeadBias, effect: 'layout', meaning: fixed('lm_head bias in one model only') },
  { field: 'mtpLayers', feature: true, zeroIsAbsent: true, label: 'MTP layers', get: (x) => x.mtpLayers, effect: 'layout', meaning: fixed('multi-token-prediction layers in one model only') },
  { field: 'vision', label: 'vision tower', get: (x) => x.vision ? (x.vision.modelType ?? 'present') : null, effect: 'layout',
    meaning: fixed('vision tower differs; the language model is compared on its own') },
  { field: 'quantization', label: 'quantization', get: (x) => x.quantization, effect: 'none',
    meaning: fixed('one checkpoint is quantized: compare dequantized values, and expect quantization noise') },
  { field: 'dtype', dependent: true, label: 'torch_dtype', get: (x) => x.dtype, effect: 'none', meaning: fixed('storage precision differs: values are rounded, comparisons stay valid') },
];

function vocabMeaning(a: NormalizedArch, b: NormalizedArch): string {
  const [small, large] = a.vocabSize < b.vocabSize ? [a, b] : [b, a];
  const added = large.vocabSize - small.vocabSize;
  const which = large === b ? 'B' : 'A';
  if (added <= 0.05 * small.vocabSize) {
    return `${which} has ${added} more tokens: consistent with a vocabulary extended by appended rows (Reflection-Llama-3.1-70B: 128256 → 128262); shared rows stay comparable`;
  }
  return 'embedding and lm_head differ in rows: a different tokenizer, or one extended with many tokens (Chinese-LLaMA: 32000 → 49953); compare the rows of tokens both share';
}

/** The per-layer pattern without its length (num_hidden_layers already differs): `attention` for a uniform stack. */
function layoutPattern(items: readonly string[]): string {
  return items.every((item) => item === items[0]) ? (items[0] ?? '') : runLength(items);
}

/** Run-length summary of a per-layer list: `dense×3, moe×89`; a repeating pattern as `(a×3, b)×10`. */
export function runLength(items: readonly string[]): string {
  if (items.length === 0) return '';
  for (let period = 1; period <= items.length / 2; period++) {
    if (items.length % period !== 0 || items.length / period < 2) continue;
    if (items.every((item, i) => item === items[i % period])) {
      const unit = encode(items.slice(0, period));
      return period === 1 ? `${items[0]}×${items.length}` : `(${unit})×${items.length / period}`;
    }
  }
  return encode(items);
}

function encode(items: readonly string[]): string {
  const runs: string[] = [];
  for (let i = 0; i < items.length;) {
    let j = i;
    while (j < items.length && items[j] === items[i]) j++;
    runs.push(j - i === 1 ? items[i]! : `${items[i]}×${j - i}`);
    i = j;
  }
  return runs.join(', ');
}

/** Stable JSON for equality: key order does not matter, 1e-5 equals 1e-05. */
export function canonical(value: unknown): string {
  if (value === undefined) return 'null';
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function diffArchitectures(a: NormalizedArch, b: NormalizedArch): { diffs: FieldDiff[]; identical: string[] } {
  const diffs: FieldDiff[] = [];
  const identical: string[] = [];
  for (const spec of FIELDS) {
    let va = spec.get(a) ?? null;
    let vb = spec.get(b) ?? null;
    if (spec.zeroIsAbsent) {
      if (va === 0) va = null;
      if (vb === 0) vb = null;
    }
    if (spec.dependent && (va === null) !== (vb === null)) continue;
    if (canonical(va) === canonical(vb)) {
      if (va !== null) identical.push(spec.label);
      continue;
    }
    diffs.push({ field: spec.field, label: spec.label, a: va, b: vb, effect: spec.effect, meaning: spec.meaning(a, b) });
  }
  return { diffs, identical };
}
