/**
 * A weights task that answers with what its HTTP readers fetched (a cluster worker's: it sends the
 * log back with the task's results, where the local executor's threads write theirs to a folder as
 * their readers close). The session's reader lives across tasks, so its log is drained before the
 * task (what a task abandoned on this thread left) and after it; and when the tasks of another
 * scope (job) start, it forgets what it fetched ahead for the last one, so that each job's logs
 * hold the fetch of every byte it used. A task that throws still answers with its log: its error
 * crosses as data beside it (the pool's error path carries no log), and loggedTaskError rebuilds it.
 */
import type { ReadLog } from '../io/read-log.ts';
import type { Task } from '../plan/plan.ts';
import type { ItemResult } from './run-task.ts';
import { errorFromMessage, errorToMessage, type ThreadEnv, type ThreadErrorMessage } from './thread-protocol.ts';
import { run as runWeights } from './weights-task.ts';

/** The reader's log since its last drain, or null for a reader without remote reads. */
function drained(reader: unknown): ReadLog | null {
  const log = (reader as { drainLog?: () => ReadLog | null }).drainLog?.() ?? null;
  return log && (log.runs.length > 0 || Object.keys(log.served).length > 0 || Object.keys(log.stats).length > 0 || log.failures.length > 0 || log.changes.length > 0) ? log : null;
}

/** The scope of the last task each reader (a session's, on this thread) served. */
const lastScope = new WeakMap<object, string>();

/** What the task answers: its results, or the error it failed with, and its log either way. */
export interface LoggedTaskOutput {
  results: ItemResult[];
  readLog: ReadLog | null;
  error?: ThreadErrorMessage;
}

export async function run(input: { task: Task; scope: string }, env: ThreadEnv): Promise<LoggedTaskOutput> {
  const { reader } = await env.context();
  drained(reader);
  if (lastScope.has(reader) && lastScope.get(reader) !== input.scope) (reader as { forgetFetched?: () => void }).forgetFetched?.();
  lastScope.set(reader, input.scope);
  try {
    const results = await runWeights(input, env);
    return { results, readLog: drained(reader) };
  } catch (err) {
    // What it fetched before failing was fetched all the same: it goes back with the failure.
    return { results: [], readLog: drained(reader), error: errorToMessage(0, err) };
  }
}

/** The error a task of this kind failed with, rebuilt as the typed error it was on its thread (BadInputError, READ_FAILED...); null when it succeeded. */
export function loggedTaskError(output: LoggedTaskOutput): Error | null {
  return output.error ? errorFromMessage(output.error) : null;
}
