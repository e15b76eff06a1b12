/**
 * A worker that cannot read a task's files (its mount lacks the models, a disk fails) hands the
 * task back with a delay, and pauses its own pulling for longer than that delay, so the task goes
 * to another worker rather than back to it. Each read failure in a row lengthens the pause; a
 * task that reads fine ends it. A worker that can read nothing thus drifts out of the rotation
 * instead of using up every task's deliveries.
 */

/** The delay before a failed task may be delivered again (to any worker): 1 s per delivery so far. */
export function retryDelayMs(attempt: number): number {
  return Math.min(30_000, 1_000 * Math.max(1, attempt));
}

/**
 * Pause per read failure in a row: longer than the first retries' delays, so an idle worker that
 * can read gets the task first. Capped, so a cluster where no worker can read fails its jobs in
 * tens of seconds rather than minutes.
 */
const PAUSE_STEP_MS = 2_000;
const MAX_PAUSE_MS = 10_000;

export class ReadBackoff {
  private failuresInARow = 0;
  private pausedUntil = 0;

  constructor(private readonly now: () => number = Date.now) {}

  /** A task could not read its tensors here. */
  failed(): void {
    this.failuresInARow++;
    this.pausedUntil = this.now() + Math.min(MAX_PAUSE_MS, PAUSE_STEP_MS * this.failuresInARow);
  }

  /** A task read its tensors: this worker's reads work again. */
  succeeded(): void {
    this.failuresInARow = 0;
    this.pausedUntil = 0;
  }

  /** Milliseconds to wait before pulling again (0: pull now). */
  pauseMs(): number {
    return Math.max(0, this.pausedUntil - this.now());
  }
}
