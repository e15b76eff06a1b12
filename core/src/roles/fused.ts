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
 */
import { normalizeConfig } from '../arch/normalize.ts';

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

/** How the rows of a fused `role` matrix of `shape` split under the model's config, or why they do not. */
export function splitFused(role: string, shape: readonly number[], config: Record<string, unknown> | null): FusedSplit {
  if (shape.length !== 2) return { reason: `not a matrix (shape ${shape.join(' × ')})` };
  const [rows, cols] = [shape[0]!, shape[1]!];
  let arch;
  try {
    arch = normalizeConfig(config ?? {});
  } catch (err) {
    return { reason: `no config to split it by (${(err as Error).message})` };
  }
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
