/**
 * Training compute from the ~6·N·D rule (forward and backward pass: 6 FLOPs per active
 * parameter per token), for N active parameters and D training tokens.
 */
import type { ParamCount } from './types.ts';

const SUFFIXES: Record<string, number> = { K: 1e3, M: 1e6, B: 1e9, G: 1e9, T: 1e12, P: 1e15 };

/** `19.7T`, `2.5B`, `500000`, `1e12` → a token count; null when not a positive number. */
export function parseTokenCount(text: string): number | null {
  const match = /^\s*(\d+(?:\.\d+)?(?:e[+-]?\d+)?)\s*([KMBGTP])?\s*$/i.exec(text);
  if (!match) return null;
  const value = Number(match[1]) * (match[2] ? SUFFIXES[match[2].toUpperCase()]! : 1);
  return Number.isFinite(value) && value > 0 ? value : null;
}

export interface ComputeEstimate {
  /** FLOPs = 6 · activeParams · tokens; null when the parameters could not be counted. */
  flops: number | null;
  /** The same without the input embedding table (a lookup, no matmul): the stricter convention. */
  flopsNonEmbedding: number | null;
}

export function estimateCompute(params: Pick<ParamCount, 'activeParams' | 'activeParamsNonEmbedding'>, tokens: number): ComputeEstimate {
  return {
    flops: params.activeParams === null ? null : 6 * params.activeParams * tokens,
    flopsNonEmbedding: params.activeParamsNonEmbedding === null ? null : 6 * params.activeParamsNonEmbedding * tokens,
  };
}
