/**
 * config.json (any common family, or a vision-language model around one) → NormalizedArch.
 */
import { BadInputError } from '../errors.ts';
import { familyOf, unknownFamily, type FamilyTraits, type Trait } from './families.ts';
import { bool, has, int, ints, isObject, num, obj, str, strings, type Json } from './fields.ts';
import type { FfnKind, MixerKind, MlaShape, NormalizedArch, VisionTower } from './types.ts';

/** Keys under which vision-language models nest their language model's config. */
const NESTED_TEXT_KEYS = ['text_config', 'llm_config', 'language_config'];
/** Facts a nested text config may leave to the outer config. */
const INHERITED_KEYS = ['vocab_size', 'tie_word_embeddings', 'torch_dtype', 'dtype'];

const ATTENTION_LAYER_TYPES = new Set(['attention', 'attn', 'full_attention', 'sliding_attention', 'chunked_attention', 'global', 'local']);

/**
 * Reads a parsed config.json. `label` names the file in errors. Throws BadInputError when the
 * object is not a model config (no hidden size, layer count or vocabulary size to be found).
 */
export function normalizeConfig(raw: unknown, label = 'config.json'): NormalizedArch {
  if (!isObject(raw)) throw new BadInputError(label, 'not a JSON object, so not a model config');
  const assumptions: string[] = [];

  const { text, textKey } = languageModelConfig(raw, assumptions);
  const outerModelType = textKey ? str(raw, 'model_type') : null;
  let modelType = str(text, 'model_type');
  const architectures = strings(raw, 'architectures') ?? strings(text, 'architectures') ?? [];
  if (!modelType && outerModelType && familyOf(`${outerModelType}_text`, [])) modelType = `${outerModelType}_text`;
  // A nested text config names its own class (LLaVA's text_config: LlamaForCausalLM); the outer
  // class (Gemma3ForConditionalGeneration) is the fallback.
  const traits = familyOf(modelType, strings(text, 'architectures') ?? (textKey ? [] : architectures))
    ?? familyOf(null, architectures) ?? unknownFamily(modelType);

  const hiddenSize = int(text, 'hidden_size', 'd_model', 'n_embd', 'dim', 'model_dim');
  const numLayers = int(text, 'num_hidden_layers', 'num_layers', 'n_layer', 'n_layers');
  const vocabSize = int(text, 'vocab_size', 'padded_vocab_size', 'n_vocab');
  const where = textKey ? ` (in ${textKey})` : '';
  if (!hiddenSize) throw new BadInputError(label, `not a model config: no hidden_size${where}`);
  if (!numLayers) throw new BadInputError(label, `not a model config: no num_hidden_layers${where}`);
  if (!vocabSize) throw new BadInputError(label, `not a model config: no vocab_size${where}`);

  const resolve = (trait: Trait, what: string): boolean => {
    if (typeof trait === 'boolean') return trait;
    const value = bool(text, trait.key);
    // An absent key means the family's config-class default; worth saying only when that adds weights.
    if (value === null && trait.default && what) assumptions.push(`${trait.key} absent: ${what} assumed (${traits.label} default)`);
    return value ?? trait.default;
  };

  // Attention.
  const numAttentionHeads = int(text, 'num_attention_heads', 'n_head', 'n_heads', 'num_heads');
  let numKeyValueHeads = int(text, 'num_key_value_heads', 'num_kv_heads', 'n_head_kv', 'multi_query_group_num');
  if (numKeyValueHeads === null && bool(text, 'multi_query') === true) numKeyValueHeads = 1;
  if (numKeyValueHeads === null && numAttentionHeads !== null) numKeyValueHeads = numAttentionHeads;
  const mla = readMla(text, traits, assumptions);
  let headDim: number | null;
  let vHeadDim: number | null;
  if (mla) {
    headDim = mla.qkNopeHeadDim + mla.qkRopeHeadDim;
    vHeadDim = mla.vHeadDim;
  } else {
    headDim = int(text, 'head_dim', 'attention_head_dim', 'kv_channels');
    if (headDim === null && numAttentionHeads) {
      headDim = hiddenSize % numAttentionHeads === 0 ? hiddenSize / numAttentionHeads : null;
    }
    vHeadDim = headDim;
  }
  const attentionKind = mla
    ? 'MLA'
    : numAttentionHeads === null || numKeyValueHeads === null
      ? null
      : numKeyValueHeads === 1 && numAttentionHeads > 1
        ? 'MQA'
        : numKeyValueHeads < numAttentionHeads ? 'GQA' : 'MHA';

  // Experts.
  const routed = int(text, 'n_routed_experts', 'num_local_experts', 'num_experts', 'num_sparse_experts', 'moe_num_experts');
  const numRoutedExperts = routed && routed > 0 ? routed : null;
  const expertsPerToken = numRoutedExperts ? int(text, 'num_experts_per_tok', 'experts_per_token', 'moe_topk') : null;
  let intermediateSize: number | null;
  let moeIntermediateSize: number | null = null;
  if (numRoutedExperts && traits.expertWidthFromIntermediate && !has(text, 'moe_intermediate_size')) {
    moeIntermediateSize = int(text, 'intermediate_size');
    intermediateSize = int(text, 'intermediate_size_mlp');
  } else {
    intermediateSize = int(text, 'intermediate_size', 'ffn_hidden_size', 'n_inner');
    if (numRoutedExperts) moeIntermediateSize = int(text, 'moe_intermediate_size', 'expert_intermediate_size', 'ffn_dim');
  }
  if (traits.id === 'bora_moe') intermediateSize = int(text, 'ffn_dim');
  if (intermediateSize === null && traits.id === 'gpt2') {
    intermediateSize = 4 * hiddenSize;
    assumptions.push('n_inner absent: 4 × hidden_size assumed (GPT-2 default)');
  }
  let numSharedExperts = numRoutedExperts ? int(text, 'n_shared_experts', 'num_shared_experts') : null;
  let sharedExpertIntermediateSize = numRoutedExperts ? int(text, 'shared_expert_intermediate_size', 'shared_intermediate_size') : null;
  if (sharedExpertIntermediateSize && numSharedExperts === null) numSharedExperts = 1;
  if (sharedExpertIntermediateSize === null && numSharedExperts && moeIntermediateSize) {
    sharedExpertIntermediateSize = numSharedExperts * moeIntermediateSize;
  }
  if (numRoutedExperts && numSharedExperts === null) numSharedExperts = 0;

  // Layer layout.
  const firstKDense = numRoutedExperts ? int(text, 'first_k_dense_replace') : null;
  const moeLayerFreq = numRoutedExperts ? int(text, 'moe_layer_freq') : null;
  const ffns = ffnLayout(text, numLayers, numRoutedExperts, firstKDense, moeLayerFreq);
  const denseLayerIndices = numRoutedExperts ? ffns.flatMap((f, i) => (f === 'dense' ? [i] : [])) : [];
  const { mixers, attentionLayerTypes } = mixerLayout(text, numLayers, traits, assumptions);

  // Position encoding.
  const ropeParameters = obj(text, 'rope_parameters');
  const ropeTheta = num(text, 'rope_theta', 'rotary_emb_base') ?? (ropeParameters ? num(ropeParameters, 'rope_theta') : null);
  const ropeScaling = summarizeRopeScaling(obj(text, 'rope_scaling') ?? ropeParameters);
  const partialRotaryFactor = num(text, 'partial_rotary_factor', 'rotary_pct')
    ?? (ropeParameters ? num(ropeParameters, 'partial_rotary_factor') : null);
  const slidingWindow = bool(text, 'use_sliding_window') === false ? null : int(text, 'sliding_window');

  let tie = bool(text, 'tie_word_embeddings', 'tie_embedding');
  if (tie === null) {
    tie = traits.tieDefault;
    assumptions.push(`tie_word_embeddings absent: ${tie} assumed (${traits.label} default)`);
  }

  let routerCorrectionBias = numRoutedExperts ? resolve(traits.routerCorrectionBias, '') : false;
  const topkMethod = str(text, 'topk_method');
  if (numRoutedExperts && topkMethod !== null) routerCorrectionBias = topkMethod === 'noaux_tc';

  const qkNormTrait = traits.qkNorm;
  const qkNorm = qkNormTrait === null || typeof qkNormTrait === 'string'
    ? qkNormTrait
    : bool(text, qkNormTrait.key) ? qkNormTrait.scope : null;

  const mtpLayers = traits.mtpKey ? int(text, traits.mtpKey) ?? 0 : 0;
  if (!traits.mtpKey && (int(text, 'mtp_num_hidden_layers') ?? 0) > 0) {
    assumptions.push(`mtp_num_hidden_layers=${int(text, 'mtp_num_hidden_layers')}: multi-token-prediction weights not counted (derived checkpoints often drop them)`);
  }

  const linearHeadsK = int(text, 'linear_num_key_heads');
  const linearAttention = mixers.includes('linear_attention') && linearHeadsK !== null
    ? {
        numKeyHeads: linearHeadsK,
        numValueHeads: int(text, 'linear_num_value_heads') ?? linearHeadsK,
        keyHeadDim: int(text, 'linear_key_head_dim') ?? 128,
        valueHeadDim: int(text, 'linear_value_head_dim') ?? 128,
        convKernel: int(text, 'linear_conv_kernel_dim') ?? 4,
      }
    : null;
  const ema = mixers.includes('ema') ? { expand: int(text, 'expand') ?? 2, convKernel: int(text, 'd_conv') ?? 4 } : null;
  const nsa = traits.id === 'bora_moe' ? { compressBlock: int(text, 'compress_block') ?? 8 } : null;

  return {
    modelType,
    outerModelType,
    architectures,
    family: traits.id,
    familyLabel: traits.label,
    textConfigKey: textKey,
    hiddenSize,
    numLayers,
    numAttentionHeads,
    numKeyValueHeads,
    headDim,
    vHeadDim,
    attentionKind,
    mla,
    vocabSize,
    intermediateSize,
    moeIntermediateSize,
    sharedExpertIntermediateSize: numRoutedExperts ? sharedExpertIntermediateSize ?? 0 : null,
    numRoutedExperts,
    numSharedExperts,
    expertsPerToken,
    firstKDense,
    moeLayerFreq,
    numMoeLayers: ffns.filter((f) => f === 'moe').length,
    numDenseLayers: ffns.filter((f) => f === 'dense').length,
    denseLayerIndices,
    mixers,
    ffns,
    attentionLayerTypes,
    ropeTheta,
    ropeScaling,
    partialRotaryFactor,
    maxPositionEmbeddings: int(text, 'max_position_embeddings', 'n_positions', 'seq_length', 'max_seq_len', 'max_sequence_length'),
    slidingWindow,
    tieWordEmbeddings: tie,
    normType: traits.normType,
    normEps: num(text, 'rms_norm_eps', 'layer_norm_eps', 'layer_norm_epsilon', 'norm_eps', 'norm_epsilon'),
    normsPerLayer: traits.normsPerLayer,
    activation: str(text, 'hidden_act', 'hidden_activation', 'activation_function'),
    qkvBias: resolve(traits.qkvBias, 'q/k/v biases'),
    outputBias: resolve(traits.outputBias, 'output-projection bias'),
    mlpBias: resolve(traits.mlpBias, 'MLP biases'),
    qkNorm,
    attentionOutputGate: resolve(traits.attentionOutputGate, 'gated attention output'),
    attentionSinks: traits.attentionSinks,
    mlpKind: traits.mlpKind,
    learnedPositions: traits.learnedPositions,
    lmHeadBias: resolve(traits.lmHeadBias, 'lm_head bias'),
    // BORA's adaptive routing keeps a learned per-expert offset beside the router weight.
    routerBias: numRoutedExperts ? traits.routerBias || bool(text, 'adaptive_routing') === true : false,
    expertBias: numRoutedExperts ? traits.expertBias : false,
    routerCorrectionBias,
    sharedExpertGate: numRoutedExperts !== null && traits.sharedExpertGate && (sharedExpertIntermediateSize ?? 0) > 0,
    mtpLayers,
    linearAttention,
    ema,
    nsa,
    vision: readVision(raw),
    dtype: str(text, 'torch_dtype', 'dtype'),
    quantization: quantMethod(raw, text),
    assumptions,
  };
}

/**
 * Config-class defaults of the families VLMs nest most often. transformers writes a nested
 * config as its difference from these defaults (LLaVA-1.5's text_config has no hidden_size).
 */
const NESTED_DEFAULTS: Record<string, { className: string; values: Json }> = {
  llama: {
    className: 'LlamaConfig',
    values: { vocab_size: 32000, hidden_size: 4096, intermediate_size: 11008, num_hidden_layers: 32, num_attention_heads: 32, max_position_embeddings: 2048, rms_norm_eps: 1e-6, rope_theta: 10000, hidden_act: 'silu' },
  },
  mistral: {
    className: 'MistralConfig',
    values: { vocab_size: 32000, hidden_size: 4096, intermediate_size: 14336, num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 8, max_position_embeddings: 131072, rms_norm_eps: 1e-6, rope_theta: 10000, hidden_act: 'silu' },
  },
};

/** The language model's config: a nested text config when there is one, with inherited facts filled in. */
function languageModelConfig(raw: Json, assumptions: string[]): { text: Json; textKey: string | null } {
  for (const key of NESTED_TEXT_KEYS) {
    const nested = raw[key];
    if (isObject(nested) && (has(nested, 'hidden_size') || has(nested, 'model_type'))) {
      const text: Json = { ...nested };
      for (const inherited of INHERITED_KEYS) {
        if (!has(text, inherited) && has(raw, inherited)) text[inherited] = raw[inherited];
      }
      const defaults = NESTED_DEFAULTS[str(text, 'model_type') ?? ''];
      if (defaults) {
        const filled = Object.keys(defaults.values).filter((k) => !has(text, k));
        for (const k of filled) text[k] = defaults.values[k];
        if (filled.length > 0) assumptions.push(`${key} omits ${filled.join(', ')}: ${defaults.className} defaults assumed`);
      }
      return { text, textKey: key };
    }
  }
  return { text: raw, textKey: null };
}

function readMla(text: Json, traits: FamilyTraits, assumptions: string[]): MlaShape | null {
  const kvLoraRank = int(text, 'kv_lora_rank');
  if (traits.attention !== 'mla' && kvLoraRank === null) return null;
  const qkNopeHeadDim = int(text, 'qk_nope_head_dim');
  const qkRopeHeadDim = int(text, 'qk_rope_head_dim');
  if (kvLoraRank === null || qkNopeHeadDim === null || qkRopeHeadDim === null) return null;
  let vHeadDim = int(text, 'v_head_dim');
  if (vHeadDim === null) {
    // MiniCPM3's config class sets v_head_dim = qk_nope_head_dim when it is absent.
    vHeadDim = qkNopeHeadDim;
    assumptions.push(`v_head_dim absent: qk_nope_head_dim (${qkNopeHeadDim}) assumed`);
  }
  return { qLoraRank: int(text, 'q_lora_rank'), kvLoraRank, qkNopeHeadDim, qkRopeHeadDim, vHeadDim };
}

/** Which layers carry routed experts, by the rules each family's modeling code applies. */
function ffnLayout(
  text: Json,
  numLayers: number,
  numRoutedExperts: number | null,
  firstKDense: number | null,
  moeLayerFreq: number | null,
): FfnKind[] {
  if (!numRoutedExperts) return Array<FfnKind>(numLayers).fill('dense');
  const denseListed = new Set([...(ints(text, 'mlp_only_layers') ?? []), ...(ints(text, 'dense_layer_idxs') ?? [])]);
  const sparseStep = int(text, 'decoder_sparse_step');
  const interleave = int(text, 'interleave_moe_layer_step');
  const layers: FfnKind[] = [];
  for (let i = 0; i < numLayers; i++) {
    let moe = !denseListed.has(i);
    if (firstKDense !== null && i < firstKDense) moe = false;
    // DeepSeek: layer_idx % moe_layer_freq == 0; Qwen-MoE: (layer_idx + 1) % decoder_sparse_step == 0.
    if (moeLayerFreq && moeLayerFreq > 1 && i % moeLayerFreq !== 0) moe = false;
    if (sparseStep && sparseStep > 1 && (i + 1) % sparseStep !== 0) moe = false;
    if (interleave && interleave > 1 && (i + 1) % interleave !== 0) moe = false;
    layers.push(moe ? 'moe' : 'dense');
  }
  return layers;
}

function mixerLayout(text: Json, numLayers: number, traits: FamilyTraits, assumptions: string[]) {
  let layerTypes = strings(text, 'layer_types');
  if (layerTypes && layerTypes.length !== numLayers) {
    assumptions.push(`layer_types lists ${layerTypes.length} layers but num_hidden_layers is ${numLayers}: layer_types ignored`);
    layerTypes = null;
  }
  const interval = int(text, 'full_attention_interval');
  if (!layerTypes && traits.id === 'qwen3_next' && interval) {
    layerTypes = Array.from({ length: numLayers }, (_, i) => ((i + 1) % interval === 0 ? 'full_attention' : 'linear_attention'));
  }
  const mixers: MixerKind[] = (layerTypes ?? Array<string>(numLayers).fill('attention')).map((t) =>
    ATTENTION_LAYER_TYPES.has(t) ? 'attention' : t,
  );
  let attentionLayerTypes: Record<string, number> | null = null;
  if (layerTypes && layerTypes.some((t) => t !== 'attention' && ATTENTION_LAYER_TYPES.has(t))) {
    attentionLayerTypes = {};
    for (const t of layerTypes) if (ATTENTION_LAYER_TYPES.has(t)) attentionLayerTypes[t] = (attentionLayerTypes[t] ?? 0) + 1;
  }
  return { mixers, attentionLayerTypes };
}

/** rope_scaling as written, with per-frequency factor lists (longrope) replaced by their length. */
function summarizeRopeScaling(scaling: Json | null): Record<string, unknown> | null {
  if (!scaling) return null;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(scaling)) {
    if (key === 'rope_theta' || key === 'partial_rotary_factor') continue;
    out[key] = Array.isArray(value) && value.length > 4 ? `[${value.length} values]` : value;
  }
  const type = out['rope_type'] ?? out['type'];
  // Qwen3.5's rope_parameters carry rope_type 'default': no scaling at all.
  if (type === 'default' && out['factor'] === undefined) return null;
  return Object.keys(out).length > 0 ? out : null;
}

function readVision(raw: Json): VisionTower | null {
  const vision = obj(raw, 'vision_config');
  if (!vision) return null;
  const outer = str(raw, 'model_type');
  return {
    modelType: str(vision, 'model_type'),
    hiddenSize: int(vision, 'hidden_size', 'embed_dim', 'width'),
    numLayers: int(vision, 'num_hidden_layers', 'depth', 'num_layers'),
    intermediateSize: int(vision, 'intermediate_size'),
    imageSize: int(vision, 'image_size'),
    patchSize: int(vision, 'patch_size'),
    numChannels: int(vision, 'num_channels') ?? 3,
    useHead: bool(vision, 'vision_use_head') ?? true,
    projector: outer && PROJECTORS.has(outer) ? outer : null,
    projectorBias: bool(raw, 'multimodal_projector_bias') ?? true,
  };
}

function quantMethod(raw: Json, text: Json): string | null {
  const q = obj(text, 'quantization_config') ?? obj(raw, 'quantization_config');
  if (!q) return null;
  return str(q, 'quant_method') ?? 'unknown';
}

/** Outer model types whose vision-to-text projector layout is known. */
const PROJECTORS = new Set(['gemma3', 'llava', 'llava_next', 'paligemma']);
