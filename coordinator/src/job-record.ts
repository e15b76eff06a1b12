/** A job as kept in the KV bucket `lineage-jobs`, and its gRPC JobStatus. */
import type { HashAlgorithm } from '../../core/src/hash/content-hash.ts';
import type { KernelChoice } from '../../core/src/kernels/select.ts';
import type { JobStateName } from '../../proto/jetstream.ts';
import { JobState, type JobStatus } from '../../proto/lineage/v1/lineage.ts';

export interface JobOptions {
  hash: HashAlgorithm;
  kernel: KernelChoice;
  /** null: the planner's default. */
  targetTaskBytes: number | null;
  /** Sampled mode (null: exact), the seed of the block draw and the intervals' confidence. */
  sample?: number | null;
  seed?: number;
  confidence?: number;
}

export interface JobRecord {
  jobId: string;
  /** As submitted. */
  modelA: string;
  modelB: string;
  /** Resolved real paths: what is planned, and what workers read. */
  pathA: string;
  pathB: string;
  options: JobOptions;
  state: JobStateName;
  /** Why the job failed, when it did. */
  error: string;
  tasksTotal: number;
  bytesTotal: number;
  /** Progress as of the last write (live figures come from the results). */
  tasksDone: number;
  tasksFailed: number;
  bytesDone: number;
  createdAtMs: number;
  updatedAtMs: number;
  finishedAtMs: number | null;
  /** Chunks of the stored report (0 until it is stored). */
  reportChunks: number;
}

const STATES: Record<JobStateName, JobState> = {
  QUEUED: JobState.JOB_STATE_QUEUED,
  RUNNING: JobState.JOB_STATE_RUNNING,
  DONE: JobState.JOB_STATE_DONE,
  FAILED: JobState.JOB_STATE_FAILED,
  CANCELLED: JobState.JOB_STATE_CANCELLED,
};

export function toJobStatus(r: JobRecord): JobStatus {
  return {
    jobId: r.jobId, state: STATES[r.state], modelA: r.modelA, modelB: r.modelB,
    tasksTotal: r.tasksTotal, tasksDone: r.tasksDone, tasksFailed: r.tasksFailed,
    bytesTotal: r.bytesTotal, bytesDone: r.bytesDone, error: r.error,
    createdAtMs: r.createdAtMs, updatedAtMs: r.updatedAtMs,
  };
}

export function sameRequest(r: JobRecord, modelA: string, modelB: string, options: JobOptions): boolean {
  return r.modelA === modelA && r.modelB === modelB && r.options.hash === options.hash
    && r.options.kernel === options.kernel && r.options.targetTaskBytes === options.targetTaskBytes
    && (r.options.sample ?? null) === (options.sample ?? null) && (r.options.seed ?? 1) === (options.seed ?? 1)
    && (r.options.confidence ?? 0.95) === (options.confidence ?? 0.95);
}
