/**
 * Small statistics for the comparison: rank correlation and concordance of two orderings.
 * Undefined values are null (never NaN), as everywhere in the reports.
 */

/** Ranks (0-based) of values that are all distinct, by sorting. */
function ranksOf(values: ArrayLike<number>): Float64Array {
  const idx = Array.from({ length: values.length }, (_, i) => i);
  idx.sort((a, b) => values[a]! - values[b]!);
  const r = new Float64Array(values.length);
  idx.forEach((i, rank) => {
    r[i] = rank;
  });
  return r;
}

/**
 * Spearman's rank correlation of paired positions (positions are distinct on each side, so no
 * ties); null with fewer than 3 pairs.
 */
export function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number | null {
  const n = a.length;
  if (n < 3) return null;
  const ra = ranksOf(a);
  const rb = ranksOf(b);
  let d2 = 0;
  for (let i = 0; i < n; i++) {
    const d = ra[i]! - rb[i]!;
    d2 += d * d;
  }
  return 1 - (6 * d2) / (n * (n * n - 1));
}

/**
 * Share of neighbouring pairs (in the order of `a`) that `b` puts in the same order: 1 for the
 * same order, about 0.5 for unrelated ones. Null with fewer than 2 items.
 */
export function adjacentConcordance(a: ArrayLike<number>, b: ArrayLike<number>): number | null {
  const n = a.length;
  if (n < 2) return null;
  const idx = Array.from({ length: n }, (_, i) => i).sort((x, y) => a[x]! - a[y]!);
  let agree = 0;
  for (let k = 1; k < n; k++) if (b[idx[k]!]! > b[idx[k - 1]!]!) agree++;
  return agree / (n - 1);
}

/** A ratio, null when the denominator is zero. */
export function ratio(num: number, den: number): number | null {
  return den === 0 ? null : num / den;
}

/** Rounds for reports (6 significant decimals), keeping null. */
export function round(x: number | null, digits = 6): number | null {
  if (x === null || !Number.isFinite(x)) return null;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
