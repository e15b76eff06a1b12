/**
 * The shapes of synthetic checkpoints: a Llama-style dense model or a Qwen2-MoE-style model
 * (routed experts, one shared expert with its gate, a router per layer), written as real
 * config.json files so every other part of lineage reads them like any checkpoint.
 */
import type { DType } from '../checkpoint/dtype.ts';
import type { TensorSpec } from '../checkpoint/writer.ts';

export interface SynthShape {
  layout: 'dense' | 'moe';
  layers: number;
  hidden: number;
  intermediate: number;
  heads: number;
  kvHeads: number;
  vocab: number;
  experts: number;
  expertsPerToken: number;
  moeIntermediate: number;
  dtype: DType;
}

export const DEFAULT_SHAPE: SynthShape = {
  layout: 'dense', layers: 4, hidden: 256, intermediate: 688, heads: 8, kvHeads: 4, vocab: 1024,
  experts: 8, expertsPerToken: 2, moeIntermediate: 128, dtype: 'BF16',
};

export function configFor(shape: SynthShape): Record<string, unknown> {
  const common = {
    hidden_size: shape.hidden, intermediate_size: shape.intermediate, num_hidden_layers: shape.layers,
    num_attention_heads: shape.heads, num_key_value_heads: shape.kvHeads, head_dim: shape.hidden / shape.heads,
    vocab_size: shape.vocab, max_position_embeddings: 4096, rms_norm_eps: 1e-6, rope_theta: 10000,
    tie_word_embeddings: false, hidden_act: 'silu',
    torch_dtype: { BF16: 'bfloat16', F16: 'float16', F32: 'float32' }[shape.dtype as 'BF16'] ?? 'bfloat16',
  };
  if (shape.layout === 'dense') return { architectures: ['LlamaForCausalLM'], model_type: 'llama', ...common };
  return {
    architectures: ['Qwen2MoeForCausalLM'], model_type: 'qwen2_moe', ...common,
    num_experts: shape.experts, num_experts_per_tok: shape.expertsPerToken, moe_intermediate_size: shape.moeIntermediate,
    shared_expert_intermediate_size: shape.moeIntermediate, decoder_sparse_step: 1, norm_topk_prob: false,
  };
}

/** Reads a SynthShape back from a config.json written by configFor (or any Llama / Qwen2-MoE config). */
export function shapeFromConfig(config: Record<string, unknown>, dtype: DType): SynthShape {
  const n = (key: string, fallback: number) => (typeof config[key] === 'number' ? (config[key] as number) : fallback);
  const experts = n('num_experts', 0);
  return {
    layout: experts > 0 ? 'moe' : 'dense',
    layers: n('num_hidden_layers', DEFAULT_SHAPE.layers), hidden: n('hidden_size', DEFAULT_SHAPE.hidden),
    intermediate: n('intermediate_size', DEFAULT_SHAPE.intermediate), heads: n('num_attention_heads', DEFAULT_SHAPE.heads),
    kvHeads: n('num_key_value_heads', n('num_attention_heads', DEFAULT_SHAPE.heads)), vocab: n('vocab_size', DEFAULT_SHAPE.vocab),
    experts, expertsPerToken: n('num_experts_per_tok', DEFAULT_SHAPE.expertsPerToken),
    moeIntermediate: n('moe_intermediate_size', DEFAULT_SHAPE.moeIntermediate), dtype,
  };
}

export function tensorsFor(shape: SynthShape): TensorSpec[] {
  const { hidden: h, heads, kvHeads, dtype } = shape;
  const headDim = h / heads;
  const specs: TensorSpec[] = [{ name: 'model.embed_tokens.weight', dtype, shape: [shape.vocab, h] }];
  const mlp = (prefix: string, inner: number) => [
    { name: `${prefix}.gate_proj.weight`, dtype, shape: [inner, h] },
    { name: `${prefix}.up_proj.weight`, dtype, shape: [inner, h] },
    { name: `${prefix}.down_proj.weight`, dtype, shape: [h, inner] },
  ];
  for (let l = 0; l < shape.layers; l++) {
    const p = `model.layers.${l}`;
    specs.push(
      { name: `${p}.input_layernorm.weight`, dtype, shape: [h] },
      { name: `${p}.self_attn.q_proj.weight`, dtype, shape: [heads * headDim, h] },
      { name: `${p}.self_attn.k_proj.weight`, dtype, shape: [kvHeads * headDim, h] },
      { name: `${p}.self_attn.v_proj.weight`, dtype, shape: [kvHeads * headDim, h] },
      { name: `${p}.self_attn.o_proj.weight`, dtype, shape: [h, heads * headDim] },
      { name: `${p}.post_attention_layernorm.weight`, dtype, shape: [h] },
    );
    if (shape.layout === 'dense') {
      specs.push(...mlp(`${p}.mlp`, shape.intermediate));
    } else {
      specs.push({ name: `${p}.mlp.gate.weight`, dtype, shape: [shape.experts, h] });
      for (let e = 0; e < shape.experts; e++) specs.push(...mlp(`${p}.mlp.experts.${e}`, shape.moeIntermediate));
      specs.push(...mlp(`${p}.mlp.shared_expert`, shape.moeIntermediate));
      specs.push({ name: `${p}.mlp.shared_expert_gate.weight`, dtype, shape: [1, h] });
    }
  }
  specs.push({ name: 'model.norm.weight', dtype, shape: [h] }, { name: 'lm_head.weight', dtype, shape: [shape.vocab, h] });
  return specs;
}

/** Norm scales sit near 1.0 (the LayerNorm trap); everything else is centred on 0. */
export function isNormTensor(name: string): boolean {
  return /(?:layernorm|norm)\.weight$/.test(name);
}
