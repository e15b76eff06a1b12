/**
 * The job store's listing against a real nats-server KV: a key updated while the KV's key listing
 * runs comes back twice (every listing under concurrent puts repeated one, measured here) or not
 * at all (a loaded CI run listed 11 of 12 running jobs). The store lists the stream's subjects
 * instead, which the server gives as of one moment. 400 listings: with the KV's key listing, this
 * test failed at listing 31, 348 and 25 of three runs here; 40 had let it pass but for that CI run.
 */
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { Kvm } from '@nats-io/kv';
import { JobStore } from '../coordinator/src/store.ts';
import type { JobRecord } from '../coordinator/src/job-record.ts';
import { ClusterKey } from '../proto/cluster-key.ts';
import { CLUSTER_KEY } from './helpers/cluster.ts';
import { natsServerAndClient } from './helpers/nats-server.ts';
import { NATS_MISSING, unless } from './helpers/skip.ts';

function record(jobId: string, tasksDone: number): JobRecord {
  const now = Date.now();
  return {
    jobId, modelA: '/m/a', modelB: '/m/b', pathA: '/m/a', pathB: '/m/b',
    options: { hash: 'xxh3-128', kernel: 'auto', targetTaskBytes: null },
    state: 'RUNNING', error: '', tasksTotal: 1000, bytesTotal: 1, tasksDone, tasksFailed: 0, bytesDone: 0,
    createdAtMs: now, updatedAtMs: now, finishedAtMs: null, reportChunks: 0,
  };
}

unless(NATS_MISSING, test)('every job is listed once while running jobs update their records', async (t) => {
  t.timeout(120_000);
  const { nc } = await natsServerAndClient(t);
  const kvm = new Kvm(nc);
  const store = new JobStore(await kvm.create('store-jobs'), await kvm.create('store-reports'), ClusterKey.load({ key: CLUSTER_KEY }, 'test'));
  const ids = Array.from({ length: 12 }, () => randomUUID());
  for (const id of ids) await store.put(record(id, 0));

  let writing = true;
  const writer = (async () => {
    for (let n = 1; writing; n++) await store.put(record(ids[n % ids.length]!, n));
  })();
  try {
    for (let round = 0; round < 400; round++) {
      const { records, rejected } = await store.list();
      t.deepEqual(rejected, []);
      const listed = records.map((r) => r.jobId).sort();
      t.deepEqual(listed, [...ids].sort(), `listing ${round}: each job once`);
    }
  } finally {
    writing = false;
    await writer;
  }
});
