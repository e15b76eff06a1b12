/**
 * Retention of the streams and buckets is the coordinator's to set (--replicas, --max-age,
 * --max-bytes): a fresh topology is created with it, and an existing one is brought to it.
 */
import { createServer, type AddressInfo, type Server } from 'node:net';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { startCoordinator } from '../coordinator/src/index.ts';
import { JOBS_BUCKET, REPORTS_BUCKET, RESULTS_STREAM, TASKS_STREAM } from '../proto/jetstream.ts';
import { COORDINATOR, TOKEN, waitFor } from './helpers/cluster.ts';
import { natsServerAndClient, startNatsServer } from './helpers/nats-server.ts';
import { NATS_MISSING, unless } from './helpers/skip.ts';
import { tempDir } from './helpers/tmpdir.ts';

const NS_PER_MS = 1_000_000;

unless(NATS_MISSING)('streams and buckets get the replicas, max age and max bytes the coordinator is given', async (t) => {
  t.timeout(90_000);
  const { nats, nc } = await natsServerAndClient(t);
  const jsm = await jetstreamManager(nc);
  const root = tempDir();
  const limits = async () => Object.fromEntries(await Promise.all([TASKS_STREAM, RESULTS_STREAM, `KV_${JOBS_BUCKET}`, `KV_${REPORTS_BUCKET}`].map(async (name) => {
    const { config } = await jsm.streams.info(name);
    return [name, { replicas: config.num_replicas, maxAgeMs: config.max_age / NS_PER_MS, maxBytes: config.max_bytes }];
  })));

  // Defaults on a single server: one replica, nothing aged out, no size limit.
  let coordinator = await startCoordinator({ ...COORDINATOR, nats: nats.url, listen: '127.0.0.1:0', token: TOKEN, modelRoots: [root] });
  const unlimited = { replicas: 1, maxAgeMs: 0, maxBytes: -1 };
  t.deepEqual(await limits(), { [TASKS_STREAM]: unlimited, [RESULTS_STREAM]: unlimited, [`KV_${JOBS_BUCKET}`]: unlimited, [`KV_${REPORTS_BUCKET}`]: unlimited });
  await coordinator.close();

  // Restarted with limits: the existing streams and buckets are brought to them (queued tasks never age out).
  coordinator = await startCoordinator({ ...COORDINATOR, nats: nats.url, listen: '127.0.0.1:0', token: TOKEN, modelRoots: [root], storage: { replicas: 1, maxAgeMs: 86_400_000, maxBytes: 1 << 30 } });
  const limited = { replicas: 1, maxAgeMs: 86_400_000, maxBytes: 1 << 30 };
  const expected = { [TASKS_STREAM]: { ...limited, maxAgeMs: 0 }, [RESULTS_STREAM]: limited, [`KV_${JOBS_BUCKET}`]: limited, [`KV_${REPORTS_BUCKET}`]: limited };
  t.deepEqual(await limits(), expected);
  await coordinator.close();

  // Started again without settings: the defaults never undo what was set (only a new topology gets them).
  coordinator = await startCoordinator({ ...COORDINATOR, nats: nats.url, listen: '127.0.0.1:0', token: TOKEN, modelRoots: [root] });
  t.teardown(() => coordinator.close());
  t.deepEqual(await limits(), expected);
});

/** Free TCP ports on loopback (for the cluster routes, which must be known before the servers start). */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: n }, () => new Promise<Server>((resolve) => { const s = createServer(); s.listen(0, '127.0.0.1', () => resolve(s)); })));
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

unless(NATS_MISSING)('on a NATS cluster of 3 servers, streams and buckets get 3 replicas by default', async (t) => {
  t.timeout(120_000);
  const routes = await freePorts(3);
  const servers = await Promise.all(routes.map((port, i) => startNatsServer({
    name: `lineage-s${i}`,
    config: `cluster { name: lineage-c, listen: 127.0.0.1:${port}, routes: [${routes.map((p) => `nats-route://127.0.0.1:${p}`).join(', ')}] }`,
  })));
  t.teardown(() => Promise.all(servers.map((s) => s.stop())));
  const nc = await connect({ servers: servers[0]!.url });
  t.teardown(() => nc.close());
  // The servers have found each other, and JetStream has a meta leader.
  await waitFor('the NATS cluster to form', () => (nc.info?.connect_urls?.length ?? 0) >= 3, 60_000);
  const jsm = await waitFor('JetStream in the cluster (a meta leader)', () => jetstreamManager(nc, { timeout: 2_000 }).catch(() => null), 60_000);
  const coordinator = await startCoordinator({ ...COORDINATOR, nats: servers[0]!.url, listen: '127.0.0.1:0', token: TOKEN, modelRoots: [tempDir()] });
  t.teardown(() => coordinator.close());
  for (const name of [TASKS_STREAM, RESULTS_STREAM, `KV_${JOBS_BUCKET}`, `KV_${REPORTS_BUCKET}`]) {
    t.is((await jsm.streams.info(name)).config.num_replicas, 3, name);
  }
});
