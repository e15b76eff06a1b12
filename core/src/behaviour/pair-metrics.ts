/**
 * How alike two answers are: the same greedy token, the overlap of the top-k lists, and the
 * Jensen–Shannon divergence of the next-token distributions over the tokens both sides know.
 * Tokens are matched by id on token probes (both sides share the id space by construction) and
 * by the bytes they stand for otherwise; answers that cannot be matched either way are
 * incomparable, which the caller records as missing, never as agreement or disagreement.
 */
import type { NextTokenAnswer, TokenChoice } from './model.ts';

export type MatchBy = 'id' | 'bytes';

export function tokenIdentity(c: TokenChoice, by: MatchBy): string | undefined {
  if (by === 'id') return c.id === undefined ? undefined : `#${c.id}`;
  return c.key;
}

/** How the two answers' tokens can be matched, preferring ids where the probe allows it; null if neither way. */
export function matchMode(a: NextTokenAnswer, b: NextTokenAnswer, idsComparable: boolean): MatchBy | null {
  if (idsComparable && a.greedy.id !== undefined && b.greedy.id !== undefined) return 'id';
  if (a.greedy.key !== undefined && b.greedy.key !== undefined) return 'bytes';
  return null;
}

export function sameGreedy(a: NextTokenAnswer, b: NextTokenAnswer, by: MatchBy): number {
  return tokenIdentity(a.greedy, by) === tokenIdentity(b.greedy, by) ? 1 : 0;
}

/** |top_a ∩ top_b| / min(|top_a|, |top_b|). */
export function topOverlap(a: NextTokenAnswer, b: NextTokenAnswer, by: MatchBy): number {
  const k = Math.min(a.top.length, b.top.length);
  if (k === 0) return 0;
  const setA = new Set(a.top.slice(0, k).map((c) => tokenIdentity(c, by)));
  let shared = 0;
  for (const c of b.top.slice(0, k)) if (setA.has(tokenIdentity(c, by))) shared++;
  return shared / k;
}

/** Probabilities over ids 0..n-1, renormalized to sum 1 (the ids both vocabularies have). */
export function sharedDistribution(logprobs: Float64Array, n: number): Float64Array {
  const p = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += p[i] = Math.exp(logprobs[i]!);
  for (let i = 0; i < n; i++) p[i] = p[i]! / sum;
  return p;
}

/** Jensen–Shannon divergence in nats (0..ln 2) of two distributions of the same length. */
export function jensenShannon(p: Float64Array, q: Float64Array): number {
  let js = 0;
  for (let i = 0; i < p.length; i++) {
    const a = p[i]!;
    const b = q[i]!;
    const m = 0.5 * (a + b);
    if (a > 0) js += 0.5 * a * Math.log(a / m);
    if (b > 0) js += 0.5 * b * Math.log(b / m);
  }
  return Math.max(0, js);
}

/**
 * JSD from the top-k lists alone (endpoints give no more): the union of the listed tokens plus one
 * bucket, shared by both sides, with the probability each did not list. Merging tokens into one
 * bucket can only lower a divergence, so this is a lower bound of the full JSD, and 0 for two
 * identical distributions.
 */
export function topKJensenShannon(a: NextTokenAnswer, b: NextTokenAnswer, by: MatchBy): number {
  const index = new Map<string, number>();
  for (const c of [...a.top, ...b.top]) {
    const id = tokenIdentity(c, by);
    if (id !== undefined && !index.has(id)) index.set(id, index.size);
  }
  const n = index.size + 1;
  const fill = (top: TokenChoice[]): Float64Array => {
    const out = new Float64Array(n);
    let listed = 0;
    for (const c of top) {
      const id = tokenIdentity(c, by);
      if (id === undefined) continue;
      const slot = index.get(id)!;
      if (out[slot] !== 0) continue; // a token listed twice counts once
      out[slot] = Math.exp(c.logprob);
      listed += out[slot]!;
    }
    out[n - 1] = Math.max(0, 1 - listed);
    const sum = listed + out[n - 1]!;
    for (let i = 0; i < n; i++) out[i] = out[i]! / sum;
    return out;
  };
  return jensenShannon(fill(a.top), fill(b.top));
}
