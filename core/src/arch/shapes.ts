/**
 * The tensor shapes a config implies, by role group, in Hugging Face's [out, in] convention and
 * with canonical (unfused) names: Phi-3's qkv_proj is q, k and v here, so shapes from different
 * families line up.
 */
import type { NormalizedArch } from './types.ts';

export type RoleGroupName =
  | 'embedding' | 'position_embedding' | 'lm_head'
  | 'attention.q' | 'attention.k' | 'attention.v' | 'attention.kv' | 'attention.o'
  | 'other_mixers' | 'norms' | 'mlp' | 'router' | 'shared_experts' | 'routed_experts';

export interface ShapedTensor {
  name: string;
  shape: number[];
}

export interface RoleGroupShapes {
  group: RoleGroupName;
  /** One layer's (one expert's) tensors of this group. */
  tensors: ShapedTensor[];
  /** Layers that carry the group (1 for embeddings and heads). */
  layers: number;
  /** Copies per layer: experts per layer, norm vectors per layer. */
  perLayer: number;
}

export const ROLE_GROUP_LABELS: Record<RoleGroupName, string> = {
  embedding: 'embedding',
  position_embedding: 'position embedding',
  lm_head: 'lm_head',
  'attention.q': 'attention q',
  'attention.k': 'attention k',
  'attention.v': 'attention v',
  'attention.kv': 'attention kv (MLA)',
  'attention.o': 'attention o',
  other_mixers: 'non-attention mixers',
  norms: 'norms',
  mlp: 'dense MLP',
  router: 'router',
  shared_experts: 'shared experts',
  routed_experts: 'routed experts',
};

/** Role groups of one architecture; a group the model lacks is absent from the map. */
export function roleGroupShapes(arch: NormalizedArch): Map<RoleGroupName, RoleGroupShapes> {
  const H = arch.hiddenSize;
  const V = arch.vocabSize;
  const groups = new Map<RoleGroupName, RoleGroupShapes>();
  const add = (group: RoleGroupName, tensors: ShapedTensor[], layers: number, perLayer = 1) => {
    if (layers > 0 && tensors.length > 0) groups.set(group, { group, tensors, layers, perLayer });
  };

  add('embedding', [{ name: 'embed_tokens', shape: [V, H] }], 1);
  if (arch.learnedPositions && arch.maxPositionEmbeddings) add('position_embedding', [{ name: 'wpe', shape: [arch.maxPositionEmbeddings, H] }], 1);
  if (!arch.tieWordEmbeddings) add('lm_head', [{ name: 'lm_head', shape: [V, H] }], 1);

  const attentionLayers = arch.mixers.filter((m) => m === 'attention').length;
  const nh = arch.numAttentionHeads;
  if (nh !== null && arch.mla) {
    const { qLoraRank, kvLoraRank, qkNopeHeadDim, qkRopeHeadDim, vHeadDim } = arch.mla;
    const qHead = qkNopeHeadDim + qkRopeHeadDim;
    add('attention.q', qLoraRank === null
      ? [{ name: 'q_proj', shape: [nh * qHead, H] }]
      : [{ name: 'q_a_proj', shape: [qLoraRank, H] }, { name: 'q_b_proj', shape: [nh * qHead, qLoraRank] }], attentionLayers);
    add('attention.kv', [
      { name: 'kv_a_proj_with_mqa', shape: [kvLoraRank + qkRopeHeadDim, H] },
      { name: 'kv_b_proj', shape: [nh * (qkNopeHeadDim + vHeadDim), kvLoraRank] },
    ], attentionLayers);
    add('attention.o', [{ name: 'o_proj', shape: [H, nh * vHeadDim] }], attentionLayers);
  } else if (nh !== null && arch.headDim !== null) {
    const hd = arch.headDim;
    const nkv = arch.numKeyValueHeads ?? nh;
    add('attention.q', [{ name: 'q_proj', shape: [nh * hd * (arch.attentionOutputGate ? 2 : 1), H] }], attentionLayers);
    add('attention.k', [{ name: 'k_proj', shape: [nkv * hd, H] }], attentionLayers);
    add('attention.v', [{ name: 'v_proj', shape: [nkv * hd, H] }], attentionLayers);
    add('attention.o', [{ name: 'o_proj', shape: [H, nh * hd] }], attentionLayers);
  }

  const otherMixerLayers = arch.numLayers - attentionLayers;
  if (arch.linearAttention) {
    const la = arch.linearAttention;
    const keyDim = la.numKeyHeads * la.keyHeadDim;
    const valueDim = la.numValueHeads * la.valueHeadDim;
    add('other_mixers', [
      { name: 'linear_attn.in_proj_qkv', shape: [2 * keyDim + valueDim, H] },
      { name: 'linear_attn.in_proj_z', shape: [valueDim, H] },
      { name: 'linear_attn.out_proj', shape: [H, valueDim] },
    ], otherMixerLayers);
  } else if (arch.ema) {
    const inner = H * arch.ema.expand;
    add('other_mixers', [
      { name: 'ema.in_proj', shape: [2 * inner, H] },
      { name: 'ema.out_proj', shape: [H, inner] },
    ], otherMixerLayers);
  }

  add('norms', [{ name: 'norm', shape: [H] }], arch.numLayers, arch.normsPerLayer);

  const mlp = (width: number): ShapedTensor[] => arch.mlpKind === 'gated'
    ? [{ name: 'gate_proj', shape: [width, H] }, { name: 'up_proj', shape: [width, H] }, { name: 'down_proj', shape: [H, width] }]
    : [{ name: 'up_proj', shape: [width, H] }, { name: 'down_proj', shape: [H, width] }];
  if (arch.intermediateSize !== null) add('mlp', mlp(arch.intermediateSize), arch.numDenseLayers);
  if (arch.numRoutedExperts) {
    add('router', [{ name: 'gate', shape: [arch.numRoutedExperts, H] }], arch.numMoeLayers);
    if (arch.sharedExpertIntermediateSize) add('shared_experts', mlp(arch.sharedExpertIntermediateSize), arch.numMoeLayers);
    if (arch.moeIntermediateSize !== null) add('routed_experts', mlp(arch.moeIntermediateSize), arch.numMoeLayers, arch.numRoutedExperts);
  }
  return groups;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
