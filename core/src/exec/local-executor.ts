/**
 * The embedded executor: runs a plan's tasks on the process's thread pool (or in this thread
 * when one thread is asked for) and returns the item results ordered by item index, so the report
 * does not depend on how many threads ran or which finished first.
 */
import type { Plan, Task } from '../plan/plan.ts';
import { runTask, type ItemResult } from './run-task.ts';
import { createTaskContext, disposeTaskContext, type ContextOptions } from './task-context.ts';
import { getThreadPool, newSession } from './thread-pool.ts';

export interface ExecuteOptions extends ContextOptions {
  threads: number;
  /** Called as items finish, with the bytes they read. */
  onProgress?: (bytes: number) => void;
  /** Cancels the run: no further task starts, running ones on threads are stopped. */
  signal?: AbortSignal;
}

export async function executePlan(plan: Plan, options: ExecuteOptions): Promise<ItemResult[]> {
  const items = plan.tasks.reduce((n, t) => n + t.items.length, 0);
  const byIndex: ItemResult[] = new Array(items);
  // Largest first: the long tail is then made of small tasks (LPT scheduling).
  const queue = [...plan.tasks].sort((x, y) => y.bytes - x.bytes || x.id - y.id);
  const collect = (results: ItemResult[]) => { for (const r of results) byIndex[r.index] = r; };
  const threads = Math.max(1, Math.min(options.threads, queue.length));
  if (threads === 1) {
    const ctx = await createTaskContext(options);
    try {
      for (const task of queue) {
        options.signal?.throwIfAborted();
        collect(await runTask(task, ctx, options.onProgress));
      }
    } finally {
      disposeTaskContext(ctx);
    }
  } else {
    await runOnThreads(queue, threads, options, collect);
  }
  return byIndex;
}

/** `threads` lanes, each taking the next task when its last one is done; the first failure stops the rest. */
async function runOnThreads(queue: Task[], threads: number, options: ExecuteOptions, collect: (r: ItemResult[]) => void): Promise<void> {
  const { onProgress, signal, threads: _threads, ...context } = options;
  const pool = getThreadPool(threads);
  const session = newSession('plan');
  const lane = async () => {
    for (let task = queue.shift(); task; task = queue.shift()) {
      try {
        collect(await pool.run('weights', { task }, { session, context, onProgress, signal }));
      } catch (err) {
        queue.length = 0;
        throw err;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: threads }, lane));
  } finally {
    // Every thread closes this plan's readers (remote ones write their read logs) before we return.
    await pool.release(session);
  }
}
