/**
 * The reference null: A and B must agree with each other more often than either agrees with a
 * model known to be unrelated to both, run on the same probes. This is what guards against
 * independent models that answer alike because they learned the same data (the permutation null
 * does not). Per reference and side, an exact one-sided McNemar test on the probes where the two
 * agreements differ; A–B counts as beating the references only if every such test rejects
 * (an intersection–union test, level α without a multiplicity correction).
 */
export interface ReferenceComparison {
  reference: string;
  side: 'a' | 'b';
  /** Probes answered by A, B and the reference. */
  n: number;
  /** Agreement of A with B, and of the side with the reference, on those probes. */
  agreementAB: number;
  agreementWithReference: number;
  /** Probes where only A–B agree, and where only side–reference agree. */
  onlyAB: number;
  onlyReference: number;
  pValue: number;
}

/** P(X ≥ k) for X ~ Binomial(n, 1/2), exact (log-space sums for large n). */
export function binomialUpperTail(n: number, k: number): number {
  if (k <= 0) return 1;
  if (k > n) return 0;
  let logC = 0; // log C(n, 0)
  const terms: number[] = [];
  for (let i = 0; i <= n; i++) {
    if (i > 0) logC += Math.log((n - i + 1) / i);
    if (i >= k) terms.push(logC - n * Math.LN2);
  }
  const max = Math.max(...terms);
  return Math.min(1, Math.exp(max) * terms.reduce((s, t) => s + Math.exp(t - max), 0));
}

/** `ab[i]`, `xr[i]`: 1 when the pair agrees on probe i, 0 when not, null when not comparable. */
export function mcnemar(reference: string, side: 'a' | 'b', ab: (number | null)[], xr: (number | null)[]): ReferenceComparison {
  let n = 0, sumAB = 0, sumXR = 0, onlyAB = 0, onlyReference = 0;
  for (let i = 0; i < ab.length; i++) {
    const u = ab[i];
    const v = xr[i];
    if (u === null || v === null || u === undefined || v === undefined) continue;
    n++;
    sumAB += u;
    sumXR += v;
    if (u === 1 && v === 0) onlyAB++;
    if (u === 0 && v === 1) onlyReference++;
  }
  return {
    reference,
    side,
    n,
    agreementAB: n ? sumAB / n : 0,
    agreementWithReference: n ? sumXR / n : 0,
    onlyAB,
    onlyReference,
    pValue: binomialUpperTail(onlyAB + onlyReference, onlyAB),
  };
}
