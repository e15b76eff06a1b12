/**
 * How the command line shows a cluster job while it runs: a redrawn bar on a terminal (tasks,
 * bytes, rate, ETA), one line per change of state elsewhere (logs stay short), and one
 * closing line with the final state.
 */
import type { WriteStream } from 'node:tty';
import { LineageError } from '../../../core/src/errors.ts';
import type { LineageClient } from '../sdk/client.ts';
import { UnavailableError } from '../sdk/errors.ts';
import { isTerminal, type JobInfo } from '../sdk/job.ts';

const gb = (bytes: number) => `${(bytes / 1e9).toFixed(2)}`;

function duration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  const m = Math.floor(seconds / 60);
  return m < 60 ? `${m} min ${Math.round(seconds % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** The bar line for a running job; `rate` in bytes/s, null while unknown. */
export function formatProgressLine(job: JobInfo, rate: number | null): string {
  const width = 30;
  const fraction = job.bytesTotal > 0 ? job.bytesDone / job.bytesTotal : job.tasksTotal > 0 ? job.tasksDone / job.tasksTotal : 0;
  const filled = Math.min(width, Math.round(width * fraction));
  const eta = rate && rate > 0 ? duration(Math.max(0, job.bytesTotal - job.bytesDone) / rate) : '—';
  const failed = job.tasksFailed ? `  ${job.tasksFailed} failed` : '';
  const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${job.tasksDone}/${job.tasksTotal} tasks  ${gb(job.bytesDone)}/${gb(job.bytesTotal)} GB`;
  // The weights pass is in; the workers run the controls, then the coordinator builds the report.
  if (job.phase === 'controls') return `${bar}  controls ${job.controlsDone}/${job.controlsTotal} tasks${failed}`;
  if (job.tasksTotal > 0 && job.tasksDone + job.tasksFailed >= job.tasksTotal && !isTerminal(job.state)) return `${bar}  building the report${failed}`;
  return `${bar}  ${rate === null ? '—' : `${(rate / 1e9).toFixed(2)} GB/s`}  ETA ${eta}${failed}`;
}

/** The closing line: the final state and what the job did. */
export function formatFinalLine(job: JobInfo): string {
  const tasks = `${job.tasksDone}/${job.tasksTotal} task(s)${job.tasksFailed ? `, ${job.tasksFailed} failed` : ''}`;
  const took = job.createdAt && job.updatedAt ? ` in ${duration((job.updatedAt.getTime() - job.createdAt.getTime()) / 1000)}` : '';
  const error = job.error ? `: ${job.error}` : '';
  return `job ${job.jobId}: ${job.state}${error} (${tasks}, ${gb(job.bytesDone)}/${gb(job.bytesTotal)} GB${took})`;
}

export class JobProgress {
  private readonly tty: boolean;
  private lastState: string | null = null;
  private lastDraw = 0;
  private drawn = false;
  private firstSample: { at: number; bytes: number } | null = null;

  constructor(private readonly out: NodeJS.WritableStream | WriteStream, private readonly now: () => number = Date.now) {
    this.tty = Boolean((out as WriteStream).isTTY);
  }

  /** Shows one status (statuses arrive as the coordinator sends them). */
  update(job: JobInfo): void {
    const now = this.now();
    if (job.state === 'running' && this.firstSample === null) this.firstSample = { at: now, bytes: job.bytesDone };
    const stateChanged = job.state !== this.lastState;
    this.lastState = job.state;
    if (!this.tty) {
      if (stateChanged) this.out.write(`job ${job.jobId}: ${job.state} (${job.tasksTotal} task(s), ${gb(job.bytesTotal)} GB)\n`);
      return;
    }
    if (!stateChanged && now - this.lastDraw < 200) return;
    this.lastDraw = now;
    this.drawn = true;
    this.out.write(`\r${formatProgressLine(job, this.rate(job, now))} `);
  }

  /** Ends the bar's line, so what follows starts on a fresh one. */
  finish(): void {
    if (this.tty && this.drawn) this.out.write('\n');
    this.drawn = false;
  }

  private rate(job: JobInfo, now: number): number | null {
    if (!this.firstSample) return null;
    const seconds = (now - this.firstSample.at) / 1000;
    const bytes = job.bytesDone - this.firstSample.bytes;
    return seconds > 0.5 && bytes > 0 ? bytes / seconds : null;
  }
}

/**
 * Follows a job to its end, showing progress on `progressOut` (none when null), and returns
 * its final status.
 */
export async function followJob(client: LineageClient, jobId: string, progressOut: NodeJS.WritableStream | null): Promise<JobInfo> {
  const progress = progressOut ? new JobProgress(progressOut) : null;
  let last: JobInfo | null = null;
  try {
    for await (const status of client.watch(jobId)) {
      last = status;
      progress?.update(status);
    }
  } catch (err) {
    // The coordinator went away for longer than the watch retries: the job itself goes on.
    if (err instanceof UnavailableError) {
      throw new LineageError('INTERNAL', `lost the coordinator while following job ${jobId} (${err.message}); the job goes on on the cluster: \`lineage watch ${jobId}\` follows it again, \`lineage report ${jobId}\` fetches its report once it is done`, { retryable: true, cause: err });
    }
    throw err;
  } finally {
    progress?.finish();
  }
  if (!last) throw new LineageError('INTERNAL', `the progress stream of job ${jobId} ended without a status`);
  return last;
}
