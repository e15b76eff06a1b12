/**
 * The hyper-parameters a Llama-family forward pass needs, read from a Hugging Face config.json
 * and checked: a config this forward pass would run wrongly (rope scaling, Gemma's norms, a
 * non-SiLU activation) is refused by name instead of producing plausible but wrong logits.
 */
import { BadInputError } from '../errors.ts';

export interface LlamaConfig {
  modelType: string;
  hiddenSize: number;
  intermediateSize: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  vocabSize: number;
  rmsNormEps: number;
  ropeTheta: number;
  tieWordEmbeddings: boolean;
  maxPositions: number;
  bosTokenId: number | null;
  eosTokenIds: number[];
}

/** Model types whose decoder is the Llama block (pre-RMSNorm, rotate-half RoPE, GQA, SwiGLU). */
const SUPPORTED_TYPES = new Set(['llama', 'mistral', 'qwen2', 'qwen3']);

export function parseLlamaConfig(config: Record<string, unknown> | null, file: string): LlamaConfig {
  if (!config) throw new BadInputError(file, 'no config.json: the forward pass needs the hyper-parameters');
  const bad = (reason: string) => new BadInputError(file, reason);
  const modelType = typeof config.model_type === 'string' ? config.model_type : '';
  if (!SUPPORTED_TYPES.has(modelType)) {
    throw bad(`model_type '${modelType || '(missing)'}' is not run by the built-in forward pass (it runs ${[...SUPPORTED_TYPES].join(', ')})`);
  }
  const int = (key: string, fallback?: number): number => {
    const v = config[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) throw bad(`${key} must be a positive integer, got ${JSON.stringify(config[key])}`);
    return v;
  };
  const num = (key: string, fallback: number): number => {
    const v = config[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw bad(`${key} must be a positive number, got ${JSON.stringify(config[key])}`);
    return v;
  };
  const hiddenSize = int('hidden_size');
  const heads = int('num_attention_heads');
  const kvHeads = int('num_key_value_heads', heads);
  const headDim = int('head_dim', hiddenSize / heads);
  if (heads % kvHeads !== 0) throw bad(`num_attention_heads ${heads} is not a multiple of num_key_value_heads ${kvHeads}`);
  if (headDim % 2 !== 0) throw bad(`head_dim ${headDim} is odd: rotary embeddings rotate pairs`);
  const act = config.hidden_act ?? config.hidden_activation ?? 'silu';
  if (act !== 'silu') throw bad(`hidden_act '${String(act)}' is not SiLU: the built-in forward pass runs SwiGLU only`);
  if (config.rope_scaling !== undefined && config.rope_scaling !== null) {
    throw bad(`rope_scaling ${JSON.stringify(config.rope_scaling)} is not supported by the built-in forward pass`);
  }
  const bos = config.bos_token_id;
  return {
    modelType,
    hiddenSize,
    intermediateSize: int('intermediate_size'),
    layers: int('num_hidden_layers'),
    heads,
    kvHeads,
    headDim,
    vocabSize: int('vocab_size'),
    rmsNormEps: num('rms_norm_eps', 1e-6),
    ropeTheta: num('rope_theta', 10000),
    tieWordEmbeddings: config.tie_word_embeddings === true,
    maxPositions: int('max_position_embeddings', 2048),
    bosTokenId: isTokenId(bos) ? bos : null,
    eosTokenIds: (Array.isArray(config.eos_token_id) ? config.eos_token_id : [config.eos_token_id]).filter(isTokenId),
  };
}

function isTokenId(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}
