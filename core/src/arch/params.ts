/**
 * Total and active parameter counts from a normalized architecture, tensor by tensor as each
 * family's modeling code creates them (biases, extra norms, routers, MLA's low-rank paths).
 *
 * Conventions, because published figures differ on them:
 * - tied embeddings count once;
 * - `totalParams` is the language model's main stack; multi-token-prediction layers and a vision
 *   tower are reported beside it (DeepSeek-V3 publishes 671B, its checkpoint holds 685B);
 * - `activeParams` counts everything a token touches, embedding table included (Mixtral's 12.9B,
 *   Qwen's A14B); `activeParamsNonEmbedding` leaves the input table out, the convention of
 *   DeepSeek (V2-Lite "2.4B") and gpt-oss ("5.1B").
 */
import type { NormalizedArch, ParamBreakdown, ParamCount, VisionTower } from './types.ts';

/** Parameters of one decoder layer, split into what every token uses and the routed experts. */
interface LayerCount {
  mixer: number;
  mixerKind: 'attention' | 'other';
  norms: number;
  denseMlp: number;
  router: number;
  sharedExperts: number;
  routedExperts: number;
  /** Routed-expert parameters one token uses (top-k experts). */
  routedActive: number;
}

export function countParams(arch: NormalizedArch): ParamCount {
  const notes: string[] = [];
  const H = arch.hiddenSize;
  const norm = (n: number) => (arch.normType === 'layernorm' ? 2 * n : n);

  let embedding = arch.vocabSize * H;
  if (arch.learnedPositions) {
    if (arch.maxPositionEmbeddings === null) notes.push('learned position embeddings not counted: no max_position_embeddings');
    else embedding += arch.maxPositionEmbeddings * H;
  }
  const lmHead = (arch.tieWordEmbeddings ? 0 : arch.vocabSize * H) + (arch.lmHeadBias ? arch.vocabSize : 0);

  const layers: LayerCount[] = [];
  let countable = true;
  for (let i = 0; i < arch.numLayers; i++) {
    const layer = countLayer(arch, i, notes);
    if (!layer) {
      countable = false;
      break;
    }
    layers.push(layer);
  }
  const finalNorm = norm(H);
  const vision = countVision(arch, notes);

  if (!countable) {
    return {
      totalParams: null, activeParams: null, activeParamsNonEmbedding: null, breakdown: null,
      mtpParams: 0, visionParams: vision, checkpointParams: null, notes: dedupe(notes),
    };
  }

  const sum = (pick: (l: LayerCount) => number) => layers.reduce((s, l) => s + pick(l), 0);
  const breakdown: ParamBreakdown = {
    embedding,
    lmHead,
    attention: sum((l) => (l.mixerKind === 'attention' ? l.mixer : 0)),
    otherMixers: sum((l) => (l.mixerKind === 'other' ? l.mixer : 0)),
    norms: sum((l) => l.norms) + finalNorm,
    denseMlp: sum((l) => l.denseMlp),
    router: sum((l) => l.router),
    sharedExperts: sum((l) => l.sharedExperts),
    routedExperts: sum((l) => l.routedExperts),
  };
  const totalParams = Object.values(breakdown).reduce((s, n) => s + n, 0);
  const activeParams = totalParams - breakdown.routedExperts + sum((l) => l.routedActive);
  // With tied embeddings the table is also the output head, which is a matmul: it stays.
  const inputTable = arch.tieWordEmbeddings ? embedding - arch.vocabSize * H : embedding;
  const activeParamsNonEmbedding = activeParams - inputTable;

  let mtpParams = 0;
  if (arch.mtpLayers > 0) {
    // DeepSeek-V3 / GLM-4.5 MTP module: a full MoE decoder layer, eh_proj [H, 2H], enorm, hnorm,
    // shared_head.norm, and its own copies of the embedding table and output head.
    const moeLayerIndex = arch.ffns.lastIndexOf('moe');
    const block = countLayer(arch, moeLayerIndex >= 0 ? moeLayerIndex : arch.numLayers - 1, notes)!;
    const perLayer = block.mixer + block.norms + block.denseMlp + block.router + block.sharedExperts + block.routedExperts
      + 2 * H * H + 3 * norm(H) + 2 * arch.vocabSize * H;
    mtpParams = arch.mtpLayers * perLayer;
    notes.push(`${arch.mtpLayers} multi-token-prediction layer(s): ${mtpParams.toLocaleString('en-US')} parameters, outside totalParams`);
  }

  return {
    totalParams,
    activeParams,
    activeParamsNonEmbedding,
    breakdown,
    mtpParams,
    visionParams: vision,
    checkpointParams: vision === null ? null : totalParams + mtpParams + vision,
    notes: dedupe(notes),
  };
}

function countLayer(arch: NormalizedArch, i: number, notes: string[]): LayerCount | null {
  const H = arch.hiddenSize;
  const norm = (n: number) => (arch.normType === 'layernorm' ? 2 * n : n);
  const mixerKind = arch.mixers[i]!;
  let mixer: number | null;
  if (mixerKind === 'attention') mixer = attentionParams(arch, notes);
  else if (mixerKind === 'linear_attention') mixer = linearAttentionParams(arch, notes);
  else if (mixerKind === 'ema') mixer = emaParams(arch);
  else {
    notes.push(`layer ${i} is a '${mixerKind}' layer, whose parameters this version cannot count`);
    mixer = null;
  }
  if (mixer === null) return null;

  const layer: LayerCount = {
    mixer,
    mixerKind: mixerKind === 'attention' ? 'attention' : 'other',
    norms: arch.normsPerLayer * norm(H),
    denseMlp: 0, router: 0, sharedExperts: 0, routedExperts: 0, routedActive: 0,
  };
  if (arch.ffns[i] === 'dense') {
    if (arch.intermediateSize === null) {
      notes.push('no intermediate_size for the dense MLP layers');
      return null;
    }
    layer.denseMlp = mlpParams(arch, arch.intermediateSize, arch.mlpBias);
    return layer;
  }
  const E = arch.numRoutedExperts!;
  if (arch.moeIntermediateSize === null) {
    notes.push('no moe_intermediate_size for the routed experts');
    return null;
  }
  const k = arch.expertsPerToken;
  if (k === null) notes.push('no num_experts_per_tok: active parameters assume every expert is used');
  const expert = mlpParams(arch, arch.moeIntermediateSize, arch.expertBias);
  layer.routedExperts = E * expert;
  layer.routedActive = Math.min(k ?? E, E) * expert;
  layer.router = E * H + (arch.routerBias ? E : 0) + (arch.routerCorrectionBias ? E : 0);
  const shared = arch.sharedExpertIntermediateSize ?? 0;
  layer.sharedExperts = shared > 0 ? mlpParams(arch, shared, false) + (arch.sharedExpertGate ? H : 0) : 0;
  return layer;
}

/** A feed-forward block of width `width`: gate/up/down (gated) or up/down (plain), with optional biases. */
function mlpParams(arch: NormalizedArch, width: number, bias: boolean): number {
  const H = arch.hiddenSize;
  if (arch.mlpKind === 'gated') return 3 * H * width + (bias ? 2 * width + H : 0);
  return 2 * H * width + (bias ? width + H : 0);
}

function attentionParams(arch: NormalizedArch, notes: string[]): number | null {
  const H = arch.hiddenSize;
  const nh = arch.numAttentionHeads;
  if (nh === null) {
    notes.push('no num_attention_heads');
    return null;
  }
  if (arch.mla) {
    const { qLoraRank, kvLoraRank, qkNopeHeadDim, qkRopeHeadDim, vHeadDim } = arch.mla;
    const qHead = qkNopeHeadDim + qkRopeHeadDim;
    const q = qLoraRank === null
      ? H * nh * qHead
      : H * qLoraRank + qLoraRank /* q_a_layernorm */ + qLoraRank * nh * qHead;
    const kvA = H * (kvLoraRank + qkRopeHeadDim) + kvLoraRank /* kv_a_layernorm */;
    const kvB = kvLoraRank * nh * (qkNopeHeadDim + vHeadDim);
    const o = nh * vHeadDim * H;
    // DeepSeek's attention_bias puts biases on q_a_proj (or q_proj), kv_a_proj_with_mqa and o_proj.
    const bias = arch.qkvBias ? (qLoraRank ?? nh * qHead) + kvLoraRank + qkRopeHeadDim : 0;
    return q + kvA + kvB + o + bias + (arch.outputBias ? H : 0);
  }
  const nkv = arch.numKeyValueHeads ?? nh;
  const hd = arch.headDim;
  if (hd === null) {
    notes.push('no head_dim, and hidden_size is not a multiple of num_attention_heads');
    return null;
  }
  const qWidth = nh * hd * (arch.attentionOutputGate ? 2 : 1);
  const kvWidth = nkv * hd;
  let total = H * qWidth + 2 * H * kvWidth + nh * hd * H;
  if (arch.qkvBias) total += qWidth + 2 * kvWidth;
  if (arch.outputBias) total += H;
  if (arch.qkNorm === 'head') total += 2 * hd;
  if (arch.qkNorm === 'full') total += nh * hd + kvWidth;
  if (arch.attentionSinks) total += nh;
  if (arch.nsa) {
    // BORA's NSA: kv_compress [head_dim, head_dim * compress_block] and branch_gate [3 * heads, hidden].
    total += hd * arch.nsa.compressBlock * hd + H * nh * 3;
  }
  return total;
}

/** Gated DeltaNet (Qwen3-Next / Qwen3.5): in_proj_qkv(z), in_proj_b/a, depthwise conv, dt_bias, A_log, gated norm, out_proj. */
function linearAttentionParams(arch: NormalizedArch, notes: string[]): number | null {
  const la = arch.linearAttention;
  if (!la) {
    notes.push('linear-attention layers without linear_num_key_heads');
    return null;
  }
  const H = arch.hiddenSize;
  const keyDim = la.numKeyHeads * la.keyHeadDim;
  const valueDim = la.numValueHeads * la.valueHeadDim;
  const convChannels = 2 * keyDim + valueDim;
  return H * (convChannels + valueDim) + H * 2 * la.numValueHeads + convChannels * la.convKernel
    + 2 * la.numValueHeads + la.valueHeadDim + valueDim * H;
}

/** BORA's damped-EMA mixer: in_proj, depthwise conv (with bias), decay and damping logits, out_proj. */
function emaParams(arch: NormalizedArch): number {
  const H = arch.hiddenSize;
  const { expand, convKernel } = arch.ema!;
  const inner = H * expand;
  return H * 2 * inner + inner * convKernel + inner + 2 * inner + inner * H;
}

/** ViT towers (SigLIP, CLIP) and the projectors of Gemma-3, LLaVA and PaliGemma; null when unknown. */
function countVision(arch: NormalizedArch, notes: string[]): number | null {
  const v: VisionTower | null = arch.vision;
  if (!v) return 0;
  const kind = v.modelType ?? '';
  const isSiglip = /siglip/.test(kind);
  const isClip = /clip/.test(kind);
  const D = v.hiddenSize;
  const I = v.intermediateSize;
  const L = v.numLayers;
  if ((!isSiglip && !isClip) || !D || !I || !L || !v.patchSize || !v.imageSize) {
    notes.push(`vision tower '${kind || 'unnamed'}' not counted: only SigLIP and CLIP towers are`);
    return null;
  }
  const patches = (v.imageSize / v.patchSize) ** 2;
  const block = 4 * (D * D + D) + (D * I + I) + (I * D + D) + 4 * D;
  let tower = L * block + 2 * D /* post_layernorm */;
  if (isSiglip) {
    tower += v.numChannels * v.patchSize ** 2 * D + D + patches * D;
    if (v.useHead) tower += D + 3 * D * D + 3 * D + D * D + D + 2 * D + D * I + I + I * D + D;
  } else {
    tower += D /* class_embedding */ + v.numChannels * v.patchSize ** 2 * D + (patches + 1) * D + 2 * D /* pre_layrnorm */;
  }
  const T = arch.hiddenSize;
  let projector: number | null;
  switch (v.projector) {
    case 'gemma3': projector = D * T + D; break;
    case 'llava': projector = D * T + T * T + (v.projectorBias ? 2 * T : 0); break;
    case 'llava_next': projector = D * T + T * T + (v.projectorBias ? 2 * T : 0) + T /* image_newline */; break;
    case 'paligemma': projector = D * T + T; break;
    default: projector = null;
  }
  if (projector === null) {
    notes.push('vision projector not counted: its layout is not known for this model type');
    return null;
  }
  return tower + projector;
}

function dedupe(items: string[]): string[] {
  return [...new Set(items)];
}
