/**
 * Malformed and unauthorized calls get clear gRPC status codes: UNAUTHENTICATED without the
 * token, PERMISSION_DENIED outside the model roots (naming the path and the roots),
 * INVALID_ARGUMENT for bad input (naming the file and the reason), NOT_FOUND for unknown jobs,
 * FAILED_PRECONDITION for a report that is not there yet.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { credentials, status } from '@grpc/grpc-js';
import { synthesize } from '../core/src/synth/synth.ts';
import { startCoordinator } from '../coordinator/src/index.ts';
import { JobsClient, JobState } from '../proto/lineage/v1/lineage.ts';
import { codeOf, COORDINATOR, metadata, Rpc, TOKEN } from './helpers/cluster.ts';
import { startNatsServer } from './helpers/nats-server.ts';
import { firstMissing, NATS_MISSING, OPENSSL_MISSING, unless } from './helpers/skip.ts';
import { tempDir } from './helpers/tmpdir.ts';

unless(NATS_MISSING)('status codes of malformed, unauthorized and premature calls', async (t) => {
  t.timeout(90_000);
  const root = tempDir();
  const models = join(root, 'models');
  const outside = join(root, 'elsewhere');
  const base = join(models, 'base');
  synthesize('base', { out: base, shape: { layers: 2 } });
  synthesize('base', { out: join(outside, 'other'), shape: { layers: 2 } });
  // A folder whose shard has a header that is not JSON.
  const broken = join(models, 'broken');
  mkdirSync(broken);
  writeFileSync(join(broken, 'config.json'), '{}');
  const header = Buffer.from('{"a": [1, 2');
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(header.length));
  writeFileSync(join(broken, 'model.safetensors'), Buffer.concat([length, header]));
  // A symlink inside the root that leads outside it.
  symlinkSync(join(outside, 'other'), join(models, 'escape'));

  const nats = await startNatsServer();
  t.teardown(() => nats.stop());
  const coordinator = await startCoordinator({ ...COORDINATOR, nats: nats.url, listen: '127.0.0.1:0', token: TOKEN, modelRoots: [models] });
  t.teardown(() => coordinator.close());
  const rpc = new Rpc(coordinator.address);
  const anonymous = new Rpc(coordinator.address, null);
  const impostor = new Rpc(coordinator.address, 'not-the-token');
  t.teardown(() => { rpc.close(); anonymous.close(); impostor.close(); });

  const job = { jobId: 'j1', modelA: base, modelB: base };
  let r = await codeOf(anonymous.submit(job));
  t.is(r.code, status.UNAUTHENTICATED);
  t.regex(r.details, /missing token/);
  r = await codeOf(impostor.submit(job));
  t.is(r.code, status.UNAUTHENTICATED);
  t.regex(r.details, /invalid token/);
  t.is((await codeOf(impostor.list())).code, status.UNAUTHENTICATED);
  t.is((await codeOf(anonymous.watch('j1'))).code, status.UNAUTHENTICATED);
  t.is((await codeOf(impostor.readReport('j1'))).code, status.UNAUTHENTICATED);

  r = await codeOf(rpc.submit({ jobId: 'j2', modelA: base, modelB: join(outside, 'other') }));
  t.is(r.code, status.PERMISSION_DENIED);
  t.true(r.details.includes(join(outside, 'other')) && r.details.includes(models), r.details);
  r = await codeOf(rpc.submit({ jobId: 'j3', modelA: join(models, '..', 'elsewhere', 'other'), modelB: base }));
  t.is(r.code, status.PERMISSION_DENIED);
  r = await codeOf(rpc.submit({ jobId: 'j4', modelA: join(models, 'escape'), modelB: base }));
  t.is(r.code, status.PERMISSION_DENIED);
  t.regex(r.details, /resolves to .*elsewhere/);

  r = await codeOf(rpc.submit({ jobId: 'j5', modelA: join(models, 'missing'), modelB: base }));
  t.is(r.code, status.INVALID_ARGUMENT);
  t.regex(r.details, /missing: no such folder/);
  r = await codeOf(rpc.submit({ jobId: 'j6', modelA: base, modelB: broken }));
  t.is(r.code, status.INVALID_ARGUMENT);
  t.regex(r.details, /broken\/model\.safetensors: header is not valid JSON/);
  r = await codeOf(rpc.submit({ jobId: 'no spaces or dots.', modelA: base, modelB: base }));
  t.is(r.code, status.INVALID_ARGUMENT);
  t.regex(r.details, /job_id/);
  r = await codeOf(rpc.submit({ jobId: 'j7', modelA: base, modelB: base, options: { hash: 'md5', kernel: '', targetTaskBytes: 0 } }));
  t.is(r.code, status.INVALID_ARGUMENT);
  t.regex(r.details, /hash must be one of/);
  r = await codeOf(rpc.submit({ jobId: 'j8', modelA: '', modelB: base }));
  t.is(r.code, status.INVALID_ARGUMENT);

  for (const call of [rpc.report('nope'), rpc.cancel('nope'), rpc.watch('nope')]) {
    r = await codeOf(call);
    t.is(r.code, status.NOT_FOUND);
    t.regex(r.details, /no job "nope"/);
  }

  // No worker is running: the job stays queued and has no report yet.
  const queued = await rpc.submit({ jobId: 'queued', modelA: base, modelB: base });
  t.is(queued.job!.state, JobState.JOB_STATE_QUEUED);
  r = await codeOf(rpc.report('queued'));
  t.is(r.code, status.FAILED_PRECONDITION);
  t.regex(r.details, /is queued \(0 of \d+ tasks\)/);
  // None of the refused submissions left a job behind.
  t.deepEqual((await rpc.list()).map((j) => j.jobId), ['queued']);
});

test('the coordinator refuses to start without a token', async (t) => {
  const saved = process.env.LINEAGE_TOKEN;
  delete process.env.LINEAGE_TOKEN;
  try {
    await t.throwsAsync(startCoordinator({ ...COORDINATOR, nats: 'nats://127.0.0.1:1', listen: '127.0.0.1:0' }), { message: /needs a token/ });
  } finally {
    if (saved !== undefined) process.env.LINEAGE_TOKEN = saved;
  }
});

unless(firstMissing(NATS_MISSING, OPENSSL_MISSING))('TLS: the API over TLS with a token; a plaintext client cannot talk to it', async (t) => {
  t.timeout(90_000);
  const dir = tempDir();
  const [cert, key] = [join(dir, 'cert.pem'), join(dir, 'key.pem')];
  const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`openssl could not make a certificate (${made.error?.message ?? made.stderr})`);
  const nats = await startNatsServer();
  t.teardown(() => nats.stop());
  const coordinator = await startCoordinator({ ...COORDINATOR, nats: nats.url, listen: '127.0.0.1:0', token: TOKEN, modelRoots: [dir], tlsCert: cert, tlsKey: key });
  t.teardown(() => coordinator.close());

  const secure = new JobsClient(coordinator.address, credentials.createSsl(readFileSync(cert)), { 'grpc.ssl_target_name_override': 'localhost' });
  const plain = new JobsClient(coordinator.address, credentials.createInsecure());
  t.teardown(() => { secure.close(); plain.close(); });
  const list = (client: JobsClient, token: string | null) => new Promise<unknown>((resolve, reject) => {
    client.listJobs({}, metadata(token), { deadline: Date.now() + 5_000 }, (err, res) => (err ? reject(err) : resolve(res)));
  });
  t.deepEqual(await list(secure, TOKEN), { jobs: [] });
  t.is((await codeOf(list(secure, 'wrong'))).code, status.UNAUTHENTICATED);
  t.not((await codeOf(list(plain, TOKEN))).code, 'resolved');
});
