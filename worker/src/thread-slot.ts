/**
 * One execution slot of a worker: runs a task on the process's thread pool (core/src/exec/thread-pool.ts),
 * the same threads and the same code as the in-process executor, so a task runs exactly as it does
 * locally and the worker's control tasks share those threads. Slots with the same context options
 * (kernel, reader, hash) share one pool session, so each thread keeps one context (readers,
 * hashers) between tasks; a slot moving to other options releases the old session once no slot
 * uses it.
 */
import { isBadInput, LineageError } from '../../core/src/errors.ts';
import { getThreadPool, loggedTaskError, newSession, type ContextOptions, type ItemResult, type LoggedTaskOutput } from '../../core/src/exec/index.ts';
import type { ReadLog } from '../../core/src/io/index.ts';
import type { Task } from '../../core/src/plan/index.ts';

/**
 * Why a task failed, and whether running it again could go differently. `readFailure`: its files
 * could not be read here (ReadFailedError), which another worker, with another mount, may do.
 * `readLog`: what its HTTP readers fetched before it failed (null: none, or not known), which
 * goes back with the failure so that the report accounts for every fetch.
 */
export class TaskFailure extends Error {
  readLog: ReadLog | null = null;

  constructor(message: string, readonly deterministic: boolean, readonly readFailure = false) {
    super(message);
    this.name = 'TaskFailure';
  }

  withReadLog(log: ReadLog | null): this {
    this.readLog = log;
    return this;
  }
}

/**
 * A task's error as a TaskFailure: bad input and usage errors fail the same way every time; a read
 * failure (READ_FAILED: a ReadFailedError, rebuilt from a thread as a LineageError of that code)
 * may go otherwise on another worker.
 */
export function taskFailureOf(err: unknown): TaskFailure {
  if (err instanceof TaskFailure) return err;
  const e = err as Error;
  const readFailure = err instanceof LineageError && err.code === 'READ_FAILED';
  return new TaskFailure(`${e?.name ?? 'Error'}: ${e?.message ?? String(err)}`, isBadInput(err), readFailure);
}

/** Pool sessions by context options, with the slots using each. */
const sessions = new Map<string, { id: string; users: number }>();
/** Slots in this process: the pool is grown to one thread per slot (several workers may share a process). */
let slotsMade = 0;

export class ThreadSlot {
  private key: string | null = null;
  private running: AbortController | null = null;
  private shutDown = false;

  constructor() {
    getThreadPool(++slotsMade);
  }

  /** Runs a task on the pool, in the session of its context; rejects with a TaskFailure. */
  async run(task: Task, context: ContextOptions, onProgress?: (bytes: number) => void): Promise<ItemResult[]> {
    return (await this.runLogged(task, context, onProgress)).results;
  }

  /**
   * The same, with what its HTTP readers fetched (null when it read no URL); `scope` (the job)
   * bounds what a thread's reader keeps between tasks. A task that fails rejects with a
   * TaskFailure carrying what it fetched until then (none for one abandoned: its thread is gone).
   */
  async runLogged(task: Task, context: ContextOptions, onProgress?: (bytes: number) => void, scope = ''): Promise<{ results: ItemResult[]; readLog: ReadLog | null }> {
    if (this.shutDown) throw new TaskFailure('the worker is stopping', false);
    const session = this.enter(JSON.stringify(context));
    const abort = new AbortController();
    this.running = abort;
    let output: LoggedTaskOutput;
    try {
      output = await getThreadPool().run('weightsLogged', { task, scope }, { session, context, onProgress, signal: abort.signal });
    } catch (err) {
      if (abort.signal.aborted) throw new TaskFailure('the worker is stopping: the task was abandoned', false);
      throw taskFailureOf(err);
    } finally {
      this.running = null;
    }
    const error = loggedTaskError(output);
    if (error) throw taskFailureOf(error).withReadLog(output.readLog);
    return { results: output.results, readLog: output.readLog };
  }

  /** The session of these options, leaving (and releasing, when unused) the one this slot was in. */
  private enter(key: string): string {
    if (this.key !== key) {
      this.leave();
      const entry = sessions.get(key) ?? { id: newSession('worker'), users: 0 };
      entry.users++;
      sessions.set(key, entry);
      this.key = key;
    }
    return sessions.get(key)!.id;
  }

  private leave(): void {
    const key = this.key;
    if (key === null) return;
    this.key = null;
    const entry = sessions.get(key)!;
    if (--entry.users > 0) return;
    sessions.delete(key);
    // The threads dispose of its contexts (readers closed) once their running task of it is done.
    void getThreadPool().release(entry.id);
  }

  /** Stops for good: a running task is abandoned (its caller sees a TaskFailure; its thread is replaced), later ones are refused. */
  async shutdown(): Promise<void> {
    this.shutDown = true;
    this.running?.abort();
    this.leave();
  }
}
