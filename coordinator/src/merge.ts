/**
 * Task outcomes to the item results a report is built from, placed by item index (never by
 * arrival), so the report is the same for any number of workers in any order. Items of a task
 * that failed as a whole carry the task's reason, which the report shows as the tensor's note.
 */
import type { ItemResult } from '../../core/src/exec/index.ts';
import type { KernelName } from '../../core/src/kernels/index.ts';
import type { Plan } from '../../core/src/plan/index.ts';
import type { TaskOutcome } from '../../proto/convert.ts';

/** Which outcome of a task counts when several arrive (a redelivered task may report twice). */
export function preferOutcome(existing: TaskOutcome | undefined, incoming: TaskOutcome): boolean {
  if (!existing) return true;
  // A success replaces a failure (say, one recorded for a task JetStream gave up on, before a
  // late worker's result came in); otherwise the first stands: results of one task are identical.
  return existing.error !== null && incoming.error === null;
}

export function mergeOutcomes(plan: Plan, outcomes: Map<number, TaskOutcome>): ItemResult[] {
  const items = plan.tasks.reduce((n, t) => n + t.items.length, 0);
  const byIndex: ItemResult[] = new Array(items);
  for (const task of plan.tasks) {
    const outcome = outcomes.get(task.id);
    if (!outcome) throw new Error(`task ${task.id} (${task.label}) has no outcome`);
    if (outcome.error !== null) {
      for (const item of task.items) {
        byIndex[item.index] = { index: item.index, moments: null, blocks: null, hashA: null, hashB: null, error: `task '${task.label}' failed: ${outcome.error}` };
      }
      continue;
    }
    const got = new Map(outcome.results.map((r) => [r.index, r]));
    for (const item of task.items) {
      byIndex[item.index] = got.get(item.index)
        ?? { index: item.index, moments: null, blocks: null, hashA: null, hashB: null, error: `task '${task.label}' returned no result for this tensor` };
    }
  }
  return byIndex;
}

/** The kernel most results were computed with (the report names one); null when none ran. */
export function kernelOf(plan: Plan, outcomes: Map<number, TaskOutcome>): KernelName | null {
  const counts = new Map<string, number>();
  for (const task of plan.tasks) {
    const o = outcomes.get(task.id);
    if (o && o.error === null && o.kernel) counts.set(o.kernel, (counts.get(o.kernel) ?? 0) + task.items.length);
  }
  let best: string | null = null;
  for (const [kernel, n] of counts) if (best === null || n > counts.get(best)!) best = kernel;
  return best as KernelName | null;
}
