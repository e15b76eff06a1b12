/** The weights pass's unit of work on a pool thread: one plan task, in the session's context. */
import type { Task } from '../plan/plan.ts';
import { runTask, type ItemResult } from './run-task.ts';
import type { ThreadEnv } from './thread-protocol.ts';

export async function run(input: { task: Task }, env: ThreadEnv): Promise<ItemResult[]> {
  return runTask(input.task, await env.context(), (bytes) => env.progress(bytes));
}
