/**
 * Sampled experts. A MoE keeps most of its bytes in routed experts, each too small to be sampled
 * on its own (40 blocks of ≥ 16 Ki elements), so sampled tensor by tensor every expert is read
 * whole. With --sample F the experts of one layer and role (layer 7's expert gate matrices) form
 * one stratum instead: its units are row blocks of its experts (blocks never cross an expert), and
 * a seeded draw without replacement over all of them picks F of the units (at least MIN_BLOCKS).
 * So experts are sampled (one with no block drawn is not read at all) and rows within them, and
 * the stratum's estimate and interval are those of any sampled tensor: the expansion estimate and
 * the delete-one-block jackknife with the finite-population correction (estimate.ts). Spreading
 * the blocks over many experts measures the variation between experts, which is usually the
 * larger part, far better than reading a few experts whole.
 *
 * The planner and the report both call planExpertStrata with the run's fraction and seed, so the
 * same strata come out wherever the report is built (locally, or on a coordinator after workers).
 */
import type { ItemResult } from '../exec/run-task.ts';
import type { MatchedTensor } from '../roles/match.ts';
import { Random } from '../synth/random.ts';
import { chooseSorted, MIN_BLOCKS, planSample, rowsAndCols, sampledShare, type SamplePlan } from './blocks.ts';
import { sumsOf, type Stratum, type Sums } from './estimate.ts';

/**
 * Blocks are sized for about this many units at the run's fraction (at least MIN_BLOCKS are drawn):
 * many small blocks reach many experts, and the variation between experts (a few re-initialized
 * ones, different scales) is what the stratum's interval must see. Measured on layers of 64 and
 * 256 experts, 15% of them re-initialized: with 40 units per stratum the layers' nominal 95%
 * intervals covered 92-94% of the time, with 160 units 94-97%.
 */
const TARGET_UNITS = 4 * MIN_BLOCKS;
/** A block is whole rows of at least this many elements (and at most MAX_UNIT_ELEMENTS). */
const MIN_UNIT_ELEMENTS = 256;
const MAX_UNIT_ELEMENTS = 1 << 20;

export interface ExpertStratum {
  layer: number;
  role: string;
  /** Indices (into the matched tensors) of every expert of the stratum, by expert number. */
  members: number[];
  /** Row blocks per expert; units are numbered expert by expert (unit = expert · perExpert + block). */
  perExpert: number;
  /** Units drawn, of members.length · perExpert. */
  drawn: number;
  /** By index of an expert with at least one block drawn: its blocks. The others are not read. */
  within: Map<number, SamplePlan>;
  /** Share of the stratum's elements read. */
  fraction: number;
}

/**
 * The expert strata of a sampled run: every (layer, role) group of comparable routed experts of one
 * shape where drawing blocks across the experts reads less than sampling each expert alone (even 8
 * experts of 4096 × 1024: 10% against 15.6% at F = 0.1). Where it does not (experts too few, or
 * large enough to be sampled alone at about F), the per-tensor plan stands.
 */
export function planExpertStrata(matched: readonly MatchedTensor[], fraction: number, seed: number): readonly ExpertStratum[] {
  // The planner and the report ask for the same strata of the same matched list: drawn once
  // (~0.1 s at 19k tensors). Callers only read them.
  const key = `${fraction}/${seed}`;
  let known = drawn.get(matched);
  if (!known) drawn.set(matched, (known = new Map()));
  let strata = known.get(key);
  if (!strata) known.set(key, (strata = drawStrata(matched, fraction, seed)));
  return strata;
}

const drawn = new WeakMap<readonly MatchedTensor[], Map<string, readonly ExpertStratum[]>>();

function drawStrata(matched: readonly MatchedTensor[], fraction: number, seed: number): ExpertStratum[] {
  const groups = new Map<string, number[]>();
  matched.forEach((m, i) => {
    if (m.group !== 'routed_expert' || m.layer === null || m.expert === null || !m.comparable || !m.a || !m.b || !m.name) return;
    const key = `${m.layer}\u0000${m.role}`;
    const list = groups.get(key);
    if (list) list.push(i);
    else groups.set(key, [i]);
  });
  const strata: ExpertStratum[] = [];
  for (const members of groups.values()) {
    const first = matched[members[0]!]!;
    const shape = first.a!.shape;
    if (!members.every((i) => matched[i]!.a!.shape.join() === shape.join())) continue;
    members.sort((x, y) => matched[x]!.expert! - matched[y]!.expert!);
    const { rows, cols } = rowsAndCols(shape);
    if (rows === 0 || cols === 0) continue;
    const experts = members.length;
    // About TARGET_UNITS blocks' worth of the fraction, cut so that an expert's blocks are even.
    const target = Math.min(MAX_UNIT_ELEMENTS, Math.max(MIN_UNIT_ELEMENTS, (experts * rows * cols * fraction) / TARGET_UNITS));
    const cuts = Math.max(1, Math.round(rows / Math.max(1, target / cols)));
    const rowsPerBlock = Math.ceil(rows / cuts);
    const perExpert = Math.ceil(rows / rowsPerBlock);
    const total = experts * perExpert;
    const count = Math.max(MIN_BLOCKS, Math.ceil(fraction * total));
    if (count >= total * 0.5 || count / total >= sampledShare(planSample(shape, fraction, seed, first.name!))) continue;
    const within = new Map<number, SamplePlan>();
    for (const unit of chooseSorted(total, count, new Random(seed, `experts:${first.layer}:${first.role}`))) {
      const index = members[Math.floor(unit / perExpert)]!;
      let plan = within.get(index);
      if (!plan) within.set(index, (plan = { cols, rows, rowsPerBlock, totalBlocks: perExpert, blocks: [], stratum: `${first.layer} ${first.role}` }));
      plan.blocks.push(unit % perExpert);
    }
    const fractionRead = [...within.values()].reduce((s, p) => s + sampledShare(p), 0) / experts;
    strata.push({ layer: first.layer!, role: first.role, members, perExpert, drawn: count, within, fraction: fractionRead });
  }
  return strata;
}

/**
 * The stratum as the estimator sees it: every drawn block of every expert read, out of all the
 * stratum's blocks. An expert whose item failed is left out (its blocks count as not drawn); with
 * fewer than two blocks left the interval is unknown.
 */
export function expertStratumOf(s: ExpertStratum, results: readonly (ItemResult | null | undefined)[]): Stratum {
  const blocks: Sums[] = [];
  for (const i of s.within.keys()) {
    const r = results[i];
    if (r?.blocks && r.moments) for (const b of r.blocks) blocks.push(sumsOf(b));
  }
  return { blocks, totalBlocks: s.members.length * s.perExpert, exact: false };
}

/** How many experts of the stratum were read (at least one block, without failure). */
export function expertsRead(s: ExpertStratum, results: readonly (ItemResult | null | undefined)[]): number {
  return [...s.within.keys()].filter((i) => results[i]?.moments).length;
}
