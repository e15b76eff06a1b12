/** A job as kept in the KV bucket `lineage-jobs`, its validation when read back, and its gRPC JobStatus. */
import { HASH_ALGORITHMS, type HashAlgorithm } from '../../core/src/hash/index.ts';
import { KERNEL_CHOICES, type KernelChoice } from '../../core/src/kernels/index.ts';
import type { JobStateName } from '../../proto/jetstream.ts';
import { UntrustedDataError } from '../../proto/signed.ts';
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
  /** SHA-256 (hex) of the whole stored report: binds the report to this (MAC'd) record. */
  reportSha256?: string;
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
    // Only a running job has these (jobs.ts ActiveJob.status).
    phase: '', controlsTotal: 0, controlsDone: 0,
  };
}

export function sameRequest(r: JobRecord, modelA: string, modelB: string, options: JobOptions): boolean {
  return r.modelA === modelA && r.modelB === modelB && r.options.hash === options.hash
    && r.options.kernel === options.kernel && r.options.targetTaskBytes === options.targetTaskBytes
    && (r.options.sample ?? null) === (options.sample ?? null) && (r.options.seed ?? 1) === (options.seed ?? 1)
    && (r.options.confidence ?? 0.95) === (options.confidence ?? 0.95);
}

const isCount = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isTime = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const isString = (v: unknown) => typeof v === 'string';

/**
 * A stored record, checked field by field: whatever is in the bucket is untrusted input (on an
 * insecure cluster nothing else vouches for it), and a record the coordinator cannot use must be
 * rejected here, not crash the code that reads it later.
 */
export function parseJobRecord(jobId: string, payload: Uint8Array): JobRecord {
  const what = `job record ${JSON.stringify(jobId)}`;
  let r: Record<string, unknown>;
  try {
    r = JSON.parse(Buffer.from(payload).toString('utf8'));
  } catch (err) {
    throw new UntrustedDataError(what, 'malformed', `not JSON (${(err as Error).message})`);
  }
  const bad = (field: string) => new UntrustedDataError(what, 'malformed', `field ${field} is missing or invalid`);
  if (!r || typeof r !== 'object' || Array.isArray(r)) throw new UntrustedDataError(what, 'malformed', 'not a JSON object');
  if (r.jobId !== jobId) throw new UntrustedDataError(what, 'foreign', `names job ${JSON.stringify(r.jobId)}`);
  for (const f of ['modelA', 'modelB', 'pathA', 'pathB', 'error']) if (!isString(r[f])) throw bad(f);
  if (typeof r.state !== 'string' || !(r.state in STATES)) throw bad('state');
  for (const f of ['tasksTotal', 'bytesTotal', 'tasksDone', 'tasksFailed', 'bytesDone', 'reportChunks']) if (!isCount(r[f])) throw bad(f);
  for (const f of ['createdAtMs', 'updatedAtMs']) if (!isTime(r[f])) throw bad(f);
  if (r.finishedAtMs !== null && !isTime(r.finishedAtMs)) throw bad('finishedAtMs');
  if (r.reportSha256 !== undefined && !(isString(r.reportSha256) && /^[0-9a-f]{64}$/.test(r.reportSha256 as string))) throw bad('reportSha256');
  const o = r.options as Record<string, unknown> | null;
  if (!o || typeof o !== 'object') throw bad('options');
  if (!HASH_ALGORITHMS.includes(o.hash as HashAlgorithm)) throw bad('options.hash');
  if (!KERNEL_CHOICES.includes(o.kernel as KernelChoice)) throw bad('options.kernel');
  if (o.targetTaskBytes !== null && !isCount(o.targetTaskBytes)) throw bad('options.targetTaskBytes');
  if (o.sample !== undefined && o.sample !== null && !(typeof o.sample === 'number' && o.sample > 0 && o.sample < 1)) throw bad('options.sample');
  if (o.seed !== undefined && !isCount(o.seed)) throw bad('options.seed');
  if (o.confidence !== undefined && !(typeof o.confidence === 'number' && o.confidence >= 0.5 && o.confidence < 1)) throw bad('options.confidence');
  return r as unknown as JobRecord;
}
