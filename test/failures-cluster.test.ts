/**
 * Read failures on a cluster are task failures, never "done": a worker that cannot see the
 * models (its mount lacks them) hands its tasks back and the other worker runs them, so the
 * report equals the local one; when no worker can read, the job ends failed with the reason
 * (exit status 1), and the failure metrics and alerts say so. A worker sent SIGTERM mid-task
 * finishes that task (no redelivery) and exits 0. Also: odd job ids, submit --sample, report
 * --md/--html, a job's end as its last update, and admission control (jobs beyond the limit wait).
 *
 * "Cannot see the models" is made real with a mount namespace: the worker process runs under
 * `unshare --mount` with an empty tmpfs mounted over the model folder (root only).
 */
import test, { type ExecutionContext } from 'ava';
import { status } from '@grpc/grpc-js';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compareModels, type ComparisonReport } from '../core/src/compare/model-report.ts';
import { synthesize } from '../core/src/synth/synth.ts';
import { startWorker } from '../worker/src/index.ts';
import { jobTasksFilter, TASKS_STREAM } from '../proto/jetstream.ts';
import { JobState } from '../proto/lineage/v1/lineage.ts';
import { CLUSTER_KEY, codeOf, TOKEN, waitFor, WORKER } from './helpers/cluster.ts';
import { startNatsServer } from './helpers/nats-server.ts';
import { PROMETHEUS_MISSING, startPrometheus } from './helpers/prometheus.ts';
import { firstMissing, NATS_MISSING, unless } from './helpers/skip.ts';
import { testCluster } from './helpers/test-cluster.ts';
import { tempDir } from './helpers/tmpdir.ts';

const WORKER_PROCESS = fileURLToPath(new URL('./helpers/worker-process.ts', import.meta.url));
const BIN = fileURLToPath(new URL('../client/bin/lineage.js', import.meta.url));
const TASK_BYTES = 150_000;
const ALERTS = fileURLToPath(new URL('../deploy/prometheus/alerts.yml', import.meta.url));

/** Whether this process may make a mount namespace and mount in it (root, util-linux unshare). */
const UNSHARE_MISSING = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs tmpfs /mnt'], { encoding: 'utf8' }).status === 0
  ? null : 'cannot make a mount namespace here (needs root and unshare from util-linux)';

function modelPair() {
  const root = tempDir();
  const base = join(root, 'base');
  const derived = join(root, 'derived');
  synthesize('base', { out: base, shape: { layout: 'moe', layers: 2, experts: 4 } });
  synthesize('derivative', { out: derived, like: base, drift: 0.03 });
  return { root, base, derived };
}

/** A test cluster whose coordinator serves metrics on a free port. */
const cluster = (t: ExecutionContext, root: string, options: { maxDeliver?: number; maxRunningJobs?: number } = {}) => testCluster(t, root, { metricsPort: 0, ...options });

interface WorkerProcess {
  child: ChildProcess;
  log(): string;
  exited: Promise<number | null>;
}

/** `lineage worker` in its own process; with `hide`, an empty tmpfs covers that folder in its view of the filesystem. */
async function workerProcess(args: string[], options: { hide?: string; id: string }): Promise<WorkerProcess> {
  const command = [process.execPath, '--import', 'tsx', WORKER_PROCESS, ...args, '--id', options.id];
  const child = options.hide
    ? spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs tmpfs "$0" && exec "$@"', options.hide, ...command], {
      stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LINEAGE_CLUSTER_KEY: CLUSTER_KEY },
    })
    : spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LINEAGE_CLUSTER_KEY: CLUSTER_KEY } });
  let log = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => { log += s; });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await waitFor(`worker ${options.id} to be ready`, () => {
    if (child.exitCode !== null) throw new Error(`worker ${options.id} exited (${child.exitCode}): ${log}`);
    return new RegExp(`worker ${options.id} ready`).test(log);
  }, 60_000);
  return { child, log: () => log, exited };
}

/** One sample of a metric (labels as written in the exposition, e.g. `{outcome="failed"}`). */
async function metric(address: string, name: string): Promise<number> {
  const text = await (await fetch(`http://${address}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  if (!line) throw new Error(`${name} is not exported at ${address}:\n${text.slice(0, 2000)}`);
  return Number(line.slice(name.length + 1));
}

/** The command line in its own process (never spawnSync: the coordinator runs in this one). */
function lineage(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LINEAGE_TOKEN: TOKEN } });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
    child.once('exit', (code) => resolve({ code, stderr }));
  });
}

unless(firstMissing(NATS_MISSING, UNSHARE_MISSING), test.serial)('a worker that cannot see the models hands its tasks back; the other worker runs them and the report equals the local one', async (t) => {
  t.timeout(180_000);
  const { root, base, derived } = modelPair();
  const local = await compareModels(base, derived, { targetTaskBytes: TASK_BYTES });
  const { nats, coordinator, rpc } = await cluster(t, root);

  // The blind worker starts first and takes the first tasks; the other joins once it has failed some.
  const blind = await workerProcess(['--nats', nats.url, '--threads', '2', '--model-root', root, '--metrics-port', '0', '--metrics-host', '127.0.0.1'], { id: 'blind', hide: root });
  t.teardown(() => { blind.child.kill('SIGKILL'); });
  const submitted = await rpc.submit({ jobId: 'blind', modelA: base, modelB: derived, options: { hash: '', kernel: '', targetTaskBytes: TASK_BYTES } });
  await waitFor('the blind worker to fail a read', () => /will be retried: ReadFailedError/.test(blind.log()), 60_000);
  const seeing = await startWorker({ ...WORKER, nats: nats.url, threads: 2, id: 'seeing' });
  t.teardown(() => seeing.stop());

  const last = (await rpc.watch('blind')).at(-1)!;
  t.is(last.state, JobState.JOB_STATE_DONE, last.error);
  t.is(last.tasksDone, submitted.job!.tasksTotal);
  t.is(last.tasksFailed, 0);
  const report = await rpc.report('blind') as ComparisonReport;
  t.deepEqual(report.weights, local.weights);

  const blindMetrics = /metrics on http:\/\/([^/]+)\/metrics/.exec(blind.log())![1]!;
  t.regex(blindMetrics, /^127\.0\.0\.1:/, '--metrics-host binds where it is told');
  t.true(await metric(blindMetrics, 'lineage_worker_read_errors_total') >= 1);
  t.true(await metric(blindMetrics, 'lineage_worker_tasks_total{outcome="retried"}') >= 1);
  t.is(await metric(blindMetrics, 'lineage_worker_tasks_total{outcome="done"}'), 0, 'the blind worker finished nothing');
  t.is(await metric(coordinator.metricsAddress!, 'lineage_tasks_total{outcome="failed"}'), 0);
  t.true(await metric(coordinator.metricsAddress!, 'lineage_tasks_redelivered_total') >= 1, 'the handed-back tasks are counted as redelivered');
});

unless(firstMissing(NATS_MISSING, UNSHARE_MISSING, PROMETHEUS_MISSING), test.serial)('no worker can read the models: the job ends failed with the reason, watch and report exit 1, the failure alerts fire in a real Prometheus', async (t) => {
  t.timeout(240_000);
  const { root, base, derived } = modelPair();
  // Two deliveries per task, so that the test does not wait out five rounds of backoff.
  const { nats, coordinator, rpc } = await cluster(t, root, { maxDeliver: 2 });
  const workers = await Promise.all(['blind1', 'blind2'].map((id) =>
    workerProcess(['--nats', nats.url, '--threads', '1', '--model-root', root, '--metrics-port', '0', '--metrics-host', '127.0.0.1'], { id, hide: root })));
  t.teardown(() => { for (const w of workers) w.child.kill('SIGKILL'); });
  const workerMetrics = workers.map((w) => /metrics on http:\/\/([^/]+)\/metrics/.exec(w.log())![1]!);
  // Prometheus scrapes the healthy cluster first: the alerts' increase() needs the counters before the failures.
  const prometheus = await startPrometheus({ 'lineage-coordinator': [coordinator.metricsAddress!], 'lineage-worker': workerMetrics }, [ALERTS]);
  t.teardown(() => prometheus.stop());
  await waitFor('two scrapes of every target', async () => (await prometheus.value('min(count_over_time(up[1m]))') ?? 0) >= 2 && await prometheus.value('count(up == 1)') === 3, 60_000);

  // Few tasks (one per layer and kind): every delivery fails, and each failure pauses its worker.
  await rpc.submit({ jobId: 'unread', modelA: base, modelB: derived, options: { hash: '', kernel: '', targetTaskBytes: 1 << 30 } });
  const last = (await rpc.watch('unread')).at(-1)!;
  t.is(last.state, JobState.JOB_STATE_FAILED);
  t.regex(last.error, /tensors could not be compared: their tasks failed on every delivery/);
  t.regex(last.error, /ENOENT/);
  const watched = await lineage(['watch', 'unread', '--coordinator', coordinator.address]);
  t.is(watched.code, 1, watched.stderr);
  const report = await lineage(['report', 'unread', '--coordinator', coordinator.address, '--json', join(root, 'r.json')]);
  t.is(report.code, 1, report.stderr);
  t.regex(report.stderr, /failed: .*could not be compared/);

  t.true(await metric(coordinator.metricsAddress!, 'lineage_tasks_total{outcome="failed"}') >= 1);
  t.is(await metric(coordinator.metricsAddress!, 'lineage_jobs_finished_total{state="failed"}'), 1);
  let readErrors = 0;
  for (const address of workerMetrics) readErrors += await metric(address, 'lineage_worker_read_errors_total');
  t.true(readErrors >= 2, `${readErrors} read errors`);
  // The shipped alerts on failed tasks, failed jobs and read errors fire.
  for (const alert of ['LineageTasksFailing', 'LineageJobsFailing', 'LineageWorkerReadErrors']) {
    const firing = await waitFor(`${alert} to fire`, () => prometheus.value(`count(ALERTS{alertname="${alert}", alertstate="firing"})`), 60_000);
    t.true(firing >= 1, `${alert} fires`);
  }
});

unless(NATS_MISSING, test.serial)('SIGTERM mid-task: the worker finishes that task (no redelivery), then exits 0', async (t) => {
  t.timeout(120_000);
  const { root, base, derived } = modelPair();
  const { nats, coordinator, rpc } = await cluster(t, root);
  const worker = await workerProcess(['--nats', nats.url, '--threads', '1', '--model-root', root, '--drain-seconds', '60'], { id: 'draining' });
  t.teardown(() => { worker.child.kill('SIGKILL'); });

  const submitted = await rpc.submit({ jobId: 'drain', modelA: base, modelB: derived, options: { hash: '', kernel: '', targetTaskBytes: TASK_BYTES } });
  const held = await waitFor('the worker to take a task', () => /started task drain\/(\d+)/.exec(worker.log())?.[1]);
  // Its thread is still starting: mid-task for sure.
  worker.child.kill('SIGTERM');
  t.is(await worker.exited, 0, worker.log());
  t.regex(worker.log(), /draining: waiting up to 60 s for 1 running task/);
  t.regex(worker.log(), new RegExp(`finished task drain/${held} `), 'the task it held was finished, not handed back');
  t.is(worker.log().match(/started task/g)!.length, 1, 'it took no task after SIGTERM');

  // The rest of the job on another worker: nothing was delivered twice.
  const other = await startWorker({ ...WORKER, nats: nats.url, threads: 2 });
  t.teardown(() => other.stop());
  const last = (await rpc.watch('drain')).at(-1)!;
  t.is(last.state, JobState.JOB_STATE_DONE, last.error);
  t.is(last.tasksDone, submitted.job!.tasksTotal);
  t.is(await metric(coordinator.metricsAddress!, 'lineage_tasks_redelivered_total'), 0);
});

unless(NATS_MISSING)('stop() is idempotent: every call returns the one drain, which ends with the connection closed', async (t) => {
  const nats = await startNatsServer();
  t.teardown(() => nats.stop());
  const worker = await startWorker({ ...WORKER, nats: nats.url, threads: 1 });
  const first = worker.stop();
  const second = worker.stop({ graceMs: 0 });
  t.is(second, first);
  await first;
  t.is(worker.stop(), first);
});

unless(NATS_MISSING)('odd job ids (*, >, ../x, empty, too long) are INVALID_ARGUMENT in report (whole or streamed), watch and cancel, as in submit', async (t) => {
  const root = tempDir();
  const { rpc } = await cluster(t, root);
  for (const id of ['*', '>', '../x', '', 'a.b', 'x'.repeat(129)]) {
    for (const [call, p] of [['report', rpc.report(id)], ['readReport', rpc.readReport(id)], ['watch', rpc.watch(id)], ['cancel', rpc.cancel(id)], ['submit', rpc.submit({ jobId: id, modelA: root, modelB: root })]] as const) {
      const { code, details } = await codeOf(p);
      t.is(code, status.INVALID_ARGUMENT, `${call}(${JSON.stringify(id)}): ${details}`);
      t.regex(details, /job_id .* is not valid/);
    }
  }
});

unless(NATS_MISSING, test.serial)('submit --sample --wait writes a sampled report; report --md/--html writes both pages; the closing line names the duration', async (t) => {
  t.timeout(180_000);
  const { root, base, derived } = modelPair();
  const { nats, coordinator } = await cluster(t, root);
  const worker = await startWorker({ ...WORKER, nats: nats.url, threads: 2 });
  t.teardown(() => worker.stop());
  const json = join(root, 'sampled.json');
  const submitted = await lineage(['submit', base, derived, '--job-id', 'sampled', '--sample', '0.5', '--seed', '3', '--wait', '--json', json, '--coordinator', coordinator.address]);
  t.is(submitted.code, 0, submitted.stderr);
  t.regex(submitted.stderr, /job sampled: done \(\d+\/\d+ task\(s\), [\d.]+\/[\d.]+ GB in [\d.]+ s\)/);
  const report = JSON.parse(readFileSync(json, 'utf8')) as ComparisonReport;
  t.is(report.weights.mode, 'sampled');
  t.true(report.weights.tensors.some((x) => x.ci !== undefined && x.ci !== null), 'intervals in sampled mode');

  const [md, html] = [join(root, 'r.md'), join(root, 'r.html')];
  const written = await lineage(['report', 'sampled', '--md', md, '--html', html, '--quiet', '--coordinator', coordinator.address]);
  t.is(written.code, 0, written.stderr);
  t.regex(readFileSync(md, 'utf8'), /## Verdict/);
  t.regex(readFileSync(html, 'utf8'), /^<!doctype html>/i);
});

unless(NATS_MISSING)('a job\'s end is its last update: a cancelled job\'s updated time is the cancel, not the submit', async (t) => {
  const { root, base, derived } = modelPair();
  const { rpc } = await cluster(t, root);
  const submitted = await rpc.submit({ jobId: 'ends', modelA: base, modelB: derived });
  await new Promise((r) => setTimeout(r, 50));
  const before = Date.now();
  const cancelled = await rpc.cancel('ends');
  t.is(cancelled.state, JobState.JOB_STATE_CANCELLED);
  t.true(Number(cancelled.updatedAtMs) >= before, `updated ${Number(cancelled.updatedAtMs) - before} ms after the cancel was sent`);
  t.true(Number(cancelled.updatedAtMs) > Number(submitted.job!.createdAtMs));
});

unless(NATS_MISSING, test.serial)('admission control: beyond --max-running-jobs, jobs wait as queued with no task on the queue; a cancelled one leaves the line; the others then run', async (t) => {
  t.timeout(120_000);
  const { root, base, derived } = modelPair();
  const { nats, coordinator, rpc, jsm: jsmOf } = await cluster(t, root, { maxRunningJobs: 1 });
  for (const jobId of ['first', 'second', 'third']) await rpc.submit({ jobId, modelA: base, modelB: derived, options: { hash: '', kernel: '', targetTaskBytes: TASK_BYTES } });

  const jsm = await jsmOf();
  const queuedTasks = async (jobId: string) => Object.keys((await jsm.streams.info(TASKS_STREAM, { subjects_filter: jobTasksFilter(jobId) })).state.subjects ?? {}).length;
  // Ids below tasksTotal: the weights pass's (the controls' first tasks follow them a moment later).
  const queuedWeights = async (jobId: string, total: number) => Object.keys((await jsm.streams.info(TASKS_STREAM, { subjects_filter: jobTasksFilter(jobId) })).state.subjects ?? {})
    .filter((subject) => Number(subject.split('.').pop()) < total).length;
  const total = (await rpc.list()).find((j) => j.jobId === 'first')!.tasksTotal;
  t.is(await queuedWeights('first', total), total, 'the admitted job has all its weights tasks on the queue');
  t.is(await queuedTasks('second'), 0, 'a waiting job has none');
  t.is(await queuedTasks('third'), 0);
  t.deepEqual((await rpc.list()).map((j) => [j.jobId, j.state]), [['first', JobState.JOB_STATE_QUEUED], ['second', JobState.JOB_STATE_QUEUED], ['third', JobState.JOB_STATE_QUEUED]]);
  t.is(await metric(coordinator.metricsAddress!, 'lineage_admission{stage="jobs",state="running"}'), 1);
  t.is(await metric(coordinator.metricsAddress!, 'lineage_admission{stage="jobs",state="waiting"}'), 2);
  t.is(await metric(coordinator.metricsAddress!, 'lineage_jobs{state="queued"}'), 3);

  t.is((await rpc.cancel('second')).state, JobState.JOB_STATE_CANCELLED);
  t.is(await metric(coordinator.metricsAddress!, 'lineage_admission{stage="jobs",state="waiting"}'), 1);

  const worker = await startWorker({ ...WORKER, nats: nats.url, threads: 2 });
  t.teardown(() => worker.stop());
  const [first, third] = await Promise.all(['first', 'third'].map(async (id) => (await rpc.watch(id)).at(-1)!));
  t.is(first.state, JobState.JOB_STATE_DONE);
  t.is(third.state, JobState.JOB_STATE_DONE);
  t.is(await queuedTasks('second'), 0, 'the cancelled job never put a task on the queue');
  t.is(await metric(coordinator.metricsAddress!, 'lineage_admission{stage="jobs",state="running"}'), 0);
  t.is(await metric(coordinator.metricsAddress!, 'lineage_admission{stage="jobs",state="waiting"}'), 0);
});

unless(NATS_MISSING, test.serial)('the coordinator gone for good while submit --wait follows: exit 1, saying the job goes on and how to follow it again', async (t) => {
  t.timeout(180_000);
  const { root, base, derived } = modelPair();
  const { coordinator } = await cluster(t, root);
  // No worker: the job stays queued while the command follows it.
  const child = spawn(process.execPath, [BIN, 'submit', base, derived, '--job-id', 'orphan', '--wait', '--coordinator', coordinator.address], {
    stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LINEAGE_TOKEN: TOKEN },
  });
  t.teardown(() => { child.kill('SIGKILL'); });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
  child.stderr!.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await waitFor('the job id on stdout', () => stdout.includes('orphan\n'), 60_000);
  await coordinator.close();
  t.is(await exited, 1, stderr);
  t.regex(stderr, /lost the coordinator while following job orphan \(coordinator \S+ is unreachable after \d+ attempts: .+\); the job goes on on the cluster: `lineage watch orphan` follows it again, `lineage report orphan` fetches its report once it is done/);
  t.notRegex(stderr, /Resolution note/);
});
