/**
 * The SDK's wire behaviour against a scripted Jobs server on real gRPC (loopback): the token in
 * the metadata, retries on UNAVAILABLE that repeat the same job id, a progress stream reopened
 * after the coordinator drops it, reports larger than gRPC's default 4 MB message limit (streamed in
 * pieces, a piece cut inside a character, a stream cut and read again; in one GetReport answer from
 * a coordinator that predates ReadReport). The
 * failures these need (a coordinator that is down for two calls, a stream cut mid-job) cannot be
 * produced on cue with the real coordinator; the real one is tested in sdk-cluster.test.ts.
 */
import test from 'ava';
import { Metadata, Server, ServerCredentials, status, type ServerWritableStream, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { connect, type LineageClient } from '../client/src/sdk/client.ts';
import { JobNotFoundError, UnauthenticatedError, UnavailableError } from '../client/src/sdk/errors.ts';
import {
  JobsService, JobState, type JobsServer, type JobStatus, type SubmitRequest, type SubmitResponse, type WatchRequest,
  type GetReportRequest, type GetReportResponse, type ReportPiece,
} from '../proto/lineage/v1/lineage.ts';

const TOKEN = 'wire-test-token';
const submitted: SubmitRequest[] = [];
let unavailableSubmits = 0;
const watchOpens = new Map<string, number>();

const jobStatus = (jobId: string, state: JobState, tasksDone: number): JobStatus => ({
  jobId, state, modelA: '/m/a', modelB: '/m/b', tasksTotal: 4, tasksDone, tasksFailed: 0,
  bytesTotal: 4000, bytesDone: tasksDone * 1000, error: '', createdAtMs: 1, updatedAtMs: 2, phase: '', controlsTotal: 0, controlsDone: 0,
});

function authorized(metadata: Metadata): boolean {
  return metadata.get('authorization')[0] === `Bearer ${TOKEN}`;
}

// A report well over 4 MB, as a job of ~20k tensors gives.
const bigReport = { schemaVersion: 1, weights: { tensors: Array.from({ length: 80_000 }, (_, i) => ({ name: `model.layers.${i}.mlp.experts.0.down_proj.weight é`, cosine: i / 80_000 })) } };
const bigBytes = Buffer.from(JSON.stringify(bigReport));
const calls = { getReport: 0, readReport: new Map<string, number>() };

const handlers: JobsServer = {
  submit(call: ServerUnaryCall<SubmitRequest, SubmitResponse>, callback: sendUnaryData<SubmitResponse>) {
    if (!authorized(call.metadata)) return callback({ code: status.UNAUTHENTICATED, details: 'missing or wrong token' });
    submitted.push(call.request);
    if (call.request.modelA === 'flaky' && unavailableSubmits < 2) {
      unavailableSubmits++;
      return callback({ code: status.UNAVAILABLE, details: 'coordinator restarting' });
    }
    const seen = submitted.filter((r) => r.jobId === call.request.jobId).length;
    callback(null, { job: jobStatus(call.request.jobId, JobState.JOB_STATE_QUEUED, 0), created: seen === 1 });
  },
  watch(call: ServerWritableStream<WatchRequest, JobStatus>) {
    const id = call.request.jobId;
    const opens = (watchOpens.get(id) ?? 0) + 1;
    watchOpens.set(id, opens);
    if (id === 'nope') return void call.emit('error', { code: status.NOT_FOUND, details: 'no such job' });
    if (id === 'dropped' && opens === 1) {
      call.write(jobStatus(id, JobState.JOB_STATE_RUNNING, 1));
      // The coordinator goes away mid-stream.
      setTimeout(() => call.emit('error', { code: status.UNAVAILABLE, details: 'going away' }), 20);
      return;
    }
    call.write(jobStatus(id, JobState.JOB_STATE_RUNNING, 2));
    call.write(jobStatus(id, JobState.JOB_STATE_RUNNING, 3));
    call.write(jobStatus(id, JobState.JOB_STATE_DONE, 4));
    call.end();
  },
  getReport(call: ServerUnaryCall<GetReportRequest, GetReportResponse>, callback: sendUnaryData<GetReportResponse>) {
    calls.getReport++;
    if (call.request.jobId !== 'legacy') return callback({ code: status.NOT_FOUND, details: `no job ${call.request.jobId}` });
    callback(null, { reportJson: bigBytes });
  },
  readReport(call: ServerWritableStream<GetReportRequest, ReportPiece>) {
    const id = call.request.jobId;
    const opens = (calls.readReport.get(id) ?? 0) + 1;
    calls.readReport.set(id, opens);
    // A coordinator from before ReadReport: grpc-js answers a method it lacks with UNIMPLEMENTED.
    if (id === 'legacy') return void call.emit('error', { code: status.UNIMPLEMENTED, details: 'no such method' });
    if (id !== 'big' && id !== 'cut') return void call.emit('error', { code: status.NOT_FOUND, details: `no job ${id}` });
    // The first piece ends inside the first 'é' (two bytes in UTF-8); the rest go in 1 MiB pieces.
    const split = bigBytes.indexOf(Buffer.from('é')) + 1;
    call.write({ data: bigBytes.subarray(0, split) });
    if (id === 'cut' && opens === 1) return void setTimeout(() => call.emit('error', { code: status.UNAVAILABLE, details: 'going away' }), 20);
    for (let at = split; at < bigBytes.length; at += 1024 * 1024) call.write({ data: bigBytes.subarray(at, at + 1024 * 1024) });
    call.end();
  },
  cancel(_call, callback) { callback({ code: status.UNIMPLEMENTED, details: 'not in this test' }); },
  delete(_call, callback) { callback({ code: status.UNIMPLEMENTED, details: 'not in this test' }); },
  listJobs(_call, callback) { callback(null, { jobs: [jobStatus('a', JobState.JOB_STATE_DONE, 4), jobStatus('b', JobState.JOB_STATE_QUEUED, 0)] }); },
};

let server: Server;
let address: string;
let client: LineageClient;

test.before(async () => {
  server = new Server();
  server.addService(JobsService, handlers);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  address = `127.0.0.1:${port}`;
  client = await connect({ address, token: TOKEN, retry: { initialDelayMs: 10, maxDelayMs: 50 }, watchRetry: { initialDelayMs: 10, maxDelayMs: 50 } });
});

test.after.always(async () => {
  await client?.close();
  await new Promise<void>((resolve) => (server ? server.tryShutdown(() => resolve()) : resolve()));
});

test.serial('the token travels as "authorization: Bearer"; a missing one is UnauthenticatedError', async (t) => {
  const { job, created } = await client.submit({ modelA: '/m/a', modelB: '/m/b', jobId: 'tok' });
  t.is(job.jobId, 'tok');
  t.true(created);
  const anonymous = await connect({ address, token: '' });
  try {
    const err = await t.throwsAsync(anonymous.submit({ modelA: '/m/a', modelB: '/m/b' }));
    t.true(err instanceof UnauthenticatedError);
    t.regex(err!.message, /refused the token: missing or wrong token/);
  } finally {
    await anonymous.close();
  }
});

test.serial('Submit retried on UNAVAILABLE carries the same generated job id each time', async (t) => {
  const before = submitted.length;
  const { job } = await client.submit({ modelA: 'flaky', modelB: '/m/b' });
  const attempts = submitted.slice(before);
  t.is(attempts.length, 3);
  t.regex(job.jobId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  t.true(attempts.every((r) => r.jobId === job.jobId));
  t.is(attempts[0]!.options?.hash, '');
});

test.serial('watch yields typed statuses and ends at the terminal one', async (t) => {
  const states: string[] = [];
  for await (const s of client.watch('plain')) states.push(`${s.state}:${s.tasksDone}`);
  t.deepEqual(states, ['running:2', 'running:3', 'done:4']);
});

test.serial('watch reopens a stream the coordinator dropped, and carries on to the end', async (t) => {
  const seen: number[] = [];
  for await (const s of client.watch('dropped')) seen.push(s.tasksDone);
  t.deepEqual(seen, [1, 2, 3, 4]);
  t.is(watchOpens.get('dropped'), 2);
});

test.serial('watch of an unknown job throws JobNotFoundError', async (t) => {
  const err = await t.throwsAsync(async () => { for await (const _ of client.watch('nope')) { /* none */ } });
  t.true(err instanceof JobNotFoundError);
  t.is((err as JobNotFoundError).jobId, 'nope');
});

test.serial('a report larger than 4 MB arrives whole and parsed: streamed in pieces, read again after a cut, or in one answer', async (t) => {
  t.true(bigBytes.length > 4 * 1024 * 1024);
  t.deepEqual(await client.report('big'), bigReport, 'pieces, one of them ending inside a character');
  t.is(calls.getReport, 0, 'streamed, not one message');
  t.deepEqual(await client.report('cut'), bigReport, 'the stream cut after a piece is read again from the start');
  t.is(calls.readReport.get('cut'), 2);
  t.deepEqual(await client.report('legacy'), bigReport, 'from a coordinator without ReadReport: GetReport');
  t.is(calls.getReport, 1);
  const err = await t.throwsAsync(client.report('missing'));
  t.true(err instanceof JobNotFoundError);
  t.is(calls.getReport, 1, 'a missing job is not asked again by GetReport');
});

test.serial('list gives every job as typed statuses', async (t) => {
  const jobs = await client.list();
  t.deepEqual(jobs.map((j) => [j.jobId, j.state]), [['a', 'done'], ['b', 'queued']]);
});

test('connect to a port nobody listens on fails fast with UnavailableError', async (t) => {
  const probe = new Server();
  const port = await new Promise<number>((resolve, reject) =>
    probe.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  await new Promise<void>((resolve) => probe.tryShutdown(() => resolve()));
  const started = Date.now();
  const err = await t.throwsAsync(connect({ address: `127.0.0.1:${port}`, connectTimeoutMs: 500 }));
  t.true(err instanceof UnavailableError);
  t.true((err as UnavailableError).retryable);
  t.regex(err!.message, new RegExp(`coordinator 127\\.0\\.0\\.1:${port} is unreachable: no connection within 0\\.5 s`));
  t.true(Date.now() - started < 3000);
});
