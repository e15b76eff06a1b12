/**
 * Copying is not kinship. Given a random token sequence, every language model — trained or not,
 * related or not — tends to predict a token it has just seen (an untrained model with tied
 * embeddings does little else), so raw agreement on token probes depends on the probe for reasons
 * that have nothing to do with lineage: measured here, stories260k against an untrained model of
 * its shape was "related" in 3 of 10 runs at α = 0.01. On token probes the pair (A's answer to
 * probe i, B's answer to probe j) is therefore compared over the tokens that occur in neither
 * probe: the same exclusion for the true pairing (i = j) and for the null's pairings.
 */
import type { NextTokenAnswer } from './model.ts';

/** Per answer, computed once: its ids by falling probability, and the probabilities themselves. */
interface Prepared { ranking: Int32Array; probabilities: Float64Array }
const prepared = new WeakMap<Float64Array, Prepared>();

function prepare(lp: Float64Array): Prepared {
  let p = prepared.get(lp);
  if (!p) {
    const ranking = Int32Array.from(lp.keys()).sort((x, y) => lp[y]! - lp[x]! || x - y);
    p = { ranking, probabilities: lp.map(Math.exp) };
    prepared.set(lp, p);
  }
  return p;
}

/** The candidate ids of an answer outside `exclude`, most likely first, at most k (ties: lower id). */
export function candidatesOutside(answer: NextTokenAnswer, exclude: ReadonlySet<number>, k: number): number[] {
  const out: number[] = [];
  if (!answer.logprobs) {
    for (const c of answer.top) if (c.id !== undefined && !exclude.has(c.id) && out.length < k) out.push(c.id);
    return out;
  }
  // Walking the ranking costs k plus the few excluded ids met on the way, whatever the vocabulary.
  const { ranking } = prepare(answer.logprobs);
  for (let r = 0; r < ranking.length && out.length < k; r++) if (!exclude.has(ranking[r]!)) out.push(ranking[r]!);
  return out;
}

/** Jensen–Shannon divergence (nats) over ids 0..n-1 outside `exclude`, each side renormalized there. */
export function jensenShannonOutside(a: Float64Array, b: Float64Array, n: number, exclude: ReadonlySet<number>): number {
  const pa = prepare(a).probabilities;
  const pb = prepare(b).probabilities;
  let sa = 0;
  let sb = 0;
  for (let i = 0; i < n; i++) {
    sa += pa[i]!;
    sb += pb[i]!;
  }
  for (const i of exclude) {
    if (i >= n) continue;
    sa -= pa[i]!;
    sb -= pb[i]!;
  }
  const ia = 1 / sa;
  const ib = 1 / sb;
  let js = 0;
  for (let i = 0; i < n; i++) {
    const p = pa[i]! * ia;
    const q = pb[i]! * ib;
    const m = 0.5 * (p + q);
    if (p > 0) js += 0.5 * p * Math.log(p / m);
    if (q > 0) js += 0.5 * q * Math.log(q / m);
  }
  // The excluded ids were summed above; take their terms back out.
  for (const i of exclude) {
    if (i >= n) continue;
    const p = pa[i]! * ia;
    const q = pb[i]! * ib;
    const m = 0.5 * (p + q);
    if (p > 0) js -= 0.5 * p * Math.log(p / m);
    if (q > 0) js -= 0.5 * q * Math.log(q / m);
  }
  return Math.max(0, js);
}

export function union(a: ReadonlySet<number>, b: ReadonlySet<number>): ReadonlySet<number> {
  if (a === b) return a;
  const out = new Set(a);
  for (const x of b) out.add(x);
  return out;
}
