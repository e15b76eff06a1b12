/**
 * The decision levels of lineage in one place: what counts as related, at which level. Each was
 * fixed before the evaluation set judged it (bench/eval-set.ts) and is checked against
 * independent pairs it was not chosen on (bench/calibration.ts).
 */

/** Aligned tests: a (component, layer) cell is related at p ≤ CELL_LEVEL (its false-positive rate). */
export const CELL_LEVEL = 0.01;
/** Aligned tests: a component is related when its cells' Fisher-combined p is at most this. */
export const COMPONENT_LEVEL = 0.001;

/**
 * By-index fallback (and the controls that read by index): a matrix counts as related when its
 * centered cosine exceeds max(0.1, 10/√n). Independent matrices have centered cosine ~ N(0, 1/n)
 * if their entries were independent; real independently trained weights still reach |ρ| ≈ 0.02,
 * so the floor is 5× that. Set by hand, not calibrated: the aligned tests decide where they run.
 */
export function relatedThreshold(n: number): number {
  return Math.max(0.1, 10 / Math.sqrt(Math.max(n, 1)));
}
