/**
 * When identical bytes are evidence of reuse. Independent models share some tensors byte for
 * byte without one being taken from the other: a constant tensor (a norm left at its initial
 * 1.0, a zero bias, an all-zero padding row block) and buffers fixed by the configuration rather
 * than learned (RoPE's inv_freq, GPT-2's causal mask `attn.bias` and `attn.masked_bias`,
 * position_ids). Counting those as reuse called two independently trained models
 * 'partially-derived' at confidence 0.999 (two norms at 1.0 in each sufficed; test/verdict-identity.test.ts).
 */
import type { TensorReport } from '../report/weights.ts';

/** Names of buffers computed from the configuration, never trained. */
const FIXED_BUFFER = /(?:^|\.)(?:inv_freq|masked_bias|position_ids|attn\.bias)$/;

/** Why these identical bytes say nothing of reuse; null when they do (or the tensor is not identical). */
export function identicalByConstruction(t: TensorReport): string | null {
  if (!t.identical) return null;
  const name = t.name ?? t.nameB ?? '';
  if (FIXED_BUFFER.test(name)) return 'a buffer fixed by the configuration, not trained';
  // Compared by value and no centered cosine: every element equal (or none finite).
  if (t.n !== null && t.centeredCosine === null) return 'a constant tensor';
  return null;
}

/** Byte-identical, and not in a way independent models are too. */
export function identityIsEvidence(t: TensorReport): boolean {
  return !!t.identical && identicalByConstruction(t) === null;
}

/** The evidence line's explanation, with how many identical tensors were set aside and why. */
export function identityExplanation(tensors: readonly TensorReport[]): string {
  const aside = tensors.filter((t) => identicalByConstruction(t) !== null);
  const constant = aside.filter((t) => identicalByConstruction(t) === 'a constant tensor').length;
  const base = 'identical bytes (same dtype, shape and content hash) are reused, whatever else differs';
  if (aside.length === 0) return base;
  const parts = [constant ? `${constant} constant` : null, aside.length - constant ? `${aside.length - constant} fixed by the configuration (inv_freq, masks, position ids)` : null].filter(Boolean);
  return `${base}; not counted: ${aside.length} more identical tensor(s) that independent models share as well (${parts.join(', ')})`;
}

/** "no tensor is identical", qualified when identical tensors were set aside. */
export function noIdentityText(tensors: readonly TensorReport[]): string {
  const aside = tensors.filter((t) => identicalByConstruction(t) !== null).length;
  return aside === 0 ? 'no tensor is identical' : `no tensor is identical beyond ${aside} that independent models share as well (constant, or fixed by the configuration)`;
}
