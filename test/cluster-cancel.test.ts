/**
 * Cancel drops a job's tasks: before any worker ran (its queued tasks are purged from the work
 * queue and a worker started later runs none of them) and while it runs (no further results,
 * the job stays cancelled).
 */
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { status } from '@grpc/grpc-js';
import { synthesize } from '../core/src/synth/synth.ts';
import { startCoordinator } from '../coordinator/src/index.ts';
import { startWorker } from '../worker/src/index.ts';
import { jobTasksFilter, RESULTS_STREAM, resultSubject, TASKS_STREAM } from '../proto/jetstream.ts';
import { JobState } from '../proto/lineage/v1/lineage.ts';
import { codeOf, COORDINATOR, Rpc, TOKEN, waitFor, WORKER } from './helpers/cluster.ts';
import { startNatsServer } from './helpers/nats-server.ts';
import { NATS_MISSING, unless } from './helpers/skip.ts';
import { tempDir } from './helpers/tmpdir.ts';

unless(NATS_MISSING)('cancel a queued job, then a running one', async (t) => {
  t.timeout(90_000);
  const root = tempDir();
  const base = join(root, 'base');
  const derived = join(root, 'derived');
  synthesize('base', { out: base, shape: { layout: 'moe', layers: 4, experts: 8, hidden: 512, moeIntermediate: 256 } });
  synthesize('derivative', { out: derived, like: base, drift: 0.02 });

  const nats = await startNatsServer();
  t.teardown(() => nats.stop());
  const coordinator = await startCoordinator({ ...COORDINATOR, nats: nats.url, listen: '127.0.0.1:0', token: TOKEN, modelRoots: [root] });
  t.teardown(() => coordinator.close());
  const rpc = new Rpc(coordinator.address);
  t.teardown(() => rpc.close());
  const nc = await connect({ servers: nats.url });
  t.teardown(() => nc.close());
  const jsm = await jetstreamManager(nc);
  // Messages on a job's subjects (the filter narrows `subjects`, not the stream's totals).
  const count = async (stream: string, filter: string) => Object.values((await jsm.streams.info(stream, { subjects_filter: filter })).state.subjects ?? {}).reduce((a, b) => a + b, 0);
  const queuedTasks = (jobId: string) => count(TASKS_STREAM, jobTasksFilter(jobId));
  // The weights pass's tasks alone (ids below tasksTotal): the controls' first tasks follow them onto the queue, published a moment later.
  const queuedWeights = async (jobId: string, total: number) => Object.entries((await jsm.streams.info(TASKS_STREAM, { subjects_filter: jobTasksFilter(jobId) })).state.subjects ?? {})
    .filter(([subject]) => Number(subject.split('.').pop()) < total).reduce((a, [, n]) => a + n, 0);
  const storedResults = (jobId: string) => count(RESULTS_STREAM, resultSubject(jobId));
  // Results as they are published (core NATS sees JetStream publishes), kept after any purge.
  const published = new Map<string, number>();
  nc.subscribe('lineage.results.>', { callback: (_e, m) => { published.set(m.subject, (published.get(m.subject) ?? 0) + 1); } });

  // 1. Queued: no worker has seen it yet. Another job queued beside it must not suffer.
  const options = { hash: '', kernel: 'js', targetTaskBytes: 1 };
  const queued = await rpc.submit({ jobId: 'queued', modelA: base, modelB: derived, options });
  const kept = await rpc.submit({ jobId: 'kept', modelA: base, modelB: derived, options: { hash: '', kernel: '', targetTaskBytes: 1 } });
  t.is(queued.job!.state, JobState.JOB_STATE_QUEUED);
  t.is(await queuedWeights('queued', queued.job!.tasksTotal), queued.job!.tasksTotal);
  const watching = rpc.watch('queued');
  const cancelled = await rpc.cancel('queued');
  t.is(cancelled.state, JobState.JOB_STATE_CANCELLED);
  t.is((await watching).at(-1)!.state, JobState.JOB_STATE_CANCELLED, 'Watch ends with the cancellation');
  t.is(await queuedTasks('queued'), 0, 'its tasks are purged from the work queue');
  t.is((await rpc.cancel('queued')).state, JobState.JOB_STATE_CANCELLED, 'cancelling again changes nothing');
  t.is((await codeOf(rpc.report('queued'))).code, status.FAILED_PRECONDITION);

  t.is(await queuedWeights('kept', kept.job!.tasksTotal), kept.job!.tasksTotal, 'the other job keeps its tasks');

  // A worker starts: it runs the other job (all of it: nothing of it was dropped) and nothing of the cancelled one.
  const worker = await startWorker({ ...WORKER, nats: nats.url, threads: 1 });
  t.teardown(() => worker.stop());
  const keptEnd = (await rpc.watch('kept')).at(-1)!;
  t.is(keptEnd.state, JobState.JOB_STATE_DONE);
  t.is(keptEnd.tasksDone, kept.job!.tasksTotal);

  // 2. Running: the worker takes its tasks one by one (the slow reference kernel, one task per unit).
  const running = await rpc.submit({ jobId: 'running', modelA: base, modelB: derived, options });
  await waitFor('the first result of the running job', () => (published.get(resultSubject('running')) ?? 0) > 0);
  const stopped = await rpc.cancel('running');
  t.is(stopped.state, JobState.JOB_STATE_CANCELLED);
  const resultsAtCancel = published.get(resultSubject('running'))!;
  t.true(resultsAtCancel < running.job!.tasksTotal, `cancelled mid-job (${resultsAtCancel} of ${running.job!.tasksTotal} tasks done)`);
  // At most the task the worker held when the job was cancelled still reports; then nothing.
  await new Promise((r) => setTimeout(r, 1_000));
  t.true(published.get(resultSubject('running'))! <= resultsAtCancel + 1);
  t.is(await queuedTasks('running'), 0);
  // Results are purged on cancel; the worker drops the result of a task whose job ended while it
  // ran, but one that was publishing at the very moment of the cancel may still land.
  t.true(await storedResults('running') <= 1, 'results of a cancelled job are purged');
  t.is(published.get(resultSubject('queued')) ?? 0, 0, 'the worker ran nothing of the job cancelled while queued');
  const listed = await rpc.list();
  t.deepEqual(listed.map((j) => [j.jobId, j.state]), [
    ['queued', JobState.JOB_STATE_CANCELLED], ['kept', JobState.JOB_STATE_DONE], ['running', JobState.JOB_STATE_CANCELLED],
  ]);
});
