/**
 * One persistent pool of worker_threads per process, shared by the weights pass and any later
 * caller (the controls), so a comparison starts its threads once instead of once per call.
 *
 * Use:
 *   import { getThreadPool, runOnPool } from '../exec/thread-pool.ts';
 *   const pool = getThreadPool(threads);          // created on first use; grows, never shrinks
 *   const out = await pool.run('weights', { task }, { session, context, onProgress });
 *   await runOnPool('weights', { task }, { threads, session, context });   // the same, shorter
 *   await pool.release(session);                  // the threads dispose that session's context
 *
 * - Kinds of work are listed in thread-tasks.ts (add one there; its module exports `run`).
 * - A session groups tasks that share a context (kernel, reader, hashers): each thread builds it
 *   on its first task of the session and disposes it after `release(session)`. Tasks without
 *   `context` get none.
 * - The pool runs as many tasks at once as it has threads; a caller that wants fewer keeps fewer
 *   in flight (executePlan runs `threads` lanes).
 * - Errors come back typed (thread-protocol.ts): a BadInputError stays one. A thread that dies
 *   fails only its task and is replaced on demand.
 * - `signal` cancels a task: a queued one never starts, a running one fails at once (its thread
 *   is stopped and replaced), so a cancelled job does not wait for its threads.
 * - Idle threads are unref'd, so a finished process exits on its own; `closeThreadPool()` stops
 *   them at once (tests, a draining worker). Threads load compiled JavaScript when running from
 *   dist/, and register tsx only when running from the sources.
 * - Threads start and stop through thread-gate.ts, never both at once (a Node crash): work that
 *   needs a new thread while one is being stopped waits for it to be gone.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { LineageError } from '../errors.ts';
import type { ContextOptions } from './task-context.ts';
import { threadGate } from './thread-gate.ts';
import { errorFromMessage, type FromThread, type ToThread } from './thread-protocol.ts';
import type { ThreadTaskInput, ThreadTaskKind, ThreadTaskOutput } from './thread-tasks.ts';

/** The entry of an executor thread (compiled JavaScript when built, the sources through tsx otherwise). */
export const EXECUTOR_THREAD_ENTRY = new URL('./thread-worker.mjs', import.meta.url);

export interface PoolRunOptions {
  /** Groups tasks sharing one context per thread; see `release`. */
  session?: string;
  /** How to build the session's context; needed by kinds that use one (weights). */
  context?: ContextOptions;
  /** Bytes read, as the task reports them. */
  onProgress?: (bytes: number) => void;
  /**
   * Cancels the task: a queued one never starts; a running one fails at once and its thread is
   * stopped (and replaced when work comes), since JavaScript in a thread cannot be interrupted.
   */
  signal?: AbortSignal;
}

interface Job {
  id: number;
  kind: ThreadTaskKind;
  input: unknown;
  options: PoolRunOptions;
  resolve(value: unknown): void;
  reject(err: Error): void;
}

interface PoolThread {
  worker: Worker;
  ready: boolean;
  job: Job | null;
  gone: boolean;
  /** Sessions this thread was asked to release and has not confirmed yet. */
  releasing: Map<string, () => void>;
}

export class ThreadPool {
  private readonly threads: PoolThread[] = [];
  private readonly queue: Job[] = [];
  private nextId = 1;
  private closed = false;
  private started = 0;
  /** Threads warm() asked for: started as soon as the gate lets them. */
  private warmTo = 0;
  private readonly leaveGate: () => void;

  constructor(private maxThreads: number) {
    this.maxThreads = Math.max(1, Math.floor(maxThreads));
    this.leaveGate = threadGate.whenOpen(() => this.dispatch());
  }

  /** The most threads this pool runs at once. */
  get size(): number {
    return this.maxThreads;
  }

  /** Tasks not yet handed to a thread (more tasks than threads): for tests and benches. */
  get queued(): number {
    return this.queue.length;
  }

  /** Threads started over the pool's life (a replaced thread counts again): for tests and benches. */
  get threadsStarted(): number {
    return this.started;
  }

  /**
   * Starts threads now, up to `threads` (at most the pool's size), so that they load their code
   * while the caller still prepares the work (a comparison warms them once both models open, while it
   * matches and plans their tensors); while a thread is being stopped, once it is gone. The pool
   * keeps that many from then on (a stopped one is replaced).
   * Threads without work do not keep the process alive once they are ready.
   */
  warm(threads = this.maxThreads): void {
    this.warmTo = Math.max(this.warmTo, Math.min(this.maxThreads, Math.floor(threads)));
    this.dispatch();
  }

  /** Lets the pool run at least `threads` threads. */
  grow(threads: number): void {
    this.maxThreads = Math.max(this.maxThreads, Math.floor(threads));
    this.dispatch();
  }

  run<K extends ThreadTaskKind>(kind: K, input: ThreadTaskInput<K>, options: PoolRunOptions = {}): Promise<ThreadTaskOutput<K>> {
    if (this.closed) return Promise.reject(new LineageError('INTERNAL', 'the thread pool is closed'));
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(abortError(signal));
    return new Promise<ThreadTaskOutput<K>>((resolve, reject) => {
      const onAbort = () => this.abort(job, abortError(signal!));
      const settle = () => signal?.removeEventListener('abort', onAbort);
      const job: Job = {
        id: this.nextId++, kind, input, options,
        resolve: (value) => { settle(); resolve(value as ThreadTaskOutput<K>); },
        reject: (err) => { settle(); reject(err); },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(job);
      this.dispatch();
    });
  }

  private abort(job: Job, error: Error): void {
    const queued = this.queue.indexOf(job);
    if (queued >= 0) {
      this.queue.splice(queued, 1);
      job.reject(error);
      return;
    }
    const t = this.threads.find((x) => x.job === job);
    if (!t) return;
    t.job = null;
    job.reject(error);
    // Stopping first, so that a thread for the queue starts once this one is gone (thread-gate.ts).
    void threadGate.terminate(t.worker);
    // Out of the pool at once, so nothing is dispatched to it; another starts when work comes.
    // Stopped by us, even before it was ready: not a thread that cannot start, so the queue goes on.
    this.lost(t, error, true);
  }

  /**
   * Tells every thread that no more tasks of `session` will come; resolves once each has disposed
   * that context (after its running task of the session, if any): readers closed, their logs written.
   */
  async release(session: string): Promise<void> {
    const message: ToThread = { type: 'release', session };
    // Starting threads too: one may hold a task of the session in its port (the release follows it there).
    await Promise.all(this.threads.filter((t) => !t.releasing.has(session)).map((t) => new Promise<void>((resolve) => {
      t.releasing.set(session, resolve);
      this.keepAlive(t);
      t.worker.postMessage(message);
    })));
  }

  /** Stops every thread now; queued and running tasks fail. */
  async close(): Promise<void> {
    this.closed = true;
    this.leaveGate();
    const error = new LineageError('INTERNAL', 'the thread pool was closed');
    for (const job of this.queue.splice(0)) job.reject(error);
    await Promise.all(this.threads.map((t) => {
      t.job?.reject(error);
      t.job = null;
      return threadGate.terminate(t.worker);
    }));
    this.threads.length = 0;
  }

  /**
   * Threads still starting take work too: the message waits in the thread's port until its loop
   * reads it. A task thus never waits for this thread to see a 'ready' (it may be busy for a
   * second meanwhile: a comparison matches and plans ~19k tensors a side right after warming).
   */
  private dispatch(): void {
    if (this.closed) return;
    for (const t of this.threads) {
      if (this.queue.length === 0) break;
      if (!t.job) this.assign(t, this.queue.shift()!);
    }
    while (this.queue.length > 0 && this.threads.length < this.maxThreads && threadGate.canStart()) this.assign(this.spawn(), this.queue.shift()!);
    while (this.threads.length < this.warmTo && threadGate.canStart()) this.spawn();
  }

  /** A thread keeps the process alive only while someone waits on it. */
  private keepAlive(t: PoolThread): void {
    if (t.job || t.releasing.size > 0 || !t.ready) t.worker.ref();
    else t.worker.unref();
  }

  private assign(t: PoolThread, job: Job): void {
    t.job = job;
    this.keepAlive(t);
    const message: ToThread = {
      type: 'run', id: job.id, kind: job.kind, input: job.input,
      session: job.options.session ?? null, context: job.options.context ?? null,
    };
    t.worker.postMessage(message);
  }

  /** After a task: the next queued one, or rest without keeping the process alive. */
  private idle(t: PoolThread): void {
    const next = this.queue.shift();
    if (next) this.assign(t, next);
    else this.keepAlive(t);
  }

  private spawn(): PoolThread {
    const worker = threadGate.start(() => new Worker(EXECUTOR_THREAD_ENTRY, { workerData: { protocol: 'pool' } }));
    const t: PoolThread = { worker, ready: false, job: null, gone: false, releasing: new Map() };
    this.threads.push(t);
    this.started++;
    worker.on('message', (m: FromThread) => {
      // A thread out of the pool (cancelled, or the pool closed: stopped once it runs, thread-gate.ts)
      // may still say it is ready: it must not take queued work, nor be unref'd before it has exited.
      if (t.gone || this.closed) return;
      if (m.type === 'ready') {
        t.ready = true;
        if (t.job) this.keepAlive(t);
        else this.idle(t);
      } else if (m.type === 'released') {
        t.releasing.get(m.session)?.();
        t.releasing.delete(m.session);
        this.keepAlive(t);
      } else if (m.type === 'progress') {
        if (t.job?.id === m.id) t.job.options.onProgress?.(m.bytes);
      } else {
        const job = t.job;
        if (!job || job.id !== m.id) return;
        t.job = null;
        if (m.type === 'result') job.resolve(m.value);
        else job.reject(errorFromMessage(m));
        this.idle(t);
      }
    });
    worker.on('error', (err) => this.lost(t, err));
    worker.on('exit', (code) => this.lost(t, new Error(`executor thread exited with code ${code}`)));
    return t;
  }

  /**
   * A thread died: its task fails; a thread that died before it was ready fails the queue too (the
   * next would die alike), unless it was `stopped` (its task cancelled: abort).
   */
  private lost(t: PoolThread, cause: Error, stopped = false): void {
    if (t.gone) return;
    t.gone = true;
    const at = this.threads.indexOf(t);
    if (at >= 0) this.threads.splice(at, 1);
    for (const done of t.releasing.values()) done();
    t.releasing.clear();
    if (this.closed) return;
    const error = new LineageError('INTERNAL', `executor thread ${t.ready ? 'failed' : 'could not start'}: ${cause.message}`, { cause, retryable: t.ready });
    t.job?.reject(error);
    t.job = null;
    if (!t.ready && !stopped) {
      // The next would die alike: no more warming either.
      this.warmTo = 0;
      for (const job of this.queue.splice(0)) job.reject(error);
    }
    this.dispatch();
  }
}

function abortError(signal: AbortSignal): Error {
  // abort() without a reason gives a DOMException: passed on as a plain Error named AbortError.
  if (signal.reason instanceof Error && !(signal.reason instanceof DOMException)) return signal.reason;
  const err = new Error('the task was cancelled');
  err.name = 'AbortError';
  return err;
}

let shared: ThreadPool | null = null;

/** The process's pool, created on first use with `threads` threads (default: one per core), grown by later callers. */
export function getThreadPool(threads?: number): ThreadPool {
  if (!shared) shared = new ThreadPool(threads ?? availableParallelism());
  else if (threads !== undefined) shared.grow(threads);
  return shared;
}

/** Runs one task on the process's pool (grown to `threads` when given). */
export function runOnPool<K extends ThreadTaskKind>(
  kind: K, input: ThreadTaskInput<K>, options: PoolRunOptions & { threads?: number } = {},
): Promise<ThreadTaskOutput<K>> {
  const { threads, ...runOptions } = options;
  return getThreadPool(threads).run(kind, input, runOptions);
}

/** Stops the process's pool (a later getThreadPool starts a new one). */
export async function closeThreadPool(): Promise<void> {
  const pool = shared;
  shared = null;
  await pool?.close();
}

let sessions = 0;
/** A session id unique in this process. */
export function newSession(label = 'session'): string {
  return `${label}-${process.pid}-${++sessions}`;
}
