/**
 * Admission control on the coordinator. Without it, 20 jobs submitted at once put all their tasks
 * on the one work queue, the workers interleave them, and every job ends when all do (48.6 s each,
 * against 2.2 s alone), while 20 report builds and their controls run at once on the coordinator.
 *
 * - Jobs: at most `limit` have tasks on the work queue; the others wait, in submission order, as
 *   QUEUED (seen in `lineage jobs` and `lineage_jobs{state="queued"}`, and as waiting in
 *   `lineage_admission{stage="jobs"}`), so that a job takes about its own time times its place in
 *   the queue. A job's slot is freed when its last result is in, so the next job's tasks run while
 *   its report is built.
 * - Planning (headers, tokenizers) and report builds (merge, controls, verdict): at most `limit`
 *   at once each, the rest waiting their turn, which bounds the coordinator's threads and memory.
 */
import { Gauge, type Registry } from 'prom-client';

/** The job admission queue. */
export class JobAdmission {
  private readonly admitted = new Set<string>();
  private readonly waiting: { jobId: string; admit: () => void }[] = [];

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`the number of running jobs must be a positive integer, got ${limit}`);
  }

  /**
   * Takes a slot for the job: null when it has one now, else a promise that resolves when it gets
   * one. `inFlight`: the job already has tasks queued or results in (resumed after a restart), so
   * it goes on whatever the limit.
   */
  enter(jobId: string, inFlight = false): Promise<void> | null {
    if (this.admitted.has(jobId)) return null;
    if (inFlight || this.admitted.size < this.limit) {
      this.admitted.add(jobId);
      return null;
    }
    return new Promise<void>((admit) => this.waiting.push({ jobId, admit }));
  }

  /** The job ended (or was cancelled while waiting): frees its slot and admits the next in line. */
  leave(jobId: string): void {
    this.admitted.delete(jobId);
    const at = this.waiting.findIndex((w) => w.jobId === jobId);
    if (at >= 0) this.waiting.splice(at, 1);
    while (this.admitted.size < this.limit && this.waiting.length > 0) {
      const next = this.waiting.shift()!;
      this.admitted.add(next.jobId);
      next.admit();
    }
  }

  /** Jobs waiting ahead of this one (0 when admitted or unknown). */
  ahead(jobId: string): number {
    const at = this.waiting.findIndex((w) => w.jobId === jobId);
    return at < 0 ? 0 : at;
  }

  get running(): number {
    return this.admitted.size;
  }

  get queued(): number {
    return this.waiting.length;
  }
}

/** At most `limit` holders at once; the others wait in order. */
export class Gate {
  private holders = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`a gate needs a positive integer limit, got ${limit}`);
  }

  /** Resolves with the release function once a place is free. */
  async acquire(): Promise<() => void> {
    if (this.holders < this.limit) this.holders++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      // The place passes straight to the next in line.
      if (next) next();
      else this.holders--;
    };
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire();
    try {
      return await fn();
    } finally {
      release();
    }
  }

  get running(): number {
    return this.holders;
  }

  get queued(): number {
    return this.waiting.length;
  }
}

export interface AdmissionState {
  jobs: JobAdmission;
  planning: Gate;
  reports: Gate;
}

/** `lineage_admission{stage, state}`: jobs, plannings and report builds running and waiting. */
export function registerAdmissionMetrics(registry: Registry, state: AdmissionState): void {
  new Gauge({
    name: 'lineage_admission', help: 'Admission control: jobs with tasks on the queue, plannings and report builds, running and waiting, by stage and state',
    labelNames: ['stage', 'state'], registers: [registry],
    collect() {
      for (const [stage, gate] of Object.entries(state)) {
        this.set({ stage, state: 'running' }, gate.running);
        this.set({ stage, state: 'waiting' }, gate.queued);
      }
    },
  });
}
