/**
 * Faults the cluster survives with the same report: a worker process killed (SIGKILL) while it
 * holds a task, a coordinator restarted in the middle of a job, and a shard whose data is cut
 * short after the job was planned (that tensor fails with the reason; the rest stands).
 */
import test from 'ava';
import { statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { openCheckpoint } from '../core/src/checkpoint/folder.ts';
import { compareModels, type ComparisonReport } from '../core/src/compare/model-report.ts';
import { synthesize } from '../core/src/synth/synth.ts';
import { startCoordinator } from '../coordinator/src/index.ts';
import { startWorker } from '../worker/src/index.ts';
import { TASKS_STREAM, WORKERS_CONSUMER } from '../proto/jetstream.ts';
import { JobState } from '../proto/lineage/v1/lineage.ts';
import { COORDINATOR, Rpc, TOKEN, waitFor, WORKER } from './helpers/cluster.ts';
import { startNatsServer } from './helpers/nats-server.ts';
import { NATS_MISSING, unless } from './helpers/skip.ts';
import { tempDir } from './helpers/tmpdir.ts';
import { recordResults, workerProcess } from './helpers/test-cluster.ts';

const TASK_BYTES = 150_000;

function modelPair(shardBytes?: number) {
  const root = tempDir();
  const base = join(root, 'base');
  const derived = join(root, 'derived');
  synthesize('base', { out: base, shape: { layout: 'moe', layers: 3, experts: 6 }, shardBytes });
  synthesize('derivative', { out: derived, like: base, drift: 0.03, shardBytes });
  return { root, base, derived };
}


unless(NATS_MISSING, test.serial)('a worker killed while it holds a task: the task is redelivered and the report is unchanged', async (t) => {
  t.timeout(90_000);
  const { root, base, derived } = modelPair();
  const nats = await startNatsServer();
  t.teardown(() => nats.stop());
  // A short lease, so the dead worker's task comes back within the test.
  const coordinator = await startCoordinator({ ...COORDINATOR, nats: nats.url, listen: '127.0.0.1:0', token: TOKEN, modelRoots: [root], ackWaitMs: 1_500 });
  t.teardown(() => coordinator.close());
  const rpc = new Rpc(coordinator.address);
  t.teardown(() => rpc.close());
  const { nc, outcomes } = await recordResults(nats.url, t);

  // The worker in its own process, through the `lineage worker` command.
  const { child, log } = await workerProcess(t, nats.url, 'doomed', ['--model-root', root]);

  const submitted = await rpc.submit({ jobId: 'kill', modelA: base, modelB: derived, options: { hash: '', kernel: '', targetTaskBytes: TASK_BYTES } });
  // Killed as soon as it says it took a task (its thread is still starting: mid-task for sure).
  const held = await waitFor('the worker to take a task', () => /started task kill\/(\d+)/.exec(log())?.[1]);
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
  const jsm = await jetstreamManager(nc);
  t.is((await jsm.consumers.info(TASKS_STREAM, WORKERS_CONSUMER)).num_ack_pending, 1, 'the dead worker held one task, not acked');
  t.false(outcomes.some((o) => o.worker === 'doomed'), 'the killed worker published nothing');

  const workers = await Promise.all([1, 2].map(() => startWorker({ ...WORKER, nats: nats.url, threads: 1 })));
  t.teardown(() => Promise.all(workers.map((w) => w.stop())));
  const last = (await rpc.watch('kill')).at(-1)!;
  t.is(last.state, JobState.JOB_STATE_DONE);
  t.is(last.tasksDone, submitted.job!.tasksTotal);
  const redelivered = outcomes.find((o) => o.taskId === Number(held));
  t.truthy(redelivered);
  t.true(redelivered!.attempt >= 2, `task ${held} was delivered again (attempt ${redelivered!.attempt})`);

  const report = await rpc.report('kill') as ComparisonReport;
  const local = await compareModels(base, derived, { targetTaskBytes: TASK_BYTES });
  t.deepEqual(report.weights, local.weights);
});

unless(NATS_MISSING, test.serial)('a coordinator restarted mid-job resumes it without redoing finished tasks', async (t) => {
  t.timeout(90_000);
  const { root, base, derived } = modelPair();
  const nats = await startNatsServer();
  t.teardown(() => nats.stop());
  const start = () => startCoordinator({ ...COORDINATOR, nats: nats.url, listen: '127.0.0.1:0', token: TOKEN, modelRoots: [root] });
  const first = await start();
  t.teardown(() => first.close());
  const { outcomes } = await recordResults(nats.url, t);
  const firstRpc = new Rpc(first.address);
  t.teardown(() => firstRpc.close());
  const submitted = await firstRpc.submit({ jobId: 'resume', modelA: base, modelB: derived, options: { hash: '', kernel: '', targetTaskBytes: TASK_BYTES } });
  const total = submitted.job!.tasksTotal;

  // Some tasks run, then the worker and the coordinator go away in the middle of the job. The
  // controls' first tasks are queued ahead of the weights pass's: they are answered by then.
  const early = await startWorker({ ...WORKER, nats: nats.url, threads: 1 });
  t.teardown(() => early.stop());
  const weightsDone = () => new Set(outcomes.filter((o) => o.taskId < total).map((o) => o.taskId)).size;
  await waitFor('a few results', () => weightsDone() >= 3);
  await early.stop();
  firstRpc.close();
  await first.close();
  const doneBefore = weightsDone();
  t.true(doneBefore >= 3 && doneBefore < total, `${doneBefore} of ${total} tasks done before the restart`);
  t.true(outcomes.some((o) => o.taskId >= total), 'a control task was answered before the restart');

  const second = await start();
  t.teardown(() => second.close());
  const rpc = new Rpc(second.address);
  t.teardown(() => rpc.close());
  const [resumed] = await rpc.list();
  t.is(resumed!.state, JobState.JOB_STATE_RUNNING);
  t.is(resumed!.tasksDone, doneBefore, 'the new coordinator re-read the results already stored');

  const late = await startWorker({ ...WORKER, nats: nats.url, threads: 1 });
  t.teardown(() => late.stop());
  const last = (await rpc.watch('resume')).at(-1)!;
  t.is(last.state, JobState.JOB_STATE_DONE);
  t.is(last.tasksDone, total);
  const report = await rpc.report('resume') as ComparisonReport;
  // Every task of both phases ran once: the control tasks answered before the restart were planned
  // again by the new coordinator, which took their answers from the results stream.
  const runs = new Map<number, number>();
  for (const o of outcomes) runs.set(o.taskId, (runs.get(o.taskId) ?? 0) + 1);
  t.is(runs.size, total + report.run.controls!.tasks);
  t.true([...runs.values()].every((n) => n === 1), 'no task ran twice');

  const local = await compareModels(base, derived, { targetTaskBytes: TASK_BYTES });
  t.deepEqual(report.weights, local.weights);
  t.deepEqual(report.verdict, local.verdict);
});

unless(NATS_MISSING, test.serial)('a shard cut short after planning: its tensor fails with the reason, the others are intact', async (t) => {
  t.timeout(90_000);
  const { root, base, derived } = modelPair(400_000);
  const local = await compareModels(base, derived, { targetTaskBytes: TASK_BYTES });
  const nats = await startNatsServer();
  t.teardown(() => nats.stop());
  const coordinator = await startCoordinator({ ...COORDINATOR, nats: nats.url, listen: '127.0.0.1:0', token: TOKEN, modelRoots: [root] });
  t.teardown(() => coordinator.close());
  const rpc = new Rpc(coordinator.address);
  t.teardown(() => rpc.close());
  await rpc.submit({ jobId: 'corrupt', modelA: base, modelB: derived, options: { hash: '', kernel: '', targetTaskBytes: TASK_BYTES } });

  // Planned from intact headers; now the data of one shard's last tensor is cut short.
  const ck = openCheckpoint(derived);
  t.true(ck.shards.length > 2);
  const shard = ck.shards[1]!;
  const victim = ck.tensors.filter((x) => x.file === shard).sort((x, y) => y.offset - x.offset)[0]!;
  truncateSync(shard, statSync(shard).size - 100);

  const workers = await Promise.all([1, 2].map(() => startWorker({ ...WORKER, nats: nats.url, threads: 1 })));
  t.teardown(() => Promise.all(workers.map((w) => w.stop())));
  const last = (await rpc.watch('corrupt')).at(-1)!;
  t.is(last.state, JobState.JOB_STATE_DONE, 'a bad tensor does not fail the job');
  t.is(last.tasksFailed, 0);
  const report = await rpc.report('corrupt') as ComparisonReport;
  const failed = report.weights.tensors.filter((x) => x.cosine === null);
  t.deepEqual(failed.map((x) => x.nameB), [victim.name]);
  t.true(failed[0]!.note!.includes(shard) && /truncated/.test(failed[0]!.note!), failed[0]!.note!);
  const intact = report.weights.tensors.filter((x) => x.nameB !== victim.name);
  t.is(intact.length, local.weights.tensors.length - 1);
  t.deepEqual(intact, local.weights.tensors.filter((x) => x.nameB !== victim.name));
});

unless(NATS_MISSING, test.serial)('NATS restarted mid-job: coordinator and workers reconnect and the job finishes unchanged', async (t) => {
  t.timeout(90_000);
  const { root, base, derived } = modelPair();
  const nats = await startNatsServer();
  t.teardown(() => nats.stop());
  const coordinator = await startCoordinator({ ...COORDINATOR, nats: nats.url, listen: '127.0.0.1:0', token: TOKEN, modelRoots: [root] });
  t.teardown(() => coordinator.close());
  const rpc = new Rpc(coordinator.address);
  t.teardown(() => rpc.close());
  const worker = await startWorker({ ...WORKER, nats: nats.url, threads: 1 });
  t.teardown(() => worker.stop());
  // The slow reference kernel and one task per unit, so the restart falls in the middle.
  const options = { hash: '', kernel: 'js', targetTaskBytes: 1 };
  const submitted = await rpc.submit({ jobId: 'nats-restart', modelA: base, modelB: derived, options });
  let restart: Promise<void> | null = null;
  let doneAtRestart = 0;
  const statuses = await rpc.watch('nats-restart', (s) => {
    if (!restart && s.tasksDone >= 3) {
      doneAtRestart = s.tasksDone;
      restart = nats.restart();
    }
  });
  await restart;
  t.true(doneAtRestart < submitted.job!.tasksTotal, `restarted with ${doneAtRestart} of ${submitted.job!.tasksTotal} tasks done`);
  t.is(statuses.at(-1)!.state, JobState.JOB_STATE_DONE);
  const report = await rpc.report('nats-restart') as ComparisonReport;
  const local = await compareModels(base, derived, { targetTaskBytes: 1, kernel: 'js' });
  t.deepEqual(report.weights, local.weights);
});
