/**
 * Parameter counts from the tensors a checkpoint actually holds, grouped like the config count
 * (ParamBreakdown), so that one can be checked against the other group by group.
 *
 * The grouping is for counting, not for pairing tensors: MLA's latent norms and q/k norms are
 * part of attention here, as they are in the config count.
 */
import type { ParamBreakdown, ParamCount } from './types.ts';

export type TensorGroup = keyof ParamBreakdown | 'mtp' | 'vision' | 'quantScales' | 'other';

export interface TensorParamCount {
  /** Parameters of the language model's main stack (what `totalParams` counts). */
  totalParams: number;
  /** Every tensor element except quantization scales: main stack, MTP, vision and unclassified tensors. */
  total: number;
  byGroup: Record<TensorGroup, number>;
  tensorCount: number;
  /** Up to 20 names that fit no group (their elements are in `other`, outside totalParams). */
  unclassified: string[];
}

const VISION = /(?:^|\.)(?:vision_tower|vision_model|visual|vision_encoder|image_encoder|multi_modal_projector|mm_projector|vision_embed_tokens)\./;
const QUANT = /(?:weight_scale_inv|weight_scale|input_scale|_scales|\.scales|\.qzeros|\.g_idx)$/;
const LAYER = /(?:^|\.)(?:layers|h|blocks|layer)\.(\d+)\./;
const EMBEDDING = /(?:^|\.)(?:embed_tokens|wte|wpe|tok_embeddings|word_embeddings|embed_positions|position_embeddings)\.weight$/;
const LM_HEAD = /^(?:lm_head|embed_out|output)\.(?:weight|bias)$|(?:^|\.)lm_head\.(?:weight|bias)$/;
const FINAL_NORM = /(?:^|\.)(?:norm|ln_f|final_layernorm|final_layer_norm)\.(?:weight|bias)$/;

/** Within a layer, first match wins. */
const LAYER_GROUPS: [RegExp, keyof ParamBreakdown][] = [
  [/(?:^|\.)(?:shared_experts?|shared_mlp|shexp)\.|shared_expert_gate\./, 'sharedExperts'],
  [/(?:^|\.)(?:experts|switch_mlp|sparse_experts)\.|block_sparse_moe\.(?:input_linear|output_linear)\./, 'routedExperts'],
  [/(?:^|\.)(?:gate|router)\.(?:weight|bias|e_score_correction_bias)$|(?:^|\.)router\.layer\.|e_score_correction_bias$|routing_offset$/, 'router'],
  [/(?:^|\.)(?:input_layernorm|post_attention_layernorm|pre_feedforward_layernorm|post_feedforward_layernorm|ln_1|ln_2|mixer_norm|ffn_norm|attention_norm|attn_norm)\.(?:weight|bias)$/, 'norms'],
  [/(?:^|\.)linear_attn\./, 'otherMixers'],
  [/(?:^|\.)(?:self_attn|attention|attn)\./, 'attention'],
  [/(?:^|\.)(?:mlp|feed_forward|ffn)\./, 'denseMlp'],
];

export interface TensorCountOptions {
  /** Layers at or beyond this index are multi-token-prediction layers (DeepSeek-V3's layer 61). */
  numLayers?: number;
}

export function countParamsFromTensors(
  tensors: readonly { name: string; shape: readonly number[] }[],
  options: TensorCountOptions = {},
): TensorParamCount {
  const byGroup: Record<TensorGroup, number> = {
    embedding: 0, lmHead: 0, attention: 0, otherMixers: 0, norms: 0, denseMlp: 0, router: 0,
    sharedExperts: 0, routedExperts: 0, mtp: 0, vision: 0, quantScales: 0, other: 0,
  };
  const unclassified: string[] = [];
  // BORA-style `mixer.*` holds attention in some layers and another mixer in others: a layer
  // whose mixer has a q projection is an attention layer.
  const attentionMixerLayers = new Set<number>();
  for (const { name } of tensors) {
    const layer = LAYER.exec(name);
    if (layer && /\.mixer\.(?:q_proj|qkv_proj)\.weight$/.test(name)) attentionMixerLayers.add(Number(layer[1]));
  }
  for (const { name, shape } of tensors) {
    const group = groupOf(name, options, attentionMixerLayers);
    byGroup[group] += shape.reduce((p, d) => p * d, 1);
    if (group === 'other' && unclassified.length < 20) unclassified.push(name);
  }
  const mainGroups: (keyof ParamBreakdown)[] = ['embedding', 'lmHead', 'attention', 'otherMixers', 'norms', 'denseMlp', 'router', 'sharedExperts', 'routedExperts'];
  const totalParams = mainGroups.reduce((s, g) => s + byGroup[g], 0);
  return {
    totalParams,
    total: totalParams + byGroup.mtp + byGroup.vision + byGroup.other,
    byGroup,
    tensorCount: tensors.length,
    unclassified,
  };
}

/**
 * `countParamsFromTensors(tensors).total` alone: every element but quantization scales, whatever
 * the group (one test a tensor, where the grouping takes several: a report asks it of both models).
 */
export function totalTensorElements(tensors: readonly { name: string; shape: readonly number[] }[]): number {
  let total = 0;
  for (const { name, shape } of tensors) if (!QUANT.test(name)) total += shape.reduce((p, d) => p * d, 1);
  return total;
}

function groupOf(name: string, options: TensorCountOptions, attentionMixerLayers: Set<number>): TensorGroup {
  if (QUANT.test(name)) return 'quantScales';
  if (VISION.test(name)) return 'vision';
  if (/^(?:model\.)?mtp\./.test(name)) return 'mtp';
  const layerMatch = LAYER.exec(name);
  if (layerMatch) {
    const layer = Number(layerMatch[1]);
    if (options.numLayers !== undefined && layer >= options.numLayers) return 'mtp';
    const rest = name.slice(layerMatch.index + layerMatch[0].length);
    if (/^mixer\./.test(rest)) return attentionMixerLayers.has(layer) ? 'attention' : 'otherMixers';
    for (const [pattern, group] of LAYER_GROUPS) if (pattern.test(rest)) return group;
    return 'other';
  }
  if (EMBEDDING.test(name)) return 'embedding';
  if (LM_HEAD.test(name)) return 'lmHead';
  if (FINAL_NORM.test(name)) return 'norms';
  return 'other';
}

export interface ParamCheck {
  /** What the config says the tensors should hold (main stack). */
  configParams: number | null;
  tensorParams: number;
  /** tensorParams − configParams; null when the config could not be counted. */
  difference: number | null;
  relativeDifference: number | null;
  /** Per group, where config and tensors disagree. */
  mismatches: { group: string; config: number; tensors: number }[];
  notes: string[];
}

/** The config's count against the tensors' count, group by group. */
export function checkParamsAgainstTensors(config: ParamCount, tensors: TensorParamCount): ParamCheck {
  const notes: string[] = [];
  const mismatches: ParamCheck['mismatches'] = [];
  if (config.breakdown) {
    for (const [group, expected] of Object.entries(config.breakdown) as [keyof ParamBreakdown, number][]) {
      const actual = tensors.byGroup[group];
      if (actual !== expected) mismatches.push({ group, config: expected, tensors: actual });
    }
    if (config.mtpParams !== tensors.byGroup.mtp) mismatches.push({ group: 'mtp', config: config.mtpParams, tensors: tensors.byGroup.mtp });
    if (config.visionParams !== null && config.visionParams !== tensors.byGroup.vision) {
      mismatches.push({ group: 'vision', config: config.visionParams, tensors: tensors.byGroup.vision });
    }
  }
  const lm = mismatches.find((m) => m.group === 'lmHead');
  if (lm && lm.config === 0 && lm.tensors > 0) notes.push('the checkpoint stores lm_head although the config ties it to the embedding');
  if (config.mtpParams > 0 && tensors.byGroup.mtp === 0) notes.push('the config declares multi-token-prediction layers that the checkpoint does not hold');
  if (tensors.byGroup.quantScales > 0) notes.push('quantization scales present: the checkpoint is quantized, element counts of packed tensors may differ from parameter counts');
  if (tensors.byGroup.other > 0) notes.push(`${tensors.byGroup.other.toLocaleString('en-US')} elements in tensors of no known group (e.g. ${tensors.unclassified.slice(0, 3).join(', ')})`);
  const configParams = config.totalParams;
  const difference = configParams === null ? null : tensors.totalParams - configParams;
  return {
    configParams,
    tensorParams: tensors.totalParams,
    difference,
    relativeDifference: difference === null || configParams === 0 || configParams === null ? null : difference / configParams,
    mismatches,
    notes,
  };
}
