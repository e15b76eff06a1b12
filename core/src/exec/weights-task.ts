/** The weights pass's unit of work on a pool thread: one plan task, in the session's context. */
import type { Task } from '../plan/plan.ts';
import { runTask, type ItemResult } from './run-task.ts';
import type { ThreadEnv } from './thread-protocol.ts';

/** Progress leaves the thread at most this often: a task of a MoE holds hundreds of expert tensors, and a message each cost more than reading them. */
const PROGRESS_EVERY_MS = 50;

export async function run(input: { task: Task }, env: ThreadEnv): Promise<ItemResult[]> {
  let pending = 0;
  let last = performance.now();
  const results = await runTask(input.task, await env.context(), (bytes) => {
    pending += bytes;
    const now = performance.now();
    if (now - last >= PROGRESS_EVERY_MS) {
      env.progress(pending);
      pending = 0;
      last = now;
    }
  });
  if (pending > 0) env.progress(pending);
  return results;
}
