/**
 * `--target-halfwidth W`: after a sampled pass, every tensor whose interval is still wider than W
 * draws more blocks (twice as many, continuing the same seeded order, so the blocks it has are
 * kept) until the interval is narrow enough or the tensor has been read whole. Sampled experts
 * (sample/experts.ts) are left as drawn: their blocks come from one draw across their stratum.
 */
import type { ItemResult } from '../exec/run-task.ts';
import type { Plan, Task, TaskItem } from '../plan/plan.ts';
import { emptyMoments, mergeMoments, type Moments } from '../stats/moments.ts';
import { drawBlocks, type SamplePlan } from './blocks.ts';
import { INTERVAL_STATS, stratifiedIntervals, sumsOf } from './estimate.ts';

export type RunTasks = (plan: Plan) => Promise<ItemResult[]>;

function widest(item: TaskItem, result: ItemResult, confidence: number): number {
  if (!item.sample || !result.blocks) return 0;
  const stratum = { blocks: result.blocks.map(sumsOf), totalBlocks: item.sample.totalBlocks, exact: false };
  const pass = stratifiedIntervals([stratum], confidence);
  let w = 0;
  for (const stat of INTERVAL_STATS) w = Math.max(w, pass[stat].halfwidth ?? 0);
  return w;
}

/** Grows the samples of `plan` in place and returns the results, merged by item index. */
export async function refineToHalfwidth(
  plan: Plan, results: ItemResult[], options: { halfwidth: number; confidence: number; seed: number; names: (string | null)[] }, run: RunTasks,
): Promise<ItemResult[]> {
  const items = new Map<number, TaskItem>();
  for (const task of plan.tasks) for (const item of task.items) items.set(item.index, item);
  for (let round = 0; round < 32; round++) {
    const tasks: Task[] = [];
    const grown = new Map<number, SamplePlan | null>();
    for (const [index, item] of items) {
      const result = results[index];
      // Blocks drawn across a stratum of experts do not grow tensor by tensor (their stratum would no longer be one draw).
      if (!item.sample || item.sample.stratum || !result?.blocks || result.error) continue;
      if (widest(item, result, options.confidence) <= options.halfwidth) continue;
      const sample = item.sample;
      const count = Math.min(sample.totalBlocks, 2 * sample.blocks.length);
      if (count >= sample.totalBlocks * 0.5) {
        grown.set(index, null);
        tasks.push({ id: tasks.length, label: `whole ${options.names[index]}`, bytes: 0, items: [{ ...item, sample: null }] });
        continue;
      }
      const blocks = drawBlocks(sample.totalBlocks, count, options.seed, options.names[index]!);
      const have = new Set(sample.blocks);
      const added = blocks.filter((b) => !have.has(b));
      grown.set(index, { ...sample, blocks });
      tasks.push({ id: tasks.length, label: `more of ${options.names[index]}`, bytes: 0, items: [{ ...item, sample: { ...sample, blocks: added } }] });
    }
    if (tasks.length === 0) return results;
    const extra = await run({ tasks, totalBytes: 0 });
    for (const [index, sample] of grown) {
      const item = items.get(index)!;
      const more = extra[index]!;
      if (sample === null || more.error) {
        results[index] = more;
        item.sample = sample === null ? null : item.sample;
        continue;
      }
      // Blocks of both passes, merged in block order as a single pass would have.
      const byBlock = new Map<number, Moments>();
      item.sample!.blocks.forEach((b, k) => byBlock.set(b, results[index]!.blocks![k]!));
      const had = new Set(item.sample!.blocks);
      sample.blocks.filter((b) => !had.has(b)).forEach((b, k) => byBlock.set(b, more.blocks![k]!));
      const blocks = sample.blocks.map((b) => byBlock.get(b)!);
      let moments = emptyMoments();
      for (const m of blocks) moments = mergeMoments(moments, m);
      results[index] = { ...results[index]!, blocks, moments };
      item.sample = sample;
    }
  }
  return results;
}
