/**
 * Intervals for sampled statistics: delete-one-block jackknife over the sampled blocks, with the
 * finite-population correction (blocks are drawn without replacement), and a Student t quantile.
 * Tensors are strata: a per-tensor interval has one stratum; a per-layer or per-role interval
 * combines its tensors' expanded totals (M/m · sampled sums), deleting one block of one stratum at
 * a time (the stratified jackknife). Additive sums make each deletion O(1). The routed experts of
 * one layer and role form one stratum whose units are row blocks of all of them (sample/experts.ts).
 */
import type { Moments } from '../stats/moments.ts';
import { studentQuantile } from './quantile.ts';

/** Additive sums: n, Σa, Σb, Σa², Σb², Σab, Σ(a−b)². */
export type Sums = [number, number, number, number, number, number, number];

export function sumsOf(m: Moments): Sums {
  return [m.n, m.n * m.meanA, m.n * m.meanB, m.m2a + m.n * m.meanA ** 2, m.m2b + m.n * m.meanB ** 2, m.cab + m.n * m.meanA * m.meanB, m.sdd];
}

export interface Stratum {
  /** Sums of each sampled block (all of the tensor's data when exact). */
  blocks: Sums[];
  /** Blocks in the population; equal to blocks.length for an exact stratum. */
  totalBlocks: number;
  exact: boolean;
}

export type StatName = 'cosine' | 'centeredCosine' | 'relL2';
export const INTERVAL_STATS: readonly StatName[] = ['cosine', 'centeredCosine', 'relL2'];

export function statFromSums(s: Sums, stat: StatName): number | null {
  const [n, sa, sb, saa, sbb, sab, sdd] = s;
  if (!(n > 0)) return null;
  if (stat === 'cosine') return saa > 0 && sbb > 0 ? clamp(sab / Math.sqrt(saa * sbb)) : null;
  if (stat === 'relL2') return saa > 0 ? Math.sqrt(Math.max(sdd, 0) / saa) : null;
  const m2a = saa - (sa * sa) / n;
  const m2b = sbb - (sb * sb) / n;
  return m2a > 0 && m2b > 0 ? clamp((sab - (sa * sb) / n) / Math.sqrt(m2a * m2b)) : null;
}

function clamp(x: number): number {
  return Math.min(1, Math.max(-1, x));
}

function add(into: Sums, s: Sums, k: number): void {
  for (let i = 0; i < 7; i++) into[i] += k * s[i]!;
}

function total(blocks: Sums[]): Sums {
  const t: Sums = [0, 0, 0, 0, 0, 0, 0];
  for (const b of blocks) add(t, b, 1);
  return t;
}

export interface Interval {
  estimate: number | null;
  low: number | null;
  high: number | null;
  halfwidth: number | null;
}

/**
 * The interval of one statistic over strata. `estimate` is the expansion estimate; callers with a
 * more accurate point value (merged centered moments) may centre the interval on that instead.
 */
export function stratifiedInterval(strata: Stratum[], stat: StatName, confidence: number): Interval {
  return intervalsOver(strata, [stat], confidence)[stat]!;
}

/**
 * The intervals of every reported statistic over the same strata: their totals and each
 * deletion's sums made once for the three (a sampled 19k-tensor MoE asks this of every tensor,
 * layer and role). The same numbers as stratifiedInterval's, statistic by statistic.
 */
export function stratifiedIntervals(strata: Stratum[], confidence: number): Record<StatName, Interval> {
  return intervalsOver(strata, INTERVAL_STATS, confidence) as Record<StatName, Interval>;
}

const NO_INTERVAL: Interval = Object.freeze({ estimate: null, low: null, high: null, halfwidth: null });

function intervalsOver(strata: Stratum[], stats: readonly StatName[], confidence: number): Partial<Record<StatName, Interval>> {
  const out: Partial<Record<StatName, Interval>> = {};
  // A sampled stratum with no block read (its experts' items all failed) leaves nothing to expand.
  if (strata.some((h) => !h.exact && h.blocks.length === 0)) {
    for (const stat of stats) out[stat] = { ...NO_INTERVAL };
    return out;
  }
  const totals = strata.map((h) => total(h.blocks));
  const weight = (h: Stratum) => (h.exact ? 1 : h.totalBlocks / h.blocks.length);
  const grand: Sums = [0, 0, 0, 0, 0, 0, 0];
  strata.forEach((h, i) => add(grand, totals[i]!, weight(h)));
  const live = stats.filter((stat) => statFromSums(grand, stat) !== null);
  for (const stat of stats) if (!live.includes(stat)) out[stat] = { ...NO_INTERVAL };
  if (live.length === 0) return out;
  const variance = live.map(() => 0);
  const df = live.map(() => 0);
  let unknown = false;
  const r: Sums = [0, 0, 0, 0, 0, 0, 0];
  strata.forEach((h, i) => {
    const m = h.blocks.length;
    if (h.exact) return;
    // A sampled stratum of one unit has no variance estimate: the interval is unknown, not zero.
    if (m < 2) {
      unknown = true;
      return;
    }
    const rest: Sums = [...grand];
    add(rest, totals[i]!, -weight(h));
    const w = h.totalBlocks / (m - 1);
    const replicates: number[][] = live.map(() => []);
    for (const block of h.blocks) {
      for (let k = 0; k < 7; k++) r[k] = rest[k]!;
      add(r, totals[i]!, w);
      add(r, block, -w);
      live.forEach((stat, s) => {
        const v = statFromSums(r, stat);
        if (v !== null) replicates[s]!.push(v);
      });
    }
    const fpc = 1 - m / h.totalBlocks;
    live.forEach((_, s) => {
      const values = replicates[s]!;
      if (values.length < 2) return;
      const mean = values.reduce((x, v) => x + v, 0) / values.length;
      const ss = values.reduce((x, v) => x + (v - mean) ** 2, 0);
      variance[s] += (fpc * (m - 1) * ss) / m;
      df[s] += m - 1;
    });
  });
  live.forEach((stat, s) => {
    const estimate = statFromSums(grand, stat)!;
    if (unknown) out[stat] = { estimate, low: null, high: null, halfwidth: null };
    else if (df[s] === 0) out[stat] = { estimate, low: estimate, high: estimate, halfwidth: 0 };
    else {
      const halfwidth = studentQuantile(0.5 + confidence / 2, df[s]!) * Math.sqrt(variance[s]!);
      out[stat] = { estimate, low: estimate - halfwidth, high: estimate + halfwidth, halfwidth };
    }
  });
  // In the order asked for, whichever had none.
  return Object.fromEntries(stats.map((stat) => [stat, out[stat]!]));
}

/** An interval around a given point, clipped to the statistic's range. */
export function around(point: number | null, halfwidth: number | null, stat: StatName): [number, number] | null {
  if (point === null || halfwidth === null) return null;
  const lo = point - halfwidth;
  const hi = point + halfwidth;
  return stat === 'relL2' ? [Math.max(0, lo), hi] : [Math.max(-1, lo), Math.min(1, hi)];
}
