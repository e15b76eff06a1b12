/**
 * Fused projections read as their parts. Many architectures store q, k and v as one matrix
 * (Phi-3 `qkv_proj`, GPT-NeoX and Falcon `query_key_value`, Baichuan `W_pack`, MPT and DBRX
 * `Wqkv`, InternLM2 `wqkv`) and gate and up as one (Phi-3 `gate_up_proj`). Converting a model
 * between a fused and a split layout changes no function, only names: a LLaMA derivative written
 * as a Phi-3 checkpoint must still show its attention and MLP as A's. The alignment reads a fused
 * matrix's rows as the parts its architecture's forward pass cuts it into (model-view.ts).
 *
 * Which rows are which is fixed by the architecture, not by the file: the forward pass of the
 * declared model_type cuts the output. Two conventions cover the families we know:
 * - `concat`: all query heads, then all key heads, then all value heads (Phi-3, Qwen-1, Baichuan,
 *   ChatGLM, MPT, DBRX, OLMo, GPTBigCode);
 * - `grouped`: per KV group, its query heads, then its key head, then its value head (GPT-NeoX and
 *   BLOOM with one query head a group, Falcon, InternLM2).
 * A model_type we do not know is read as `concat`, the most common, and the note says so.
 * gate_up is gate rows then up rows (Phi-3's `chunk(2)`).
 *
 * Fused experts hold all of a layer's routed experts in one 3-D tensor, `experts.gate_up_proj` and
 * `experts.down_proj` (Transformers 5's layout, Llama 4, gpt-oss). Each expert's slice is either
 * as a Linear stores it ([2I, H] and [H, I], rows out) or transposed ([H, 2I] and [I, H], as
 * Llama 4 and gpt-oss multiply x by it); the shapes tell which, and where they cannot (2I = H, or
 * I = H) the model_type does. Gate and up are halves (gate first), or alternate (gpt-oss).
 */
import { normalizeConfig } from '../arch/normalize.ts';
import type { NormalizedArch } from '../arch/types.ts';

/** A part of a fused matrix: its role and its rows, as runs [first, count] in order. */
export interface FusedPart {
  role: string;
  rows: [number, number][];
}

export type FusedSplit = { parts: FusedPart[]; layout: string } | { reason: string };

/** Fused roles and the roles their parts take. */
export const FUSED_ROLES: Readonly<Record<string, readonly string[]>> = {
  'attn.qkv': ['attn.q', 'attn.k', 'attn.v'],
  'mlp.gate_up': ['mlp.gate', 'mlp.up'],
};

const GROUPED = new Set(['gpt_neox', 'bloom', 'falcon', 'RefinedWeb', 'RefinedWebModel', 'internlm2', 'persimmon']);
const CONCAT = new Set(['phi3', 'phimoe', 'qwen', 'baichuan', 'chatglm', 'mpt', 'dbrx', 'olmo', 'gpt_bigcode', 'stablelm_epoch']);

const archs = new WeakMap<object, NormalizedArch | { reason: string }>();

/**
 * The config's shape of the model, or why there is none to split by: normalized once per config
 * (a checkpoint's index asks for every fused tensor of every layer).
 */
export function archOf(config: Record<string, unknown> | null): NormalizedArch | { reason: string } {
  if (config && archs.has(config)) return archs.get(config)!;
  let arch: NormalizedArch | { reason: string };
  try {
    arch = normalizeConfig(config ?? {});
  } catch (err) {
    arch = { reason: `no config to split it by (${(err as Error).message})` };
  }
  if (config) archs.set(config, arch);
  return arch;
}

/** How the rows of a fused `role` matrix of `shape` split under the model's config, or why they do not. */
export function splitFused(role: string, shape: readonly number[], config: Record<string, unknown> | null): FusedSplit {
  if (shape.length !== 2) return { reason: `not a matrix (shape ${shape.join(' × ')})` };
  const [rows, cols] = [shape[0]!, shape[1]!];
  const arch = archOf(config);
  if ('reason' in arch) return arch;
  if (cols !== arch.hiddenSize) return { reason: `${cols} columns where the hidden size is ${arch.hiddenSize} (a transposed layout, as GPT-2's Conv1D, is not split)` };
  if (role === 'mlp.gate_up') {
    if (rows % 2 !== 0) return { reason: `an odd number of rows (${rows}) cannot be gate and up halves` };
    return { parts: [{ role: 'mlp.gate', rows: [[0, rows / 2]] }, { role: 'mlp.up', rows: [[rows / 2, rows / 2]] }], layout: 'gate rows, then up rows' };
  }
  if (role !== 'attn.qkv') return { reason: `${role} is not a fused projection` };
  const heads = arch.numAttentionHeads;
  const kv = arch.numKeyValueHeads;
  const d = arch.headDim;
  if (!heads || !kv || !d || heads % kv !== 0) return { reason: 'the config gives no head counts and width to cut q, k and v by' };
  if (rows !== (heads + 2 * kv) * d) return { reason: `${rows} rows where ${heads} query and 2 × ${kv} key/value heads of ${d} make ${(heads + 2 * kv) * d}` };
  const type = arch.modelType ?? '';
  if (GROUPED.has(type)) {
    const perGroup = heads / kv;
    const parts: FusedPart[] = [{ role: 'attn.q', rows: [] }, { role: 'attn.k', rows: [] }, { role: 'attn.v', rows: [] }];
    const stride = (perGroup + 2) * d;
    for (let g = 0; g < kv; g++) {
      parts[0]!.rows.push([g * stride, perGroup * d]);
      parts[1]!.rows.push([g * stride + perGroup * d, d]);
      parts[2]!.rows.push([g * stride + (perGroup + 1) * d, d]);
    }
    return { parts, layout: `per KV group: its ${perGroup} query head(s), its key head, its value head (${type})` };
  }
  const known = CONCAT.has(type);
  return {
    parts: [{ role: 'attn.q', rows: [[0, heads * d]] }, { role: 'attn.k', rows: [[heads * d, kv * d]] }, { role: 'attn.v', rows: [[(heads + kv) * d, kv * d]] }],
    layout: known ? `query rows, then key rows, then value rows (${type})` : `query rows, then key rows, then value rows: assumed, model_type ${type ? `'${type}'` : 'absent'} is not one whose layout we know`,
  };
}

/**
 * One part of each expert's slice of a fused-experts tensor, in the slice's stored coordinates:
 * rows [first, first + step·count) by `step` of the stored matrix, or its columns where the slice
 * is stored transposed (the part is then the transpose of those columns).
 */
export interface FusedExpertPart {
  role: string;
  first: number;
  count: number;
  step: number;
}

export type FusedExpertsSplit = { parts: FusedExpertPart[]; transposed: boolean; layout: string } | { reason: string };

const TRANSPOSED_EXPERTS = new Set(['llama4', 'llama4_text', 'gpt_oss']);
const ALTERNATING_GATE_UP = new Set(['gpt_oss']);

/** How each expert's slice of a fused-experts `role` tensor of `shape` ([E, a, b]) splits, or why it does not. */
export function splitFusedExperts(role: string, shape: readonly number[], config: Record<string, unknown> | null): FusedExpertsSplit {
  if (shape.length !== 3) return { reason: `not one matrix per expert (shape ${shape.join(' × ')})` };
  const [a, b] = [shape[1]!, shape[2]!];
  const arch = archOf(config);
  if ('reason' in arch) return arch;
  const h = arch.hiddenSize;
  const type = arch.modelType ?? '';
  // Stored as a Linear, an expert's gate_up is [2I, H] and its down [H, I]; transposed, the other way.
  const [outSide, inSide] = role === 'expert.down' ? [a, b] : [b, a];
  const rowsOut = outSide === h && (inSide !== h || !TRANSPOSED_EXPERTS.has(type));
  const transposed = !rowsOut && inSide === h;
  if (!rowsOut && !transposed) return { reason: `a slice of ${a} × ${b} has no side of the hidden size ${h}` };
  const stored = transposed ? `stored transposed (${a} × ${b}, x times it)` : `stored as a Linear (${a} × ${b})`;
  if (role === 'expert.down') return { parts: [{ role: 'expert.down', first: 0, count: transposed ? b : a, step: 1 }], transposed, layout: stored };
  if (role !== 'expert.gate_up') return { reason: `${role} is not a fused expert projection` };
  const width = transposed ? b : a;
  if (width % 2 !== 0) return { reason: `an odd width (${width}) cannot be gate and up` };
  const half = width / 2;
  if (ALTERNATING_GATE_UP.has(type)) {
    return { parts: [{ role: 'expert.gate', first: 0, count: half, step: 2 }, { role: 'expert.up', first: 1, count: half, step: 2 }], transposed, layout: `${stored}, gate and up alternating (${type})` };
  }
  return { parts: [{ role: 'expert.gate', first: 0, count: half, step: 1 }, { role: 'expert.up', first: half, count: half, step: 1 }], transposed, layout: `${stored}, gate then up` };
}

/**
 * The byte runs (file offsets) of `part` of expert `e` in a fused-experts tensor at `offset` of
 * `shape` [E, a, b] stored as a Linear: one run of rows, or one per row where they alternate.
 */
export function linearPartRuns(offset: number, shape: readonly number[], bytesPerElement: number, e: number, part: FusedExpertPart): { offset: number; length: number }[] {
  const rowBytes = shape[2]! * bytesPerElement;
  const at = offset + e * shape[1]! * rowBytes;
  return part.step === 1
    ? [{ offset: at + part.first * rowBytes, length: part.count * rowBytes }]
    : Array.from({ length: part.count }, (_, k) => ({ offset: at + (part.first + k * part.step) * rowBytes, length: rowBytes }));
}
