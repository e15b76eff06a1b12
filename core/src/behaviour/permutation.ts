/**
 * The permutation null: if B's answers carry nothing of A's beyond what any probe would get, then
 * pairing A's answer to probe i with B's answer to another probe j (from the same probe set) is as
 * good as the true pairing. Each draw re-pairs every stratum by a uniform random permutation; the
 * p-value is (1 + #draws at least as extreme) / (1 + draws), exact in level under that null.
 * Uniform permutations, not derangements: the true pairing must be one draw of the null for the
 * level to be exact. With derangements a single chance match on the diagonal of answers that are
 * otherwise never shared would get p = 1/(draws + 1) (seen here: an untrained model against
 * babyllama-105, 1 agreement in 40); with permutations it gets about 1/40, as it should.
 */
import { Random } from '../synth/random.ts';

/** A memo of count² doubles (32 MB at this size) beats a map; beyond it, values are recomputed. */
const MEMO_MAX_PAIRS = 4_000_000;

export interface PermutationResult {
  observed: number;
  nullMean: number;
  nullSd: number;
  /** One-sided: large values extreme (similarity) or small values extreme (divergence). */
  pValue: number;
  draws: number;
}

/**
 * `value(i, j)`: the statistic of A's answer i against B's answer j (indices into the answered
 * probes); `strata`: groups of indices re-paired among themselves.
 */
export function permutationTest(
  count: number,
  strata: number[][],
  value: (i: number, j: number) => number,
  options: { draws: number; seed: number; extreme: 'high' | 'low'; stream: string },
): PermutationResult {
  // A pair recurs across draws: its value is computed once.
  const memo = count * count <= MEMO_MAX_PAIRS ? new Float64Array(count * count).fill(NaN) : null;
  const at = (i: number, j: number): number => {
    if (!memo) return value(i, j);
    const key = i * count + j;
    let v = memo[key]!;
    if (v !== v) memo[key] = v = value(i, j); // NaN: not computed yet
    return v;
  };
  let observedSum = 0;
  for (let i = 0; i < count; i++) observedSum += at(i, i);
  const observed = observedSum / count;
  const random = new Random(options.seed, `behaviour-null:${options.stream}`);
  let extreme = 0;
  let sum = 0;
  let sumSq = 0;
  for (let d = 0; d < options.draws; d++) {
    let total = 0;
    for (const stratum of strata) {
      const perm = permutation(stratum.length, random);
      for (let k = 0; k < stratum.length; k++) total += at(stratum[k]!, stratum[perm[k]!]!);
    }
    const mean = total / count;
    sum += mean;
    sumSq += mean * mean;
    // A tolerance so that float noise in sums of equal terms does not decide a tie.
    if (options.extreme === 'high' ? mean >= observed - 1e-12 : mean <= observed + 1e-12) extreme++;
  }
  const nullMean = sum / options.draws;
  const nullSd = Math.sqrt(Math.max(0, sumSq / options.draws - nullMean * nullMean));
  return { observed, nullMean, nullSd, pValue: (1 + extreme) / (1 + options.draws), draws: options.draws };
}

/** A uniform random permutation of 0..n-1 (Fisher–Yates). */
export function permutation(n: number, random: Random): number[] {
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random.uniform() * (i + 1));
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}
