/**
 * The worker's side of the JetStream contract, driven directly on NATS: it announces itself,
 * terminates (does not retry) a task that fails deterministically after publishing why, and a
 * task JetStream gives up on (held past max_deliver deliveries by a client that never acks)
 * is recorded in its job as failed, so the job still finishes.
 */
import test from 'ava';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { synthesize } from '../core/src/synth/synth.ts';
import type { ComparisonReport } from '../core/src/compare/model-report.ts';
import { startCoordinator } from '../coordinator/src/index.ts';
import { startWorker } from '../worker/src/index.ts';
import { decodeTaskResult, type TaskOutcome } from '../proto/convert.ts';
import { ClusterKey } from '../proto/cluster-key.ts';
import { sealValue, signTask } from '../proto/signed.ts';
import { ensureTopology, HEARTBEAT_SUBJECT_PREFIX, JOBS_BUCKET, taskSubject, TASKS_STREAM, WORKERS_CONSUMER } from '../proto/jetstream.ts';
import { JobState, WorkerHeartbeat } from '../proto/lineage/v1/lineage.ts';
import { CLUSTER_KEY, COORDINATOR, Rpc, TOKEN, waitFor, WORKER } from './helpers/cluster.ts';
import { natsServerAndClient, startNatsServer } from './helpers/nats-server.ts';
import { NATS_MISSING, unless } from './helpers/skip.ts';
import { tempDir } from './helpers/tmpdir.ts';

unless(NATS_MISSING, test.serial)('heartbeats, and a deterministic failure is published once and never redelivered', async (t) => {
  t.timeout(90_000);
  const root = tempDir();
  const base = join(root, 'base');
  synthesize('base', { out: base, shape: { layers: 1 } });
  const { nats, nc } = await natsServerAndClient(t);
  await ensureTopology(nc, { ackWaitMs: 500, maxDeliver: 3 });
  const beats: WorkerHeartbeat[] = [];
  nc.subscribe(`${HEARTBEAT_SUBJECT_PREFIX}.>`, { callback: (_e, m) => { beats.push(WorkerHeartbeat.decode(m.data)); } });
  const outcomes: TaskOutcome[] = [];
  nc.subscribe('lineage.results.>', { callback: (_e, m) => { outcomes.push(decodeTaskResult(m.data)); } });

  const worker = await startWorker({ ...WORKER, nats: nats.url, threads: 2, id: 'w-1', heartbeatMs: 200 });
  t.teardown(() => worker.stop());
  await waitFor('two heartbeats', () => beats.length >= 2);
  t.like(beats[0], { worker: 'w-1', threads: 2, kernel: 'wasm-simd', gpu: false });

  // A job record (what the coordinator writes) and one task asking for a kernel nobody has, signed
  // with the cluster key as the coordinator signs them.
  const key = ClusterKey.load({ key: CLUSTER_KEY }, 'the test');
  const jobs = await new Kvm(nc).open(JOBS_BUCKET);
  await jobs.put('hand-made', sealValue(key, 'job-record', ['hand-made'], Buffer.from(JSON.stringify({ jobId: 'hand-made', state: 'RUNNING' }))));
  const task = { id: 0, label: 'layer 0', bytes: 0, items: [] };
  const signed = signTask(key, { jobId: 'hand-made', task, hash: 'xxh3-128', kernel: 'quantum' });
  await jetstream(nc).publish(taskSubject('hand-made', 0), signed.data, { headers: signed.headers });
  await waitFor('the failed result', () => outcomes.length > 0);
  t.like(outcomes[0], { jobId: 'hand-made', taskId: 0, worker: 'w-1', attempt: 1 });
  t.regex(outcomes[0]!.error!, /unknown kernel 'quantum'/);
  // Terminated: after several ack waits it was neither redelivered nor left in the queue.
  await new Promise((r) => setTimeout(r, 1_500));
  t.is(outcomes.length, 1);
  const info = await (await jetstreamManager(nc)).consumers.info(TASKS_STREAM, WORKERS_CONSUMER);
  t.is(info.num_ack_pending, 0);
  t.is(info.num_pending, 0);
});

unless(NATS_MISSING, test.serial)('a task JetStream gives up on is recorded as failed and the job finishes', async (t) => {
  t.timeout(90_000);
  const root = tempDir();
  const base = join(root, 'base');
  const derived = join(root, 'derived');
  synthesize('base', { out: base, shape: { layers: 2 } });
  synthesize('derivative', { out: derived, like: base });
  const nats = await startNatsServer();
  t.teardown(() => nats.stop());
  // max_deliver 1: a task held past one ack wait is given up at once.
  const coordinator = await startCoordinator({ ...COORDINATOR, nats: nats.url, listen: '127.0.0.1:0', token: TOKEN, modelRoots: [root], ackWaitMs: 500, maxDeliver: 1 });
  t.teardown(() => coordinator.close());
  const rpc = new Rpc(coordinator.address);
  t.teardown(() => rpc.close());
  const submitted = await rpc.submit({ jobId: 'given-up', modelA: base, modelB: derived, options: { hash: '', kernel: '', targetTaskBytes: 1 } });

  // A client that takes the first weights task and never acks it. The controls' first tasks are
  // queued ahead of it (the hidden and layer alignments): it takes and holds those too.
  const nc = await connect({ servers: nats.url });
  t.teardown(() => nc.close());
  const consumer = await jetstream(nc).consumers.get(TASKS_STREAM, WORKERS_CONSUMER);
  const total = submitted.job!.tasksTotal;
  const heldIds: number[] = [];
  while (!heldIds.some((id) => id < total)) {
    const held = await consumer.next({ expires: 5_000 });
    t.truthy(held);
    heldIds.push(Number(held!.subject.split('.').pop()));
  }
  t.deepEqual(heldIds, [total, total + 1, heldIds.at(-1)!], 'the two control tasks came first');

  const worker = await startWorker({ ...WORKER, nats: nats.url, threads: 1 });
  t.teardown(() => worker.stop());
  const last = (await rpc.watch('given-up')).at(-1)!;
  t.is(last.state, JobState.JOB_STATE_DONE);
  t.is(last.tasksFailed, 1);
  t.is(last.tasksDone, submitted.job!.tasksTotal - 1);
  const report = await rpc.report('given-up') as ComparisonReport;
  const failed = report.weights.tensors.filter((x) => x.note?.includes('delivered 1 time without a result'));
  t.true(failed.length >= 1, 'the tensors of the given-up task say why they have no values');
  t.true(failed.every((x) => x.cosine === null));
  t.true(report.weights.tensors.filter((x) => !failed.includes(x)).every((x) => x.cosine !== null || x.note !== null));
  // The given-up control tasks: their controls are unavailable with the reason, the job done all the same.
  const unavailable = report.controls!.unavailable.map((u) => u.control).sort();
  t.deepEqual(unavailable, ['alignment', 'layers']);
  t.true(report.controls!.unavailable.every((u) => /delivered 1 time without a result/.test(u.reason)), JSON.stringify(report.controls!.unavailable));
});
