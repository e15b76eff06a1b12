/**
 * A job whose tensor pairs mostly went uncompared (their tasks failed on every delivery: no
 * worker could read the files, or each one that tried died) must end failed, with the reason,
 * rather than as a verdict drawn from what little was left. A few failed tasks only leave notes on
 * their tensors.
 */
import type { Plan } from '../../core/src/plan/index.ts';
import type { TaskOutcome } from '../../proto/convert.ts';

/** Why the job fails, or null when more than half of its tensors have results. */
export function mostlyUncompared(plan: Plan, outcomes: ReadonlyMap<number, TaskOutcome>): string | null {
  let total = 0;
  let failed = 0;
  let first: string | null = null;
  for (const task of plan.tasks) {
    total += task.items.length;
    const error = outcomes.get(task.id)?.error ?? null;
    if (error === null) continue;
    failed += task.items.length;
    first ??= error;
  }
  if (total === 0 || failed * 2 <= total) return null;
  return `${failed} of ${total} tensors could not be compared: their tasks failed on every delivery (the first: ${first})`;
}

/** Ends a job as failed with its reason (not a failure to build the report). */
export class JobFailedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JobFailedError';
  }
}
