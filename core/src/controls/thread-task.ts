/**
 * A control task on a pool thread (exec/thread-tasks.ts kind 'control'): the thread opens the
 * model folders' headers once per session (a 100B MoE lists ~19k tensors: opened per session,
 * not per task) and runs the task.
 */
import { openCheckpoint, type Checkpoint } from '../checkpoint/folder.ts';
import type { ThreadEnv } from '../exec/thread-protocol.ts';
import { blockingBytesRead } from '../io/blocking.ts';
import type { HttpReadOptions } from '../io/http-client.ts';
import { runControlTask, type ControlTask } from './tasks.ts';

let opened: { session: string; byRoot: Map<string, Checkpoint> } | null = null;

function open(session: string, root: string): Checkpoint {
  if (opened?.session !== session) opened = { session, byRoot: new Map() };
  let ck = opened.byRoot.get(root);
  if (!ck) opened.byRoot.set(root, (ck = openCheckpoint(root)));
  return ck;
}

/**
 * `models`: the checkpoints as the caller opened them (in process: the tensors planned are the
 * tensors read, and a shard cut short since costs only its own tensors); absent on a cluster
 * worker, which opens the folders itself.
 */
export async function run(
  input: { task: ControlTask; session: string; models?: { a: Checkpoint; b: Checkpoint }; remote?: HttpReadOptions | null }, _env: ThreadEnv,
): Promise<{ value: unknown; bytes: number }> {
  const { task, session } = input;
  // A thread runs one task at a time: what its readers read meanwhile is this task's.
  const before = blockingBytesRead();
  const value = await runControlTask(task, input.models ?? { a: open(session, task.models.a), b: open(session, task.models.b) }, input.remote ?? null);
  return { value, bytes: blockingBytesRead() - before };
}
