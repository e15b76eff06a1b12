/**
 * How much of the controls a sampled run plans (issue 12 item 5). `--sample F` reads about F of
 * the weights; a user who asks for a tenth of the work expects the controls to shrink with it,
 * not to cost what an exact run's do. Each control keeps a floor, below which its own statistics
 * (a null per layer, a component read over several cells) would stop meaning much.
 */
import { evenlySpaced } from '../align/stats.ts';
import type { Random } from '../synth/random.ts';
import { chooseSorted } from './blocks.ts';

/**
 * MoE layers the expert matching keeps under sampling, at least (all of them when a model has no
 * more): evenly spaced, four layers keep the first and the last, and one odd layer (re-initialized,
 * or the edge of a partial derivation) cannot decide the matching's evidence alone. The price: a
 * reused run shorter than about L/3 layers can fall between the sampled ones (the weights pass
 * still compares every tensor, sampled).
 */
export const MIN_SAMPLED_EXPERT_LAYERS = 4;
/**
 * Layer pairs with aligned cells under sampling, at least: each cell's null partners are the
 * other pairs' layers of B (three here) topped up by dimension shuffles to at least 10 draws,
 * and a component read over four cells still tells "related" from "mixed".
 */
export const MIN_SAMPLED_CELL_PAIRS = 4;

/** The run's fraction when it samples (0 < F < 1); null for an exact run. */
export function controlsFraction(sample: number | null | undefined): number | null {
  return typeof sample === 'number' && sample > 0 && sample < 1 ? sample : null;
}

/**
 * The MoE layers the expert matching analyses: every one in an exact run; under --sample F about
 * F of them, max(4, ⌈F·L⌉), evenly spaced over the depth (both ends kept), so that the controls
 * cost about F of an exact run's on a deep MoE while a short one keeps all of its layers.
 */
export function sampledExpertLayers(layers: number[], fraction: number | null): { chosen: number[]; left: number[] } {
  if (fraction === null) return { chosen: layers, left: [] };
  const keep = Math.max(MIN_SAMPLED_EXPERT_LAYERS, Math.ceil(fraction * layers.length));
  const picked = new Set(evenlySpaced(layers.length, keep));
  return { chosen: layers.filter((_, i) => picked.has(i)), left: layers.filter((_, i) => !picked.has(i)) };
}

/**
 * Layer pairs given aligned cells: `exact` of them in an exact run (ALIGNED_LAYERS), under
 * --sample F the same share of them, max(4, ⌈F·exact⌉).
 */
export function sampledCellPairs(exact: number, fraction: number | null): number {
  if (fraction === null) return exact;
  return Math.min(exact, Math.max(MIN_SAMPLED_CELL_PAIRS, Math.ceil(fraction * exact)));
}

/** The reason a layer or a part of a control was left out by sampling (the report's words). */
export function notSampled(fraction: number): string {
  return `not sampled (--sample ${fraction})`;
}

/** Runs of adjacent rows an expert matrix's sample is read in (a few reads per matrix, spread over it). */
const ROW_RUNS = 4;

/**
 * Rows of an expert matrix the expert weight check reads under --sample F (a matrix too small to
 * be sampled in blocks is otherwise read whole): about F of its rows, as ROW_RUNS runs of adjacent
 * rows at seeded places. The caller draws once per layer and role, so every expert of it gives the
 * same rows and matched experts are compared row for row. Null: read it whole (the sample would be
 * most of it).
 */
export function sampledRowRuns(rows: number, fraction: number, random: Random): { first: number; count: number }[] | null {
  const runLength = Math.max(1, Math.ceil(Math.ceil(fraction * rows) / ROW_RUNS));
  const slots = Math.floor(rows / runLength);
  if (slots <= ROW_RUNS || runLength * ROW_RUNS >= rows / 2) return null;
  return chooseSorted(slots, ROW_RUNS, random).map((s) => ({ first: s * runLength, count: runLength }));
}
