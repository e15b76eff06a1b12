/**
 * One execution slot of a worker: a worker_thread running the same thread entry as the
 * in-process executor (core/src/exec/thread-worker.mjs), so a task runs exactly as it does
 * locally. The thread keeps its context (kernel, reader, hashers) between tasks and is rebuilt
 * only when a task asks for another kernel or hash.
 */
import { Worker } from 'node:worker_threads';
import { EXECUTOR_THREAD_ENTRY as THREAD_ENTRY, type ContextOptions, type ItemResult } from '../../core/src/exec/index.ts';
import type { Task } from '../../core/src/plan/index.ts';

/**
 * Why a task failed, and whether running it again could go differently. `readFailure`: its files
 * could not be read here (ReadFailedError), which another worker, with another mount, may do.
 */
export class TaskFailure extends Error {
  constructor(message: string, readonly deterministic: boolean, readonly readFailure = false) {
    super(message);
    this.name = 'TaskFailure';
  }
}

/** Errors the user's input causes (a bad file, an unusable option) fail the same way every time. */
function deterministicName(name: string | undefined): boolean {
  return name === 'BadInputError' || name === 'UsageError';
}

type ThreadMessage = { ready?: true; progress?: number; taskId?: number; results?: ItemResult[]; error?: string };

export class ThreadSlot {
  private thread: Worker | null = null;
  private key = '';
  private ready: Promise<void> | null = null;
  private current: { resolve(r: ItemResult[]): void; reject(e: Error): void; onProgress?: (bytes: number) => void } | null = null;

  private shutDown = false;

  /** Runs a task on this slot's thread; rejects with a TaskFailure. */
  async run(task: Task, context: ContextOptions, onProgress?: (bytes: number) => void): Promise<ItemResult[]> {
    if (this.shutDown) throw new TaskFailure('the worker is stopping', false);
    const key = JSON.stringify(context);
    if (!this.thread || key !== this.key) {
      await this.close();
      this.start(context, key);
    }
    await this.ready;
    return new Promise<ItemResult[]>((resolve, reject) => {
      this.current = { resolve, reject, onProgress };
      this.thread!.postMessage({ task });
    });
  }

  private start(context: ContextOptions, key: string): void {
    const thread = new Worker(THREAD_ENTRY, { workerData: context });
    this.thread = thread;
    this.key = key;
    let markReady!: () => void;
    let failStart!: (e: Error) => void;
    let started = false;
    this.ready = new Promise<void>((resolve, reject) => { markReady = resolve; failStart = reject; });
    // Nobody may be awaiting `ready` when the thread dies between tasks.
    this.ready.catch(() => {});
    const fail = (err: TaskFailure) => {
      if (this.thread === thread) this.thread = null;
      if (!started) failStart(err);
      const current = this.current;
      this.current = null;
      current?.reject(err);
    };
    thread.on('message', (m: ThreadMessage) => {
      if (m.ready) {
        started = true;
        markReady();
      } else if (m.progress !== undefined) {
        this.current?.onProgress?.(m.progress);
      } else {
        const current = this.current;
        this.current = null;
        if (m.error !== undefined) {
          // The thread sends the stack; its first line starts with the error's class name.
          const name = /^(\w+)/.exec(m.error)?.[1];
          current?.reject(new TaskFailure(m.error.split('\n')[0]!, deterministicName(name), name === 'ReadFailedError'));
        } else {
          current?.resolve(m.results!);
        }
      }
    });
    thread.on('error', (err) => {
      // A context that cannot be built (unknown kernel, gpu.js missing) fails every task alike.
      fail(new TaskFailure(`${started ? 'executor thread failed' : 'executor thread could not start'}: ${err.message}`, !started && deterministicName(err.name)));
    });
    thread.on('exit', (code) => fail(new TaskFailure(`executor thread exited with code ${code}`, false)));
  }

  /** Stops an idle thread the way the local executor does, letting it release its files. */
  async close(): Promise<void> {
    const thread = this.thread;
    if (!thread || this.current) return this.terminate();
    this.thread = null;
    this.ready = null;
    const exited = new Promise<void>((resolve) => thread.once('exit', () => resolve()));
    thread.postMessage({ stop: true });
    const timer = setTimeout(() => void thread.terminate(), 5_000);
    await exited;
    clearTimeout(timer);
  }

  /** Stops the thread for good: a running task is abandoned (its caller sees a TaskFailure), later ones are refused. */
  async shutdown(): Promise<void> {
    this.shutDown = true;
    await this.terminate();
  }

  /** Stops the thread at once; a task running on it is abandoned (its caller sees a TaskFailure). */
  async terminate(): Promise<void> {
    const thread = this.thread;
    this.thread = null;
    this.ready = null;
    if (thread) await thread.terminate();
  }
}
