/**
 * The cluster gives the local report: a coordinator and 3 workers over a real nats-server and
 * real gRPC produce the same weights section, number for number, as `compareModels` in process.
 */
import { join } from 'node:path';
import { compareModels } from '../core/src/compare/model-report.ts';
import { synthesize } from '../core/src/synth/synth.ts';
import { startCoordinator } from '../coordinator/src/index.ts';
import { startWorker } from '../worker/src/index.ts';
import { JobState } from '../proto/lineage/v1/lineage.ts';
import { codeOf, COORDINATOR, Rpc, TOKEN, WORKER } from './helpers/cluster.ts';
import { startNatsServer } from './helpers/nats-server.ts';
import { NATS_MISSING, unless } from './helpers/skip.ts';
import { tempDir } from './helpers/tmpdir.ts';
import { status } from '@grpc/grpc-js';

const TASK_BYTES = 150_000;

unless(NATS_MISSING)('3 workers give the local report; Submit is idempotent; ListJobs lists the job', async (t) => {
  t.timeout(90_000);
  const root = tempDir();
  const base = join(root, 'base');
  const derived = join(root, 'derived');
  synthesize('base', { out: base, shape: { layout: 'moe', layers: 4, experts: 6 }, shardBytes: 1_500_000 });
  synthesize('derivative', { out: derived, like: base, drift: 0.02, shardBytes: 1_500_000 });

  const nats = await startNatsServer();
  t.teardown(() => nats.stop());
  const coordinator = await startCoordinator({ ...COORDINATOR, nats: nats.url, listen: '127.0.0.1:0', token: TOKEN, modelRoots: [root], metricsPort: 0 });
  t.teardown(() => coordinator.close());
  const workers = await Promise.all([1, 2, 3].map(() => startWorker({ ...WORKER, nats: nats.url, threads: 1, metricsPort: 0, metricsHost: '127.0.0.1' })));
  t.teardown(() => Promise.all(workers.map((w) => w.stop())));
  const rpc = new Rpc(coordinator.address);
  t.teardown(() => rpc.close());

  const started = Date.now();
  const submitted = await rpc.submit({ jobId: 'three-workers', modelA: base, modelB: derived, options: { hash: '', kernel: '', targetTaskBytes: TASK_BYTES } });
  t.true(submitted.created);
  t.true(submitted.job!.tasksTotal > 20, `many tasks (${submitted.job!.tasksTotal})`);
  const statuses = await rpc.watch('three-workers');
  const seconds = (Date.now() - started) / 1000;
  const last = statuses.at(-1)!;
  t.is(last.state, JobState.JOB_STATE_DONE);
  t.is(last.tasksDone, last.tasksTotal);
  t.is(last.tasksFailed, 0);
  t.is(last.bytesDone, last.bytesTotal);
  t.log(`${last.tasksTotal} tasks on 3 workers in ${seconds.toFixed(2)} s (submit to done)`);

  const report = await rpc.report('three-workers') as Awaited<ReturnType<typeof compareModels>>;
  const local = await compareModels(base, derived, { targetTaskBytes: TASK_BYTES, threads: 1 });
  // The whole report but `run` (how this run went: times, threads) is the local one.
  const { run: _clusterRun, ...cluster } = report;
  const { run: _localRun, ...inProcess } = local;
  t.deepEqual(cluster, inProcess);
  t.truthy(report.verdict && report.controls, 'verdict and controls are there');
  // ReadReport streams the same bytes in pieces of at most 1 MiB.
  const streamed = await rpc.readReport('three-workers');
  t.deepEqual(JSON.parse(streamed.bytes.toString('utf8')), report);
  t.true(streamed.pieces.length >= 1 && streamed.pieces.every((n) => n > 0 && n <= 1024 * 1024), `pieces ${streamed.pieces.join(', ')}`);
  t.true(report.weights.tensors.every((x) => x.note === null || !/failed/.test(x.note)));
  // Every worker took part (tasks are pulled, not pushed, so this is what JetStream did).
  t.is(report.run.threads, 3);

  // Same id, same request: the existing job, not a second one.
  const again = await rpc.submit({ jobId: 'three-workers', modelA: base, modelB: derived, options: { hash: '', kernel: '', targetTaskBytes: TASK_BYTES } });
  t.false(again.created);
  t.is(again.job!.state, JobState.JOB_STATE_DONE);
  // Same id, other models: refused.
  const clash = await codeOf(rpc.submit({ jobId: 'three-workers', modelA: derived, modelB: base }));
  t.is(clash.code, status.ALREADY_EXISTS);

  const listed = await rpc.list();
  t.deepEqual(listed.map((j) => [j.jobId, j.state]), [['three-workers', JobState.JOB_STATE_DONE]]);

  // Prometheus metrics of the coordinator and the workers tell the same story.
  const scrape = async (address: string) => (await fetch(`http://${address}/metrics`)).text();
  const value = (text: string, series: string) => Number(new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  const coordinatorMetrics = await scrape(coordinator.metricsAddress!);
  t.is(value(coordinatorMetrics, 'lineage_jobs{state="done"}'), 1);
  // Tasks of both phases: the weights pass's, then the controls' (run by the workers too).
  const controlTasks = report.run.controls!.tasks;
  t.true(controlTasks > 0, 'the controls ran as tasks');
  t.is(value(coordinatorMetrics, 'lineage_tasks_total{outcome="done"}'), last.tasksTotal + controlTasks);
  t.is(value(coordinatorMetrics, 'lineage_task_bytes_total'), last.bytesTotal);
  t.is(value(coordinatorMetrics, 'lineage_workers'), 3);
  const perWorker = await Promise.all(workers.map(async (w) => value(await scrape(w.metricsAddress!), 'lineage_worker_tasks_total{outcome="done"}')));
  t.is(perWorker.reduce((a, b) => a + b, 0), last.tasksTotal + controlTasks);
  t.true(perWorker.every((n) => n > 0), `each worker ran tasks (${perWorker.join(', ')})`);
});
