/**
 * The permutation null: if B's answers carry nothing of A's beyond what any probe would get, then
 * pairing A's answer to probe i with B's answer to another probe j ≠ i (from the same probe set)
 * is as good as the true pairing. Each draw re-pairs every stratum by a uniform random derangement;
 * the p-value is (1 + #draws at least as extreme) / (1 + draws), exact in level under that null.
 */
import { Random } from '../synth/random.ts';

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
 * probes); `strata`: groups of indices re-paired among themselves. Values are memoized, since a
 * pair recurs across draws.
 */
export function permutationTest(
  count: number,
  strata: number[][],
  value: (i: number, j: number) => number,
  options: { draws: number; seed: number; extreme: 'high' | 'low'; stream: string },
): PermutationResult {
  const memo = new Map<number, number>();
  const at = (i: number, j: number): number => {
    const key = i * count + j;
    let v = memo.get(key);
    if (v === undefined) memo.set(key, (v = value(i, j)));
    return v;
  };
  let observedSum = 0;
  for (let i = 0; i < count; i++) observedSum += at(i, i);
  const observed = observedSum / count;
  const random = new Random(options.seed, `behaviour-null:${options.stream}`);
  let extreme = 0;
  let sum = 0;
  let sumSq = 0;
  // Strata of one probe have no other probe to pair with: they keep their own pairing (a
  // conservative choice: it only pulls the null towards the observation).
  for (let d = 0; d < options.draws; d++) {
    let total = 0;
    for (const stratum of strata) {
      const perm = stratum.length > 1 ? derangement(stratum.length, random) : [0];
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

/** A uniform random derangement of 0..n-1 (n ≥ 2), by rejection: about e tries on average. */
export function derangement(n: number, random: Random): number[] {
  const p = Array.from({ length: n }, (_, i) => i);
  for (;;) {
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(random.uniform() * (i + 1));
      const t = p[i]!;
      p[i] = p[j]!;
      p[j] = t;
    }
    if (p.every((v, i) => v !== i)) return p;
  }
}
