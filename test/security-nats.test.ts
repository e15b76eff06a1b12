/**
 * A cluster on a NATS that requires TLS (server and client certificates made here with openssl),
 * a user and password per role, and per-role permissions as deploy/ ships them: the coordinator and
 * a worker run a job through it; the worker's credentials cannot write the reports bucket, the
 * jobs bucket or the task queue; a client without credentials, or without TLS, cannot connect.
 */
import test from 'ava';
import { connect, nkeyAuthenticator, nkeys, type NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { synthesize } from '../core/src/synth/synth.ts';
import { startCoordinator } from '../coordinator/src/index.ts';
import { startWorker } from '../worker/src/index.ts';
import { JobState } from '../proto/lineage/v1/lineage.ts';
import { connectNats, INBOX_PREFIX } from '../proto/jetstream.ts';
import { CLUSTER_KEY, Rpc, TOKEN } from './helpers/cluster.ts';
import { startNatsServer } from './helpers/nats-server.ts';
import { firstMissing, NATS_MISSING, OPENSSL_MISSING, unless } from './helpers/skip.ts';
import { makeTestCa } from './helpers/test-ca.ts';
import { tempDir } from './helpers/tmpdir.ts';

const PERMISSIONS = fileURLToPath(new URL('../deploy/nats/permissions.conf', import.meta.url));

/** deploy/nats/nats.conf's users with the shipped permissions file itself (inlined: nats-server includes only relative paths), and TLS. */
function natsConfig(tls: { cert: string; key: string; ca: string }): string {
  return `
${readFileSync(PERMISSIONS, 'utf8')}
tls {
  cert_file: "${tls.cert}"
  key_file: "${tls.key}"
  ca_file: "${tls.ca}"
  verify: true
}
authorization {
  users: [
    { user: coordinator, password: "coordinator-pass", permissions: $LINEAGE_COORDINATOR_PERMISSIONS }
    { user: worker, password: "worker-pass", permissions: $LINEAGE_WORKER_PERMISSIONS }
  ]
}
`;
}

/** Rejects when the server refuses the publish (permissions) or never acknowledges it. */
async function tryPublish(nc: NatsConnection, subject: string): Promise<string> {
  try {
    await jetstream(nc, { timeout: 2_000 }).publish(subject, new TextEncoder().encode('forged'));
    return 'accepted';
  } catch (err) {
    return (err as Error).message;
  }
}

unless(firstMissing(NATS_MISSING, OPENSSL_MISSING), test.serial)('a cluster on NATS with TLS, a user per role and per-role permissions', async (t) => {
  t.timeout(120_000);
  const pki = makeTestCa();
  const coordinatorCert = pki.client('coordinator');
  const workerCert = pki.client('worker');
  const nats = await startNatsServer({ config: natsConfig({ cert: pki.serverCert, key: pki.serverKey, ca: pki.ca }) });
  t.teardown(() => nats.stop());
  const root = tempDir();
  const base = join(root, 'base');
  synthesize('base', { out: base, shape: { layers: 2 } });

  const coordinator = await startCoordinator({
    nats: nats.url, listen: '127.0.0.1:0', token: TOKEN, modelRoots: [root], clusterKey: CLUSTER_KEY,
    natsAuth: { user: 'coordinator', pass: 'coordinator-pass', tlsCa: pki.ca, tlsCert: coordinatorCert.cert, tlsKey: coordinatorCert.key },
  });
  t.teardown(() => coordinator.close());
  const workerAuth = { user: 'worker', pass: 'worker-pass', tlsCa: pki.ca, tlsCert: workerCert.cert, tlsKey: workerCert.key };
  const worker = await startWorker({ nats: nats.url, threads: 1, clusterKey: CLUSTER_KEY, modelRoots: [root], natsAuth: workerAuth });
  t.teardown(() => worker.stop());
  const rpc = new Rpc(coordinator.address);
  t.teardown(() => rpc.close());
  await rpc.submit({ jobId: 'secured', modelA: base, modelB: base });
  t.is((await rpc.watch('secured')).at(-1)!.state, JobState.JOB_STATE_DONE);
  const report = await rpc.report('secured') as { verdict: { label: string } };
  t.is(report.verdict.label, 'derived');

  // The worker's credentials: results yes; the buckets and the task queue no.
  const asWorker = await connect({ servers: nats.url, user: 'worker', pass: 'worker-pass', inboxPrefix: INBOX_PREFIX.worker, tls: { caFile: pki.ca, certFile: workerCert.cert, keyFile: workerCert.key } });
  t.teardown(() => asWorker.close());
  t.regex(await tryPublish(asWorker, '$KV.lineage-reports.secured.0'), /permission|timeout|no responders/i);
  t.regex(await tryPublish(asWorker, '$KV.lineage-jobs.secured'), /permission|timeout|no responders/i);
  t.regex(await tryPublish(asWorker, 'lineage.tasks.secured.0'), /permission|timeout|no responders/i);
  t.regex(await tryPublish(asWorker, '$JS.API.STREAM.PURGE.LINEAGE_RESULTS'), /permission|timeout|no responders/i);
  t.is(await tryPublish(asWorker, 'lineage.results.not-a-job'), 'accepted', 'a worker may publish results (the coordinator checks their MAC)');
  // Nor can it listen to the coordinator's replies (the records and reports it reads).
  const eavesdrop = asWorker.subscribe(`${INBOX_PREFIX.coordinator}.>`);
  t.regex(String(await Promise.race([eavesdrop.closed, new Promise((r) => setTimeout(() => r('still open'), 5_000))])), /permission/i);
  // The report is untouched.
  t.is((await rpc.report('secured') as { verdict: { label: string } }).verdict.label, 'derived');

  // No credentials (with a valid client certificate), or no TLS at all: no connection.
  const anonymous = await connect({ servers: nats.url, tls: { caFile: pki.ca, certFile: workerCert.cert, keyFile: workerCert.key }, reconnect: false }).then(
    (nc) => { void nc.close(); return 'connected'; }, (err: Error) => err.message);
  t.regex(anonymous, /authorization/i);
  const plaintext = await connect({ servers: nats.url, user: 'worker', pass: 'worker-pass', reconnect: false }).then(
    (nc) => { void nc.close(); return 'connected'; }, (err: Error) => err.message);
  t.not(plaintext, 'connected');
  const noClientCert = await connect({ servers: nats.url, user: 'worker', pass: 'worker-pass', tls: { caFile: pki.ca }, reconnect: false }).then(
    (nc) => { void nc.close(); return 'connected'; }, (err: Error) => err.message);
  t.not(noClientCert, 'connected');
});

unless(NATS_MISSING, test.serial)('NATS by token and by NKEY seed; a wrong one is refused', async (t) => {
  t.timeout(60_000);
  const ok = async (url: string, auth: Parameters<typeof connectNats>[1]) => {
    const nc = await connectNats(url, auth, 'test');
    await nc.close();
    return true;
  };
  const byToken = await startNatsServer({ config: 'authorization { token: "s3cret-token" }' });
  t.teardown(() => byToken.stop());
  t.true(await ok(byToken.url, { token: 's3cret-token' }));
  await t.throwsAsync(connect({ servers: byToken.url, token: 'wrong', reconnect: false }), { message: /authorization/i });

  const user = nkeys.createUser();
  const seedFile = join(tempDir(), 'user.nk');
  writeFileSync(seedFile, new TextDecoder().decode(user.getSeed()) + '\n');
  const byNkey = await startNatsServer({ config: `authorization { users: [ { nkey: ${user.getPublicKey()} } ] }` });
  t.teardown(() => byNkey.stop());
  t.true(await ok(byNkey.url, { nkeySeed: seedFile }));
  const other = join(tempDir(), 'other.nk');
  writeFileSync(other, new TextDecoder().decode(nkeys.createUser().getSeed()));
  await t.throwsAsync(connect({ servers: byNkey.url, reconnect: false, authenticator: nkeyAuthenticator(readFileSync(other)) }), { message: /authorization/i });
  // Not a seed at all: bad input, said before connecting.
  writeFileSync(other, 'not a seed');
  await t.throwsAsync(connectNats(byNkey.url, { nkeySeed: other }, 'test'), { message: /not an NKEY user seed/ });
});
