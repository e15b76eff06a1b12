/**
 * Node can crash (SIGSEGV) when one worker thread creates its isolate while another is being
 * terminated (nodejs/node#56312, open; CI here died so once, in a test that abandons a running task).
 * The executor threads of this process start and stop through one gate, so the two never overlap:
 * a thread is terminated only once no thread is starting, and none starts while one terminates.
 *
 * Use (the thread pool):
 *   if (threadGate.canStart()) worker = threadGate.start(() => new Worker(...));   // else on `whenOpen`
 *   await threadGate.terminate(worker);                                 // waits for starting threads first
 *   threadGate.whenOpen(() => pool.dispatch());                         // called after each termination ends
 *
 * Per process, not per pool: a closed pool's threads may still be terminating when the next pool starts.
 */
import type { Worker } from 'node:worker_threads';

class ThreadGate {
  /** Threads created and not yet running JavaScript (their isolate is being made). */
  private readonly starts = new Set<Worker>();
  /** Terminations waiting for those starts. */
  private readonly held: Array<() => void> = [];
  private terminations = 0;
  private readonly openListeners = new Set<() => void>();

  /** Whether a thread may be created now. */
  canStart(): boolean {
    return this.terminations === 0 && this.held.length === 0;
  }

  /**
   * Creates a thread and tracks it until it runs JavaScript (or dies first). Created here, so that
   * its 'online' cannot come before the gate listens for it.
   */
  start(create: () => Worker): Worker {
    const worker = create();
    this.starts.add(worker);
    const started = () => {
      if (!this.starts.delete(worker)) return;
      if (this.starts.size === 0) for (const go of this.held.splice(0)) go();
    };
    worker.once('online', started);
    worker.once('error', started);
    worker.once('exit', started);
    return worker;
  }

  /** Terminates a thread once no thread is starting; resolves when it has exited. */
  terminate(worker: Worker): Promise<void> {
    return new Promise<void>((resolve) => {
      const go = () => {
        this.terminations++;
        // Held until it has exited, even if idle threads do not keep the process alive.
        worker.ref();
        worker.terminate().catch(() => undefined).finally(() => {
          this.terminations--;
          resolve();
          if (this.canStart()) for (const listener of [...this.openListeners]) listener();
        });
      };
      if (this.starts.size === 0) go();
      else this.held.push(go);
    });
  }

  /** Calls `listener` whenever a termination ends and threads may start again; returns its removal. */
  whenOpen(listener: () => void): () => void {
    this.openListeners.add(listener);
    return () => this.openListeners.delete(listener);
  }
}

/** The process's gate for executor threads. */
export const threadGate = new ThreadGate();
