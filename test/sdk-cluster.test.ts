/**
 * The SDK against a real cluster: nats-server with JetStream, the coordinator on gRPC loopback
 * and a worker, all started here and stopped at the end. Submit, watch, report, list, cancel,
 * idempotent submission, and the typed errors a user meets.
 */
import test from 'ava';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { compareModels } from '../core/src/compare/model-report.ts';
import { isBadInput } from '../core/src/errors.ts';
import { synthesize } from '../core/src/synth/synth.ts';
import { startCoordinator } from '../coordinator/src/index.ts';
import { startWorker } from '../worker/src/index.ts';
import {
  connect, FailedPreconditionError, InvalidArgumentError, JobConflictError, JobNotFoundError, PermissionDeniedError,
  UnauthenticatedError, UnavailableError, type JobInfo, type LineageClient,
} from '../client/src/sdk/index.ts';
import { startNatsServer, type NatsServer } from './helpers/nats-server.ts';
import { NATS_MISSING, OPENSSL_MISSING, unless } from './helpers/skip.ts';
import { tempDir } from './helpers/tmpdir.ts';
import { COORDINATOR, WORKER } from './helpers/cluster.ts';

const TOKEN = 'sdk-cluster-test-token';
const root = tempDir();
const models = join(root, 'models');
const base = join(models, 'base');
const derived = join(models, 'derived');
const outside = join(tempDir(), 'elsewhere');

const stops: Array<() => Promise<void>> = [];
/** A test whose job stalls fails after this long, not at ava's 5 min limit. */
const STALL_MS = 30_000;
let client: LineageClient;
let address: string;
/** A second cluster with no worker: its jobs stay queued until cancelled. */
let idleAddress: string;
let restartIdle: () => Promise<void>;

if (NATS_MISSING) test.skip(`SDK against a real cluster (skipped: ${NATS_MISSING})`, () => {});
else {
  test.before(async () => {
    mkdirSync(models);
    const shape = { layout: 'moe' as const, layers: 2, experts: 4 };
    synthesize('base', { out: base, shape });
    synthesize('derivative', { out: derived, like: base, drift: 0.02 });
    synthesize('base', { out: outside, shape: { layers: 1 } });

    const nats = await startNatsServer();
    stops.push(() => nats.stop());
    const coordinator = await startCoordinator({ ...COORDINATOR, nats: nats.url, listen: '127.0.0.1:0', token: TOKEN, modelRoots: [models] });
    stops.unshift(() => coordinator.close());
    const worker = await startWorker({ ...WORKER, nats: nats.url, threads: 2 });
    stops.unshift(() => worker.stop());
    address = coordinator.address;

    const idleNats: NatsServer = await startNatsServer();
    stops.push(() => idleNats.stop());
    let idle = await startCoordinator({ ...COORDINATOR, nats: idleNats.url, listen: '127.0.0.1:0', token: TOKEN, modelRoots: [models] });
    stops.unshift(() => idle.close());
    idleAddress = idle.address;
    restartIdle = async () => {
      await idle.close();
      idle = await startCoordinator({ ...COORDINATOR, nats: idleNats.url, listen: idleAddress, token: TOKEN, modelRoots: [models] });
    };

    client = await connect({ address, token: TOKEN });
    stops.unshift(() => client.close());
  });

  test.after.always(async () => {
    for (const stop of stops) await stop().catch(() => {});
  });

  test('submit, watch to the end, and the report equals local mode', async (t) => {
    t.timeout(STALL_MS);
    const { job, created } = await client.submit({ modelA: base, modelB: derived });
    t.true(created);
    t.regex(job.jobId, /^[0-9a-f-]{36}$/);
    const seen: JobInfo[] = [];
    for await (const status of client.watch(job.jobId)) seen.push(status);
    const last = seen.at(-1)!;
    t.is(last.state, 'done');
    t.true(last.tasksTotal > 0);
    t.is(last.tasksDone, last.tasksTotal);
    t.is(last.bytesDone, last.bytesTotal);
    for (let i = 1; i < seen.length; i++) t.true(seen[i]!.tasksDone >= seen[i - 1]!.tasksDone, 'progress never goes back');

    t.is((await client.status(job.jobId)).state, 'done');
    const report = await client.report(job.jobId);
    const local = await compareModels(base, derived, { threads: 1 });
    t.is(report.schemaVersion, local.schemaVersion);
    t.deepEqual(report.weights, local.weights);
    t.deepEqual(report.architecture, local.architecture);

    const listed = await client.list();
    t.is(listed.filter((j) => j.jobId === job.jobId).length, 1);
    t.is(listed.find((j) => j.jobId === job.jobId)!.state, 'done');
  });

  test('submitting again with the same job id returns the same job, not a second one', async (t) => {
    t.timeout(STALL_MS);
    const jobId = `idem-${Date.now()}`;
    const first = await client.submit({ modelA: base, modelB: base, jobId });
    const again = await client.submit({ modelA: base, modelB: base, jobId });
    t.true(first.created);
    t.false(again.created);
    t.is(again.job.jobId, jobId);
    t.is((await client.list()).filter((j) => j.jobId === jobId).length, 1);
    const report = await client.result(jobId);
    t.is(report.weights.summary.identical, report.weights.tensors.length);

    const conflict = await t.throwsAsync(client.submit({ modelA: base, modelB: derived, jobId }));
    t.true(conflict instanceof JobConflictError);
  });

  test('an unknown job id is JobNotFoundError on watch, report and cancel', async (t) => {
    t.timeout(STALL_MS);
    for (const call of [
      () => client.report('no-such-job'),
      () => client.cancel('no-such-job'),
      async () => { for await (const _ of client.watch('no-such-job')) { /* none */ } },
    ]) {
      const err = await t.throwsAsync(call());
      t.true(err instanceof JobNotFoundError, err?.constructor.name);
      t.is((err as JobNotFoundError).jobId, 'no-such-job');
    }
  });

  test('a wrong or missing token is UnauthenticatedError', async (t) => {
    t.timeout(STALL_MS);
    for (const token of ['not-the-token', '']) {
      const intruder = await connect({ address, token });
      try {
        const err = await t.throwsAsync(intruder.list());
        t.true(err instanceof UnauthenticatedError);
        t.false(err instanceof JobNotFoundError);
      } finally {
        await intruder.close();
      }
    }
  });

  test('a path outside the model roots is refused, naming the path and the roots', async (t) => {
    t.timeout(STALL_MS);
    const err = await t.throwsAsync(client.submit({ modelA: base, modelB: outside }));
    t.true(err instanceof PermissionDeniedError);
    t.true(err!.message.includes(outside), err!.message);
    t.true(err!.message.includes(models), err!.message);
  });

  test('a missing model folder is bad input naming the folder', async (t) => {
    t.timeout(STALL_MS);
    const missing = join(models, 'nope');
    const err = await t.throwsAsync(client.submit({ modelA: base, modelB: missing }));
    t.true(err instanceof InvalidArgumentError, err?.constructor.name);
    t.true(isBadInput(err));
    t.is((err as InvalidArgumentError).file, missing);
    t.regex(err!.message, /no such folder/);
  });

  test('a malformed job id and option are bad input', async (t) => {
    t.timeout(STALL_MS);
    const badId = await t.throwsAsync(client.submit({ modelA: base, modelB: base, jobId: 'has spaces/and slashes' }));
    t.true(badId instanceof InvalidArgumentError);
    const badHash = await t.throwsAsync(client.submit({ modelA: base, modelB: base, options: { hash: 'md5' } }));
    t.true(badHash instanceof InvalidArgumentError);
    t.regex(badHash!.message, /hash/);
  });

  test('cancel a queued job: watch ends cancelled, the report is refused', async (t) => {
    t.timeout(STALL_MS);
    const idle = await connect({ address: idleAddress, token: TOKEN });
    try {
      const { job } = await idle.submit({ modelA: base, modelB: derived });
      t.true(job.state === 'queued' || job.state === 'running', job.state);
      const cancelled = await idle.cancel(job.jobId);
      t.is(cancelled.state, 'cancelled');
      const states: string[] = [];
      for await (const s of idle.watch(job.jobId)) states.push(s.state);
      t.is(states.at(-1), 'cancelled');
      const err = await t.throwsAsync(idle.report(job.jobId));
      t.true(err instanceof FailedPreconditionError, err?.constructor.name);
      t.is((await idle.list()).find((j) => j.jobId === job.jobId)?.state, 'cancelled');
    } finally {
      await idle.close();
    }
  });

  test.serial('watch carries on across a coordinator restart', async (t) => {
    t.timeout(STALL_MS);
    const idle = await connect({ address: idleAddress, token: TOKEN, watchRetry: { initialDelayMs: 50, maxDelayMs: 500 } });
    try {
      const { job } = await idle.submit({ modelA: base, modelB: base });
      const states: string[] = [];
      const watching = (async () => { for await (const s of idle.watch(job.jobId)) states.push(s.state); })();
      while (states.length === 0) await new Promise((r) => setTimeout(r, 20));
      await restartIdle();
      // The job, queued (no worker here), is still known to the new coordinator: cancel it there.
      t.is((await idle.cancel(job.jobId)).state, 'cancelled');
      await watching;
      t.is(states[0], 'queued');
      t.is(states.at(-1), 'cancelled');
    } finally {
      await idle.close();
    }
  });

  unless(OPENSSL_MISSING)('TLS: the coordinator certificate is checked against the given CA; plaintext gets nowhere', async (t) => {
    t.timeout(STALL_MS);
    const dir = tempDir();
    const [cert, key] = [join(dir, 'cert.pem'), join(dir, 'key.pem')];
    const made = spawnSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-keyout', key, '-out', cert, '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ], { encoding: 'utf8' });
    if (made.error || made.status !== 0) throw new Error(`openssl could not make a test certificate (${made.error?.message ?? made.stderr})`);
    const nats = await startNatsServer();
    const secure = await startCoordinator({ ...COORDINATOR, nats: nats.url, listen: '127.0.0.1:0', token: TOKEN, modelRoots: [models], tlsCert: cert, tlsKey: key })
      .catch(async (err) => { await nats.stop(); throw err; });
    try {
      // By name, as certificates usually are (Node warns about a TLS server name that is an IP address).
      const byName = secure.address.replace('127.0.0.1', 'localhost');
      const tls = await connect({ address: byName, token: TOKEN, tls: { ca: readFileSync(cert) } });
      t.deepEqual(await tls.list(), []);
      await tls.close();
      const plain = await t.throwsAsync(connect({ address: byName, token: TOKEN, connectTimeoutMs: 1000 }));
      t.true(plain instanceof UnavailableError);
      const untrusted = await t.throwsAsync(connect({ address: byName, token: TOKEN, tls: true, connectTimeoutMs: 1000 }));
      t.true(untrusted instanceof UnavailableError, 'a self-signed certificate is not in the system roots');
    } finally {
      await secure.close();
      await nats.stop();
    }
  });
}
