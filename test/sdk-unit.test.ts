/** The SDK's pure parts: error mapping from gRPC status codes, backoff, job statuses, progress lines. */
import test from 'ava';
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { PassThrough } from 'node:stream';
import { isBadInput, LineageError } from '../core/src/errors.ts';
import { JobState } from '../proto/lineage/v1/lineage.ts';
import {
  CoordinatorError, DeadlineExceededError, FailedPreconditionError, fromGrpcError, InvalidArgumentError,
  JobNotFoundError, PermissionDeniedError, TamperedDataError, UnauthenticatedError, UnavailableError,
} from '../client/src/sdk/errors.ts';
import { isTerminal, jobInfo, type JobInfo } from '../client/src/sdk/job.ts';
import { backoffDelay, withRetry } from '../client/src/sdk/retry.ts';
import { formatFinalLine, formatProgressLine, JobProgress } from '../client/src/cluster/job-progress.ts';
import { formatJobTable } from '../client/src/commands/jobs.ts';

function serviceError(code: status, details: string): ServiceError {
  return Object.assign(new Error(`${code} ${status[code]}: ${details}`), { code, details, metadata: new Metadata() });
}

const at = { address: '127.0.0.1:7070' };

test('gRPC status codes map to flat typed errors, all LineageErrors', (t) => {
  const notFound = fromGrpcError(serviceError(status.NOT_FOUND, 'no job abc'), { ...at, jobId: 'abc' });
  t.true(notFound instanceof JobNotFoundError);
  t.is((notFound as JobNotFoundError).jobId, 'abc');
  t.is(notFound.code, 'NOT_FOUND');

  const unauth = fromGrpcError(serviceError(status.UNAUTHENTICATED, 'bad token'), at);
  t.true(unauth instanceof UnauthenticatedError);
  t.regex(unauth.message, /127\.0\.0\.1:7070 refused the token: bad token/);

  t.true(fromGrpcError(serviceError(status.PERMISSION_DENIED, 'x'), at) instanceof PermissionDeniedError);
  t.true(fromGrpcError(serviceError(status.DEADLINE_EXCEEDED, 'x'), at) instanceof DeadlineExceededError);
  t.true(fromGrpcError(serviceError(status.FAILED_PRECONDITION, 'job not done'), at) instanceof FailedPreconditionError);

  const unavailable = fromGrpcError(serviceError(status.UNAVAILABLE, 'connection refused'), { ...at, attempts: 5 });
  t.true(unavailable instanceof UnavailableError);
  t.true(unavailable.retryable);
  t.regex(unavailable.message, /coordinator 127\.0\.0\.1:7070 is unreachable after 5 attempts: connection refused/);

  const internal = fromGrpcError(serviceError(status.INTERNAL, 'boom'), at);
  t.true(internal instanceof CoordinatorError);
  t.is((internal as CoordinatorError).grpcStatus, 'INTERNAL');
  const tampered = fromGrpcError(serviceError(status.DATA_LOSS, 'refused: report of job j, chunk 0 of 1: its MAC does not verify'), { ...at, jobId: 'j' });
  t.true(tampered instanceof TamperedDataError);
  t.false(tampered.retryable);
  t.is(tampered.message, 'the coordinator refused stored data that does not verify: report of job j, chunk 0 of 1: its MAC does not verify');
  for (const err of [notFound, unauth, unavailable, internal, tampered]) t.true(err instanceof LineageError);
});

test('INVALID_ARGUMENT is bad input naming the file the coordinator named', (t) => {
  const err = fromGrpcError(serviceError(status.INVALID_ARGUMENT, '/srv/other/model: outside the model roots (/models)'), { ...at, jobId: 'j', subject: 'job j' });
  t.true(err instanceof InvalidArgumentError);
  t.true(isBadInput(err));
  t.is((err as InvalidArgumentError).file, '/srv/other/model');
  t.is((err as InvalidArgumentError).reason, 'outside the model roots (/models)');
  t.is(err.message, '/srv/other/model: outside the model roots (/models)');

  const unnamed = fromGrpcError(serviceError(status.INVALID_ARGUMENT, 'job id is empty'), { ...at, jobId: '', subject: 'job request' });
  t.is((unnamed as InvalidArgumentError).file, 'job request');
  // On a submission NOT_FOUND is about a model path, not the job: still bad input.
  const missing = fromGrpcError(serviceError(status.NOT_FOUND, '/models/nope: no such folder'), { ...at, jobId: 'j', subject: 'job j' });
  t.true(missing instanceof InvalidArgumentError);
  t.is((missing as InvalidArgumentError).grpcStatus, 'NOT_FOUND');
});

test('backoff doubles up to its cap, with bounded jitter', (t) => {
  const policy = { attempts: 6, initialDelayMs: 100, maxDelayMs: 1000 };
  t.is(backoffDelay(policy, 1, () => 0.5), 100);
  t.is(backoffDelay(policy, 3, () => 0.5), 400);
  t.is(backoffDelay(policy, 6, () => 0.5), 1000);
  t.is(backoffDelay(policy, 2, () => 0), 150);
  t.is(backoffDelay(policy, 2, () => 1), 250);
});

test('withRetry stops at the attempt limit and on errors it must not retry', async (t) => {
  const policy = { attempts: 3, initialDelayMs: 1, maxDelayMs: 2 };
  let calls = 0;
  const err = await t.throwsAsync(withRetry(policy, async () => { calls++; throw new Error('down'); }, () => true, (e, n) => new Error(`${(e as Error).message} x${n}`)));
  t.is(err?.message, 'down x3');
  t.is(calls, 3);
  calls = 0;
  await t.throwsAsync(withRetry(policy, async () => { calls++; throw new Error('bad'); }, () => false));
  t.is(calls, 1);
  calls = 0;
  t.is(await withRetry(policy, async (attempt) => { calls++; if (attempt < 3) throw new Error('x'); return 'ok'; }, () => true), 'ok');
  t.is(calls, 3);
});

const status0 = {
  jobId: 'j1', state: JobState.JOB_STATE_RUNNING, modelA: '/m/a', modelB: '/m/b', tasksTotal: 8, tasksDone: 2, tasksFailed: 0,
  bytesTotal: 4e9, bytesDone: 1e9, error: '', createdAtMs: 1_700_000_000_000, updatedAtMs: 1_700_000_012_500,
  phase: 'weights', controlsTotal: 0, controlsDone: 0,
};

test('job statuses become plain typed values; terminal states are done, failed, cancelled', (t) => {
  const info = jobInfo(status0);
  t.is(info.state, 'running');
  t.is(info.error, null);
  t.deepEqual(info.createdAt, new Date(1_700_000_000_000));
  t.is(jobInfo({ ...status0, createdAtMs: 0 }).createdAt, null);
  t.is(jobInfo({ ...status0, state: JobState.UNRECOGNIZED }).state, 'unknown');
  t.deepEqual(['queued', 'running', 'done', 'failed', 'cancelled'].map((s) => isTerminal(s as JobInfo['state'])), [false, false, true, true, true]);
});

test('progress and final lines show tasks, bytes, rate, ETA and the outcome', (t) => {
  const info = jobInfo(status0);
  t.is(formatProgressLine(info, 0.5e9), `[${'#'.repeat(8)}${'.'.repeat(22)}] 2/8 tasks  1.00/4.00 GB  0.50 GB/s  ETA 6.0 s`);
  t.regex(formatProgressLine(info, null), /ETA —$/);
  // The weights pass is in and the workers run the controls: the bar says so.
  const controls = jobInfo({ ...status0, tasksDone: 8, bytesDone: 4e9, phase: 'controls', controlsTotal: 12, controlsDone: 5 });
  t.is(controls.phase, 'controls');
  t.regex(formatProgressLine(controls, 0.5e9), /8\/8 tasks {2}4\.00\/4\.00 GB {2}controls 5\/12 tasks$/);
  t.is(jobInfo({ ...status0, phase: 'reboot' }).phase, null);
  const failed = jobInfo({ ...status0, state: JobState.JOB_STATE_FAILED, tasksDone: 7, tasksFailed: 1, error: 'worker lost' });
  t.is(formatFinalLine(failed), 'job j1: failed: worker lost (7/8 task(s), 1 failed, 1.00/4.00 GB in 13 s)');
});

test('off a terminal, progress is one line per change of state', (t) => {
  const out = new PassThrough();
  let text = '';
  out.on('data', (chunk) => { text += chunk; });
  const progress = new JobProgress(out);
  progress.update(jobInfo({ ...status0, state: JobState.JOB_STATE_QUEUED }));
  progress.update(jobInfo(status0));
  progress.update(jobInfo({ ...status0, tasksDone: 3 }));
  progress.update(jobInfo({ ...status0, state: JobState.JOB_STATE_DONE, tasksDone: 8, bytesDone: 4e9 }));
  progress.finish();
  t.deepEqual(text.trim().split('\n'), ['job j1: queued (8 task(s), 4.00 GB)', 'job j1: running (8 task(s), 4.00 GB)', 'job j1: done (8 task(s), 4.00 GB)']);
});

test('on a terminal, the bar is redrawn with a measured rate', (t) => {
  let text = '';
  const out = Object.assign(new PassThrough(), { isTTY: true });
  out.on('data', (chunk) => { text += chunk; });
  let now = 0;
  const progress = new JobProgress(out, () => now);
  progress.update(jobInfo({ ...status0, bytesDone: 0, tasksDone: 0 }));
  now = 2000;
  progress.update(jobInfo(status0));
  progress.finish();
  t.regex(text, /\r\[#{8}\.{22}\] 2\/8 tasks {2}1\.00\/4\.00 GB {2}0\.50 GB\/s {2}ETA 6\.0 s \n$/);
});

test('the job table lists every job with its state and models', (t) => {
  const table = formatJobTable([jobInfo(status0), jobInfo({ ...status0, jobId: 'j2', state: JobState.JOB_STATE_DONE, tasksDone: 8 })]);
  const lines = table.split('\n');
  t.is(lines.length, 3);
  t.regex(lines[0]!, /^JOB\s+STATE\s+TASKS\s+SIZE\s+SUBMITTED\s+MODELS$/);
  t.regex(lines[1]!, /^j1\s+running\s+2\/8\s+4\.00 GB\s+2023-11-14T22:13:20Z\s+\/m\/a {2}\/m\/b$/);
  t.regex(lines[2]!, /^j2\s+done\s+8\/8/);
  t.is(formatJobTable([]), 'no jobs');
});
