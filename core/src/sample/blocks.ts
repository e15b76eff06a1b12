/**
 * Which parts of a tensor a sampled comparison reads: blocks of contiguous rows (so each read is
 * one large range), drawn without replacement by a generator seeded from the run's seed and the
 * tensor's name. Growing the sample extends the same random order, so a run that needs more
 * blocks (--target-halfwidth) keeps the ones it has.
 */
import { Random } from '../synth/random.ts';

export interface SamplePlan {
  /** Elements per row (the last dimension); a 1-D tensor counts one element per row. */
  cols: number;
  rows: number;
  rowsPerBlock: number;
  /** Blocks in the tensor (the last may be short). */
  totalBlocks: number;
  /** Chosen block indices, ascending: the order results are merged in. */
  blocks: number[];
  /**
   * Set when the blocks were drawn across a stratum of experts (sample/experts.ts), not from this
   * tensor's own seeded order: `layer role`. Not carried to workers (they need the blocks only).
   */
  stratum?: string;
}

/** At least this many blocks are drawn, so the jackknife has enough units. */
export const MIN_BLOCKS = 40;
const MIN_BLOCK_ELEMENTS = 16 * 1024;
const MAX_BLOCK_ELEMENTS = 1 << 20;

export function rowsAndCols(shape: readonly number[]): { rows: number; cols: number } {
  const n = shape.reduce((x, y) => x * y, 1);
  const cols = shape.length >= 2 ? shape[shape.length - 1]! : 1;
  return { rows: cols === 0 ? 0 : n / cols, cols };
}

/**
 * Blocks of about n·F/MIN_BLOCKS elements (clamped to [16 Ki, 1 Mi] and rounded to whole rows),
 * of which ⌈F·M⌉ (at least MIN_BLOCKS) are drawn. Returns null when that would read (nearly) the
 * whole tensor: small tensors are compared exactly.
 */
export function planSample(shape: readonly number[], fraction: number, seed: number, name: string): SamplePlan | null {
  const { rows, cols } = rowsAndCols(shape);
  const n = rows * cols;
  const target = Math.min(MAX_BLOCK_ELEMENTS, Math.max(MIN_BLOCK_ELEMENTS, (n * fraction) / MIN_BLOCKS));
  const rowsPerBlock = Math.max(1, Math.round(target / cols));
  const totalBlocks = Math.ceil(rows / rowsPerBlock);
  const count = Math.max(MIN_BLOCKS, Math.ceil(fraction * totalBlocks));
  if (count >= totalBlocks * 0.5) return null;
  return { cols, rows, rowsPerBlock, totalBlocks, blocks: drawBlocks(totalBlocks, count, seed, name) };
}

/** The first `count` of a seeded random order of 0..total-1, sorted. */
export function drawBlocks(total: number, count: number, seed: number, name: string): number[] {
  return chooseSorted(total, count, new Random(seed, `sample:${name}`));
}

/**
 * `count` of 0..total-1 drawn without replacement, ascending: the first `count` steps of a
 * Fisher–Yates shuffle, over a sparse map so memory is O(count) whatever `total`.
 */
export function chooseSorted(total: number, count: number, random: Random): number[] {
  const swapped = new Map<number, number>();
  const out: number[] = [];
  for (let i = 0; i < Math.min(count, total); i++) {
    const j = i + Math.floor(random.uniform() * (total - i));
    const vi = swapped.get(i) ?? i;
    const vj = swapped.get(j) ?? j;
    swapped.set(j, vi);
    out.push(vj);
  }
  return out.sort((x, y) => x - y);
}

/** Elements a sample plan reads. */
export function sampledElements(sample: SamplePlan): number {
  return sample.blocks.reduce((s, b) => s + blockRange(sample, b).count, 0);
}

/** The share of a tensor's elements a plan reads (1 when it is read whole). */
export function sampledShare(sample: SamplePlan | null): number {
  return sample ? sampledElements(sample) / (sample.rows * sample.cols) : 1;
}

/** Element range [first, first + count) of block `b`. */
export function blockRange(plan: Pick<SamplePlan, 'rows' | 'cols' | 'rowsPerBlock'>, b: number): { first: number; count: number } {
  const r0 = b * plan.rowsPerBlock;
  const r1 = Math.min(plan.rows, r0 + plan.rowsPerBlock);
  return { first: r0 * plan.cols, count: (r1 - r0) * plan.cols };
}
