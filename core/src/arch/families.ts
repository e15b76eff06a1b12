/**
 * What each family's config leaves unsaid: the defaults its modeling code assumes (tied
 * embeddings, biases, extra norms) and how its MoE fields are meant. These decide the parameter
 * count as much as the numbers in the file do.
 */
import type { NormType } from './types.ts';

/** A trait that is either fixed for the family or read from a config key (with a default). */
export type Trait = boolean | { key: string; default: boolean };

export interface FamilyTraits {
  id: string;
  label: string;
  /** tie_word_embeddings when the config omits it (the family's config class default). */
  tieDefault: boolean;
  qkvBias: Trait;
  outputBias: Trait;
  mlpBias: Trait;
  qkNorm: 'head' | 'full' | null | { key: string; scope: 'head' | 'full' };
  normsPerLayer: number;
  normType: NormType;
  mlpKind: 'gated' | 'plain';
  attention: 'standard' | 'mla';
  /** intermediate_size is the width of one routed expert (Mixtral, Granite-MoE), not of a dense MLP. */
  expertWidthFromIntermediate: boolean;
  sharedExpertGate: boolean;
  routerCorrectionBias: Trait;
  attentionOutputGate: Trait;
  attentionSinks: boolean;
  routerBias: boolean;
  expertBias: boolean;
  lmHeadBias: Trait;
  learnedPositions: boolean;
  /** Config key that counts multi-token-prediction layers. */
  mtpKey: string | null;
  /** True for families whose layout is known well enough for an exact count. */
  known: boolean;
  /**
   * What the RMSNorm adds to its stored weight before scaling: 1 where it computes x̂·(1 + w)
   * (Gemma, Qwen3-Next: "zero-centred" weights stored near 0), else 0.
   */
  normOffset: number;
}

const BASE: FamilyTraits = {
  id: 'llama',
  label: 'Llama',
  tieDefault: false,
  qkvBias: { key: 'attention_bias', default: false },
  outputBias: { key: 'attention_bias', default: false },
  mlpBias: { key: 'mlp_bias', default: false },
  qkNorm: null,
  normsPerLayer: 2,
  normType: 'rmsnorm',
  mlpKind: 'gated',
  attention: 'standard',
  expertWidthFromIntermediate: false,
  sharedExpertGate: false,
  routerCorrectionBias: false,
  attentionOutputGate: false,
  attentionSinks: false,
  routerBias: false,
  expertBias: false,
  lmHeadBias: false,
  learnedPositions: false,
  mtpKey: null,
  known: true,
  normOffset: 0,
};

function family(id: string, label: string, traits: Partial<FamilyTraits> = {}): FamilyTraits {
  return { ...BASE, id, label, ...traits };
}

const qwenBias = { qkvBias: true, outputBias: false } as const;
const deepseekLike: Partial<FamilyTraits> = {
  attention: 'mla',
  qkvBias: false,
  outputBias: false,
  mtpKey: 'num_nextn_predict_layers',
};

/** By model_type. Aliases share one entry. */
const FAMILIES: Record<string, FamilyTraits> = {
  llama: family('llama', 'Llama'),
  mistral: family('mistral', 'Mistral', { qkvBias: false, outputBias: false }),
  mixtral: family('mixtral', 'Mixtral', { qkvBias: false, outputBias: false, expertWidthFromIntermediate: true }),
  qwen2: family('qwen2', 'Qwen2', { ...qwenBias }),
  qwen2_moe: family('qwen2_moe', 'Qwen2-MoE', { ...qwenBias, sharedExpertGate: true }),
  qwen3: family('qwen3', 'Qwen3', { qkNorm: 'head' }),
  qwen3_moe: family('qwen3_moe', 'Qwen3-MoE', { qkNorm: 'head' }),
  qwen3_next: family('qwen3_next', 'Qwen3-Next', {
    qkNorm: 'head', sharedExpertGate: true, attentionOutputGate: { key: 'attn_output_gate', default: true }, normOffset: 1,
  }),
  deepseek_v2: family('deepseek_v2', 'DeepSeek-V2', { ...deepseekLike }),
  // The correction bias exists with topk_method 'noaux_tc' (V3's default); normalize reads that.
  deepseek_v3: family('deepseek_v3', 'DeepSeek-V3', { ...deepseekLike, routerCorrectionBias: true }),
  glm4_moe: family('glm4_moe', 'GLM-4.5 (GLM-4-MoE)', {
    qkvBias: { key: 'attention_bias', default: true }, outputBias: false,
    qkNorm: { key: 'use_qk_norm', scope: 'head' }, routerCorrectionBias: true, mtpKey: 'num_nextn_predict_layers',
  }),
  solar_open: family('solar_open', 'Solar-Open', {
    routerCorrectionBias: true, mtpKey: 'num_nextn_predict_layers',
    qkNorm: { key: 'use_qk_norm', scope: 'head' },
  }),
  phi3: family('phi3', 'Phi-3', { qkvBias: false, outputBias: false }),
  phimoe: family('phimoe', 'Phi-3.5-MoE', {
    qkvBias: { key: 'attention_bias', default: false }, outputBias: { key: 'attention_bias', default: false },
    normType: 'layernorm', expertWidthFromIntermediate: true, lmHeadBias: { key: 'lm_head_bias', default: false },
  }),
  gemma: family('gemma', 'Gemma', { tieDefault: true, normOffset: 1 }),
  gemma2: family('gemma2', 'Gemma-2', { tieDefault: true, normsPerLayer: 4, normOffset: 1 }),
  gemma3_text: family('gemma3_text', 'Gemma-3', { tieDefault: true, normsPerLayer: 4, qkNorm: 'head', normOffset: 1 }),
  exaone: family('exaone', 'EXAONE', { tieDefault: true, qkvBias: false, outputBias: false }),
  exaone4: family('exaone4', 'EXAONE-4', { qkNorm: 'head' }),
  granite: family('granite', 'Granite'),
  granitemoe: family('granitemoe', 'Granite-MoE', { expertWidthFromIntermediate: true }),
  granitemoeshared: family('granitemoeshared', 'Granite-MoE (shared expert)', { expertWidthFromIntermediate: true }),
  minicpm: family('minicpm', 'MiniCPM', { tieDefault: true, expertWidthFromIntermediate: true }),
  minicpm3: family('minicpm3', 'MiniCPM3', { tieDefault: true, attention: 'mla' }),
  olmo2: family('olmo2', 'OLMo-2', { qkNorm: 'full' }),
  olmoe: family('olmoe', 'OLMoE', { qkNorm: 'full', expertWidthFromIntermediate: true }),
  gpt_oss: family('gpt_oss', 'gpt-oss', {
    qkvBias: true, outputBias: true, attentionSinks: true, routerBias: true, expertBias: true,
    expertWidthFromIntermediate: true,
  }),
  bora_moe: family('bora_moe', 'BORA (EMA + NSA hybrid MoE)', { tieDefault: true, qkNorm: 'head' }),
  gpt2: family('gpt2', 'GPT-2', {
    tieDefault: true, qkvBias: true, outputBias: true, mlpBias: true, normType: 'layernorm', mlpKind: 'plain',
    learnedPositions: true,
  }),
  gpt_neox: family('gpt_neox', 'GPT-NeoX', {
    qkvBias: { key: 'attention_bias', default: true }, outputBias: { key: 'attention_bias', default: true },
    mlpBias: true, normType: 'layernorm', mlpKind: 'plain',
  }),
};

const ALIASES: Record<string, string> = {
  kimi_k2: 'deepseek_v3',
  qwen3_5_moe: 'qwen3_next',
  qwen3_5_moe_text: 'qwen3_next',
  qwen3_5: 'qwen3_next',
  qwen3_5_text: 'qwen3_next',
  mistral3_text: 'mistral',
  ministral: 'mistral',
  solar: 'llama',
};

/** Model-class name prefixes, for configs without model_type. */
const ARCHITECTURE_PREFIXES: [RegExp, string][] = [
  [/^Mixtral/, 'mixtral'],
  [/^Mistral/, 'mistral'],
  [/^Llama/, 'llama'],
  [/^Qwen2Moe/, 'qwen2_moe'],
  [/^Qwen2/, 'qwen2'],
  [/^Qwen3Moe/, 'qwen3_moe'],
  [/^Qwen3Next|^Qwen3_5/, 'qwen3_next'],
  [/^Qwen3/, 'qwen3'],
  [/^DeepseekV2/, 'deepseek_v2'],
  [/^DeepseekV3/, 'deepseek_v3'],
  [/^Glm4Moe/, 'glm4_moe'],
  [/^PhiMoE/, 'phimoe'],
  [/^Phi3/, 'phi3'],
  [/^Gemma3/, 'gemma3_text'],
  [/^Gemma2/, 'gemma2'],
  [/^Gemma/, 'gemma'],
  [/^Exaone4/, 'exaone4'],
  [/^Exaone/, 'exaone'],
  [/^GraniteMoeShared/, 'granitemoeshared'],
  [/^GraniteMoe/, 'granitemoe'],
  [/^Granite/, 'granite'],
  [/^MiniCPM3/, 'minicpm3'],
  [/^MiniCPM/, 'minicpm'],
  [/^GptOss/, 'gpt_oss'],
  [/^BoraMoE/, 'bora_moe'],
  [/^GPT2/, 'gpt2'],
  [/^GPTNeoX/, 'gpt_neox'],
  [/^SolarOpen/, 'solar_open'],
];

/** The family traits for a model_type (or, without one, the first architecture name). */
export function familyOf(modelType: string | null, architectures: string[]): FamilyTraits | null {
  if (modelType) {
    const id = ALIASES[modelType] ?? modelType;
    if (FAMILIES[id]) return FAMILIES[id];
  }
  for (const arch of architectures) {
    for (const [pattern, id] of ARCHITECTURE_PREFIXES) if (pattern.test(arch)) return FAMILIES[id]!;
  }
  return null;
}

/** Llama-shaped traits for a family we do not know, so that the count is at least indicative. */
export function unknownFamily(modelType: string | null): FamilyTraits {
  return { ...BASE, id: 'unknown', label: modelType ? `unknown (${modelType})` : 'unknown', known: false };
}
