/**
 * The embedded executor: runs a plan's tasks on worker_threads (or in this thread when one is
 * asked for) and returns the item results ordered by item index, so the report does not depend
 * on how many threads ran or which finished first.
 */
import { Worker } from 'node:worker_threads';
import type { Plan, Task } from '../plan/plan.ts';
import { runTask, type ItemResult } from './run-task.ts';
import { createTaskContext, disposeTaskContext, type ContextOptions } from './task-context.ts';

export interface ExecuteOptions extends ContextOptions {
  threads: number;
  /** Called as items finish, with the bytes they read. */
  onProgress?: (bytes: number) => void;
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
      for (const task of queue) collect(await runTask(task, ctx, options.onProgress));
    } finally {
      disposeTaskContext(ctx);
    }
  } else {
    await Promise.all(Array.from({ length: threads }, () => runThread(queue, options, collect)));
  }
  return byIndex;
}

function runThread(queue: Task[], options: ExecuteOptions, collect: (r: ItemResult[]) => void): Promise<void> {
  const { onProgress, threads: _threads, ...contextOptions } = options;
  const worker = new Worker(new URL('./thread-worker.mjs', import.meta.url), { workerData: contextOptions });
  return new Promise<void>((resolve, reject) => {
    let failed = false;
    const next = () => {
      const task = queue.shift();
      if (task) worker.postMessage({ task });
      else worker.postMessage({ stop: true });
    };
    worker.on('message', (m: { ready?: true; progress?: number; taskId?: number; results?: ItemResult[]; error?: string }) => {
      if (m.progress !== undefined) onProgress?.(m.progress);
      else if (m.ready) next();
      else if (m.error !== undefined) {
        failed = true;
        queue.length = 0;
        reject(new Error(`executor thread failed on task ${m.taskId}: ${m.error}`));
        void worker.terminate();
      } else {
        collect(m.results!);
        next();
      }
    });
    worker.on('error', (err) => { failed = true; reject(err); });
    worker.on('exit', (code) => {
      if (!failed && code !== 0) reject(new Error(`executor thread exited with code ${code}`));
      else resolve();
    });
  });
}
