/**
 * The normalized description of a language model's architecture, read from config.json.
 *
 * Families spell the same facts differently (`num_local_experts` / `n_routed_experts` /
 * `num_experts`, `num_layers` / `num_hidden_layers`); everything downstream (parameter counts,
 * the diff, which tensors can be compared) reads only this shape.
 */

export type AttentionKind = 'MHA' | 'GQA' | 'MQA' | 'MLA';
export type NormType = 'rmsnorm' | 'layernorm';
/** What mixes tokens in a layer. */
export type MixerKind = 'attention' | 'linear_attention' | 'ema' | (string & {});
export type FfnKind = 'dense' | 'moe';

export interface MlaShape {
  /** null: queries are projected directly (no low-rank q path), as in DeepSeek-V2-Lite. */
  qLoraRank: number | null;
  kvLoraRank: number;
  qkNopeHeadDim: number;
  qkRopeHeadDim: number;
  vHeadDim: number;
}

/** Gated DeltaNet (Qwen3-Next, Qwen3.5) linear-attention layers. */
export interface LinearAttentionShape {
  numKeyHeads: number;
  numValueHeads: number;
  keyHeadDim: number;
  valueHeadDim: number;
  convKernel: number;
}

/** MEGA-style damped EMA mixer (BORA). */
export interface EmaMixerShape {
  expand: number;
  convKernel: number;
}

export interface VisionTower {
  modelType: string | null;
  hiddenSize: number | null;
  numLayers: number | null;
  intermediateSize: number | null;
  imageSize: number | null;
  patchSize: number | null;
  numChannels: number;
  /** SigLIP's attention-pooling head (vision_use_head). */
  useHead: boolean;
  /** Outer model type whose projector layout is known (gemma3, llava, llava_next, paligemma), else null. */
  projector: string | null;
  projectorBias: boolean;
}

export interface NormalizedArch {
  /** model_type of the language model (the nested text_config's when there is one). */
  modelType: string | null;
  /** model_type of the outer config when the language model is nested (e.g. gemma3 around gemma3_text). */
  outerModelType: string | null;
  architectures: string[];
  /** Recognized family, e.g. `llama`, `deepseek`, `qwen2_moe`; `unknown` when not recognized. */
  family: string;
  familyLabel: string;
  /** Where the language model's fields were read: null for the top level, else e.g. `text_config`. */
  textConfigKey: string | null;

  hiddenSize: number;
  numLayers: number;
  numAttentionHeads: number | null;
  numKeyValueHeads: number | null;
  /** Query/key head width (MLA: qk_nope_head_dim + qk_rope_head_dim). */
  headDim: number | null;
  /** Value head width where it differs from headDim (MLA); else equal to headDim. */
  vHeadDim: number | null;
  attentionKind: AttentionKind | null;
  mla: MlaShape | null;
  vocabSize: number;
  /** Width of the dense MLP (layers without experts). */
  intermediateSize: number | null;
  /** Width of one routed expert. */
  moeIntermediateSize: number | null;
  /** Total width of the shared expert(s) in a MoE layer (0 or null when none). */
  sharedExpertIntermediateSize: number | null;
  numRoutedExperts: number | null;
  numSharedExperts: number | null;
  expertsPerToken: number | null;
  /** Leading layers that keep a dense MLP (first_k_dense_replace). */
  firstKDense: number | null;
  moeLayerFreq: number | null;
  numMoeLayers: number;
  numDenseLayers: number;
  /** Indices of layers with a dense MLP in a model that has experts (empty for dense models). */
  denseLayerIndices: number[];
  /** Token mixer per layer (attention, linear_attention, ema). */
  mixers: MixerKind[];
  /** FFN per layer. */
  ffns: FfnKind[];
  /** Attention-window layout (sliding/full) where the config gives one; counts only. */
  attentionLayerTypes: Record<string, number> | null;

  ropeTheta: number | null;
  /** rope_scaling with long per-frequency lists summarised. */
  ropeScaling: Record<string, unknown> | null;
  partialRotaryFactor: number | null;
  maxPositionEmbeddings: number | null;
  slidingWindow: number | null;
  tieWordEmbeddings: boolean;
  normType: NormType;
  normEps: number | null;
  /** Norm vectors per decoder layer (2 for Llama, 4 for Gemma-2/3). */
  normsPerLayer: number;
  activation: string | null;

  /** Biases on q/k/v projections. */
  qkvBias: boolean;
  /** Bias on the attention output projection. */
  outputBias: boolean;
  mlpBias: boolean;
  /** q/k RMSNorm: per head (`head`, Qwen3/Gemma-3), over the whole projection (`full`, OLMo-2), or none. */
  qkNorm: 'head' | 'full' | null;
  /** Sigmoid gate on the attention output (Qwen3-Next/3.5): q_proj is twice as wide. */
  attentionOutputGate: boolean;
  /** Learned per-head attention sinks (gpt-oss). */
  attentionSinks: boolean;
  mlpKind: 'gated' | 'plain';
  /** Learned absolute position embeddings (GPT-2 style), in addition to or instead of RoPE. */
  learnedPositions: boolean;
  lmHeadBias: boolean;
  routerBias: boolean;
  /** Biases on routed-expert projections (gpt-oss). */
  expertBias: boolean;
  /** DeepSeek-V3-style per-expert routing correction bias (e_score_correction_bias). */
  routerCorrectionBias: boolean;
  /** Qwen-MoE's sigmoid gate on the shared expert (a [1, hidden] tensor). */
  sharedExpertGate: boolean;
  /** Multi-token-prediction layers stored beside the main stack (DeepSeek-V3, GLM-4.5). */
  mtpLayers: number;
  linearAttention: LinearAttentionShape | null;
  ema: EmaMixerShape | null;
  /** NSA-style extras of BORA's attention layers (compression and branch gate). */
  nsa: { compressBlock: number } | null;

  vision: VisionTower | null;
  /** torch_dtype / dtype as written. */
  dtype: string | null;
  /** quantization_config.quant_method (fp8, mxfp4, gptq, ...), null for plain weights. */
  quantization: string | null;
  /** What was not in the config and had to be assumed (family defaults). */
  assumptions: string[];
}

/** Parameters per role group. */
export interface ParamBreakdown {
  embedding: number;
  lmHead: number;
  attention: number;
  /** Non-attention token mixers (linear attention, EMA). */
  otherMixers: number;
  norms: number;
  denseMlp: number;
  router: number;
  sharedExperts: number;
  routedExperts: number;
}

export interface ParamCount {
  /** Language model (main stack, embeddings counted once when tied); null when it cannot be counted. */
  totalParams: number | null;
  /** Parameters used per token: all but the routed experts not chosen. */
  activeParams: number | null;
  /** activeParams without the input embedding table (a lookup, not a matmul; the usual 6ND convention). */
  activeParamsNonEmbedding: number | null;
  breakdown: ParamBreakdown | null;
  /** Multi-token-prediction layers (counted separately, as DeepSeek does: 671B + 14B MTP). */
  mtpParams: number;
  /** Vision tower and projector; null when there is one that cannot be counted. */
  visionParams: number | null;
  /** Everything a full checkpoint should hold: total + MTP + vision (null when any part is unknown). */
  checkpointParams: number | null;
  /** Why a figure is null or approximate. */
  notes: string[];
}
