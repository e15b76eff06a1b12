/** A job's status as the SDK hands it out: plain names instead of wire enums, null for "not set". */
import { JobState, type JobStatus } from '../../../proto/lineage/v1/lineage.ts';

export type JobStateName = 'queued' | 'running' | 'done' | 'failed' | 'cancelled' | 'unknown';

export interface JobInfo {
  jobId: string;
  state: JobStateName;
  modelA: string;
  modelB: string;
  tasksTotal: number;
  tasksDone: number;
  tasksFailed: number;
  bytesTotal: number;
  bytesDone: number;
  /** Why the job failed; null when it did not. */
  error: string | null;
  createdAt: Date | null;
  updatedAt: Date | null;
  /** While it runs: the weights pass, the controls (a second phase of tasks), or building the report; null otherwise. */
  phase: 'weights' | 'controls' | 'report' | null;
  /** The controls phase's tasks so far (the total grows when its second stage is planned). */
  controlsTotal: number;
  controlsDone: number;
}

const PHASES = ['weights', 'controls', 'report'] as const;

const STATE_NAMES: Record<JobState, JobStateName> = {
  [JobState.JOB_STATE_UNSPECIFIED]: 'unknown',
  [JobState.JOB_STATE_QUEUED]: 'queued',
  [JobState.JOB_STATE_RUNNING]: 'running',
  [JobState.JOB_STATE_DONE]: 'done',
  [JobState.JOB_STATE_FAILED]: 'failed',
  [JobState.JOB_STATE_CANCELLED]: 'cancelled',
  [JobState.UNRECOGNIZED]: 'unknown',
};

export function stateName(state: JobState): JobStateName {
  return STATE_NAMES[state] ?? 'unknown';
}

/** Done, failed and cancelled jobs change no more. */
export function isTerminal(state: JobStateName): boolean {
  return state === 'done' || state === 'failed' || state === 'cancelled';
}

export function jobInfo(status: JobStatus): JobInfo {
  return {
    jobId: status.jobId,
    state: stateName(status.state),
    modelA: status.modelA,
    modelB: status.modelB,
    tasksTotal: status.tasksTotal,
    tasksDone: status.tasksDone,
    tasksFailed: status.tasksFailed,
    bytesTotal: status.bytesTotal,
    bytesDone: status.bytesDone,
    error: status.error ? status.error : null,
    createdAt: status.createdAtMs ? new Date(status.createdAtMs) : null,
    updatedAt: status.updatedAtMs ? new Date(status.updatedAtMs) : null,
    phase: (PHASES as readonly string[]).includes(status.phase) ? status.phase as JobInfo['phase'] : null,
    controlsTotal: status.controlsTotal,
    controlsDone: status.controlsDone,
  };
}
