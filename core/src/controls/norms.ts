/**
 * The LayerNorm trap: norm scales start at 1.0, so two unrelated norm vectors have a raw cosine
 * near 1 (0.95–0.99 between real unrelated models). Each norm vector's raw cosine is set beside
 * what two unrelated vectors with the same means and spreads would give (closed form), and its
 * centered cosine beside the 1/√n of independent values.
 */
import type { ItemResult } from '../exec/run-task.ts';
import type { MatchedTensor } from '../roles/match.ts';
import { finalizeMoments } from '../stats/moments.ts';

export interface NormControl {
  name: string;
  layer: number | null;
  role: string;
  cosine: number | null;
  centeredCosine: number | null;
  /** Raw cosine expected of unrelated vectors with these means and spreads, and its spread. */
  nullMean: number | null;
  nullSd: number | null;
  /** Centered cosine in units of its null spread (1/√n). */
  z: number | null;
}

/**
 * a = μa + σa·x, b = μb + σb·y with x, y independent: E[Σab] = n·μa·μb, Var[Σab] = n(μa²σb² + μb²σa² + σa²σb²),
 * and ‖a‖² ≈ n(μa² + σa²): the raw cosine's null is their ratio.
 */
export function unrelatedCosine(n: number, meanA: number, sdA: number, meanB: number, sdB: number): { mean: number; sd: number } | null {
  const norm = Math.sqrt((meanA ** 2 + sdA ** 2) * (meanB ** 2 + sdB ** 2));
  if (!(norm > 0) || !(n > 0)) return null;
  const variance = meanA ** 2 * sdB ** 2 + meanB ** 2 * sdA ** 2 + sdA ** 2 * sdB ** 2;
  return { mean: (meanA * meanB) / norm, sd: Math.sqrt(variance / n) / norm };
}

export function normControls(matched: MatchedTensor[], results: ItemResult[]): NormControl[] {
  const out: NormControl[] = [];
  matched.forEach((m, i) => {
    if (m.group !== 'norm' || !results[i]?.moments) return;
    const s = finalizeMoments(results[i]!.moments!);
    const nul = s.meanA !== null && s.stdA !== null && s.meanB !== null && s.stdB !== null ? unrelatedCosine(s.n, s.meanA, s.stdA, s.meanB, s.stdB) : null;
    out.push({
      name: m.name!,
      layer: m.layer,
      role: m.role,
      cosine: s.cosine,
      centeredCosine: s.centeredCosine,
      nullMean: nul?.mean ?? null,
      nullSd: nul?.sd ?? null,
      z: s.centeredCosine === null ? null : s.centeredCosine * Math.sqrt(s.n),
    });
  });
  return out;
}
