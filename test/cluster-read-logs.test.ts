/**
 * A cluster job on model URLs gives the same evidence of what was fetched as a local run: workers
 * send their weights and control tasks' read logs back with their results, the coordinator checks
 * them (untrusted input) and the report's `remote.reads`, `coverage` and `phases` are filled as a
 * local run fills them. Also: hostile or malformed logs are dropped without failing anything, and
 * a task's log counted twice (a redelivery) leaves the distinct bytes read unchanged.
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { RemoteSection } from '../core/src/checkpoint/remote-section.ts';
import { remoteSection } from '../core/src/checkpoint/remote-section.ts';
import { isRemoteCheckpoint, openModel, releaseRemoteCheckpoint } from '../core/src/checkpoint/remote.ts';
import { compareModels, type ComparisonReport } from '../core/src/compare/model-report.ts';
import { splitPinnedFile } from '../core/src/io/http.ts';
import { mergeRanges, type ReadLog } from '../core/src/io/read-log.ts';
import { decodeReadLog, encodeReadLog, MAX_READ_LOG_WIRE_BYTES } from '../core/src/io/read-log-wire.ts';
import { synthesize } from '../core/src/synth/synth.ts';
import { checkReadLog, fetchesOnly, MAX_LOG_RUNS, readLogOfResult } from '../coordinator/src/read-logs.ts';
import { startWorker } from '../worker/src/index.ts';
import { connect } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { ClusterKey } from '../proto/cluster-key.ts';
import { decodeTask, decodeTaskResult, type TaskEnvelope, type TaskOutcome } from '../proto/convert.ts';
import { jobTasksFilter, resultSubject, taskSubject, TASKS_STREAM } from '../proto/jetstream.ts';
import { openTask, resultMessageId, signResult } from '../proto/signed.ts';
import { JobState } from '../proto/lineage/v1/lineage.ts';
import { CLUSTER_KEY, waitFor, WORKER } from './helpers/cluster.ts';
import { NATS_MISSING, unless } from './helpers/skip.ts';
import { RangeServer } from './helpers/range-server.ts';
import { recordResults, testCluster, workerProcess } from './helpers/test-cluster.ts';
import { tempDir } from './helpers/tmpdir.ts';

const HUB_TOKEN = 'hf_read_logs_test';
const root = tempDir('lineage-cluster-read-logs-');
const base = join(root, 'base');
const derived = join(root, 'derived');
let server: RangeServer;

test.before(async () => {
  synthesize('base', { out: base, shape: { layout: 'moe', layers: 2, experts: 4 }, shardBytes: 400_000 });
  synthesize('derivative', { out: derived, like: base, drift: 0.02, shardBytes: 400_000 });
  server = await RangeServer.start({
    repos: { 'org/base': { folder: base, commit: 'a'.repeat(40) }, 'org/derived': { folder: derived, commit: 'b'.repeat(40) } },
    token: HUB_TOKEN, redirectWeights: true,
  });
});
test.after.always(() => server?.close());

/** The bytes a URL of the server names, from the folder it serves. */
const servedBytes = (url: string, start: number, end: number) => {
  const folder = url.includes('/org/base/') ? base : derived;
  return readFileSync(join(folder, decodeURIComponent(url.split('/').at(-1)!))).subarray(start, end);
};
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Bytes of tensors the report says were read that no run in its `reads` fetched (0: every byte the verdict rests on has its hash in the report). */
async function readButNotFetched(section: RemoteSection, folderUrl: string): Promise<number> {
  const ck = await openModel(folderUrl, { token: HUB_TOKEN });
  try {
    const offsets = new Map(ck.tensors.map((x) => [x.name, x.offset]));
    const runs = new Map<string, [number, number][]>();
    for (const r of section.reads) runs.set(r.url, [...(runs.get(r.url) ?? []), [r.start, r.end]]);
    let missing = 0;
    for (const tensor of section.coverage.tensors) {
      const fetched = mergeRanges(runs.get(tensor.file) ?? []);
      for (const [s, e] of tensor.read) {
        const [start, end] = [offsets.get(tensor.name)! + s, offsets.get(tensor.name)! + e];
        const covered = fetched.reduce((n, [a, b]) => n + Math.max(0, Math.min(b, end) - Math.max(a, start)), 0);
        missing += end - start - covered;
      }
    }
    return missing;
  } finally {
    releaseRemoteCheckpoint(ck);
  }
}

unless(NATS_MISSING, test.serial)('a cluster job on model URLs reports what its workers fetched: reads, coverage and both phases, as a local run does', async (t) => {
  t.timeout(180_000);
  const { nats, rpc } = await testCluster(t, root, { allowUrls: true, hubToken: HUB_TOKEN });
  const { outcomes } = await recordResults(nats.url, t);
  const workers = await Promise.all([1, 2].map(() => startWorker({ ...WORKER, nats: nats.url, threads: 1, hubToken: HUB_TOKEN, allowUrls: true })));
  t.teardown(() => Promise.all(workers.map((w) => w.stop())));

  const [urlA, urlB] = [server.folderUrl('org/base'), server.folderUrl('org/derived')];
  await rpc.submit({ jobId: 'read-logs', modelA: urlA, modelB: urlB, options: { targetTaskBytes: 300_000 } });
  const last = (await rpc.watch('read-logs')).at(-1)!;
  t.is(last.state, JobState.JOB_STATE_DONE, last.error);
  const cluster = await rpc.report('read-logs') as ComparisonReport;
  const local = await compareModels(urlA, urlB, { targetTaskBytes: 300_000, threads: 1, remote: { token: HUB_TOKEN } });

  // Both phases' tasks sent logs back, and none of them lost anything to the checks.
  t.true(outcomes.some((o) => o.controlResult && o.readLog), 'control tasks carry read logs');
  t.true(outcomes.some((o) => !o.controlResult && o.results.length > 0 && o.readLog), 'weights tasks carry read logs');
  t.truthy(cluster.run.readLogs);
  const deliveries = new Set(outcomes.filter((o) => o.readLog).map((o) => `${o.taskId}/${o.attempt}/${o.worker}`));
  t.is(cluster.run.readLogs!.received, deliveries.size, 'every log that came back was received');
  t.is(cluster.run.readLogs!.dropped, 0, cluster.run.readLogs!.notes.join('; '));
  t.is(local.run.readLogs, undefined, 'a local run has no workers\' logs to speak of');

  for (const side of ['a', 'b'] as const) {
    const c = cluster.models[side].remote as RemoteSection;
    const l = local.models[side].remote as RemoteSection;
    t.log(`${side}: cluster ${JSON.stringify(c.phases)}, ${c.reads.length} runs; local ${JSON.stringify(l.phases)}, ${l.reads.length} runs`);
    t.not(c.phases.controls, null, 'the controls\' reads are in the cluster report');
    // The same distinct bytes, per phase and in all: the tasks ask for the same ranges wherever they run.
    t.deepEqual(c.phases.weights.bytesRead, l.phases.weights.bytesRead);
    t.deepEqual(c.phases.controls!.bytesRead, l.phases.controls!.bytesRead);
    t.true(c.phases.controls!.bytesRead > 0);
    t.is(c.coverage.bytesRead, l.coverage.bytesRead);
    t.deepEqual(c.coverage.tensors, l.coverage.tensors);
    t.is(c.coverage.fraction, 1);
    // Fetched bytes may differ (each worker keeps its own spans), never fall short of what was read.
    t.true(c.phases.weights.bytesFetched >= c.phases.weights.bytesRead);
    t.true(c.phases.controls!.bytesFetched > 0);
    t.deepEqual(c.changes, []);
    t.deepEqual(c.failures, []);
    // Every run is the server's bytes at that range, and covers at least the tensor bytes read.
    const tensorRuns = c.reads.filter((r) => r.start > 0);
    t.true(tensorRuns.length > 0);
    for (const run of c.reads) t.is(run.sha256, sha256(servedBytes(run.url, run.start, run.end)), `${run.url} [${run.start}, ${run.end})`);
    t.true(c.bytesFetched >= c.coverage.bytesRead);
    t.true(c.requests > 0);
    t.is(await readButNotFetched(c, side === 'a' ? urlA : urlB), 0, 'every byte read was fetched in this job, with its hash');
    // The workers' own openings of the model for the controls (config, headers) are in the reads too.
    const config = c.files.find((f) => f.role === 'config')!.url;
    const configReads = (x: RemoteSection) => x.reads.filter((r) => r.url === config).length;
    t.true(configReads(c) > configReads(l), `config.json fetched ${configReads(c)} times on the cluster, ${configReads(l)} locally`);
    t.is(await readButNotFetched(l, side === 'a' ? urlA : urlB), 0);
  }
  // The workers' runs are in the report, not only the coordinator's opening reads (headers at offset 0).
  const a = cluster.models.a.remote as RemoteSection;
  t.true(a.reads.length > (local.models.a.remote as RemoteSection).reads.filter((r) => r.start === 0).length);

  // Sampled: the weights pass reads a fraction, the same ranges on the cluster as locally.
  await rpc.submit({ jobId: 'read-logs-sampled', modelA: urlA, modelB: urlB, options: { targetTaskBytes: 300_000, sample: 0.1, seed: 3 } });
  const sampledLast = (await rpc.watch('read-logs-sampled')).at(-1)!;
  t.is(sampledLast.state, JobState.JOB_STATE_DONE, sampledLast.error);
  const sampled = await rpc.report('read-logs-sampled') as ComparisonReport;
  const sampledLocal = await compareModels(urlA, urlB, { targetTaskBytes: 300_000, sample: 0.1, seed: 3, threads: 1, remote: { token: HUB_TOKEN } });
  for (const side of ['a', 'b'] as const) {
    const c = sampled.models[side].remote as RemoteSection;
    const l = sampledLocal.models[side].remote as RemoteSection;
    // (Small tensors of this tiny model are read whole: about 0.6 of the bytes.)
    t.true(c.phases.weights.fraction! < 0.9, `sampled: ${c.phases.weights.fraction}`);
    t.is(c.phases.weights.bytesRead, l.phases.weights.bytesRead);
    t.is(c.phases.controls!.bytesRead, l.phases.controls!.bytesRead);
    t.deepEqual(c.coverage.tensors, l.coverage.tensors);
    // The workers kept nothing of the first job's fetches for this one: its own runs cover what it read.
    t.is(await readButNotFetched(c, side === 'a' ? urlA : urlB), 0);
  }
});

unless(NATS_MISSING, test.serial)('a worker killed while it holds a control task on model URLs: its log is lost with it, the redelivered task\'s counts, and the bytes read equal the local run\'s', async (t) => {
  t.timeout(180_000);
  // A short lease, so the dead worker's control task comes back within the test.
  const { nats, rpc } = await testCluster(t, root, { allowUrls: true, hubToken: HUB_TOKEN, ackWaitMs: 1_500 });
  const { outcomes } = await recordResults(nats.url, t);
  // Alone at first, so that it runs the weights pass and then takes a control task.
  const { child, log } = await workerProcess(t, nats.url, 'doomed', ['--allow-urls', '--hub-token', HUB_TOKEN]);

  const [urlA, urlB] = [server.folderUrl('org/base'), server.folderUrl('org/derived')];
  const submitted = await rpc.submit({ jobId: 'read-logs-kill', modelA: urlA, modelB: urlB, options: { targetTaskBytes: 300_000 } });
  const held = Number(await waitFor('the worker to take a control task', () => /started task read-logs-kill\/(\d+) \(control:/.exec(log())?.[1], 120_000));
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
  t.true(held >= submitted.job!.tasksTotal, 'a control task');
  t.false(outcomes.some((o) => o.taskId === held), 'the killed worker did not answer it');

  const workers = await Promise.all([1, 2].map(() => startWorker({ ...WORKER, nats: nats.url, threads: 1, hubToken: HUB_TOKEN, allowUrls: true })));
  t.teardown(() => Promise.all(workers.map((w) => w.stop())));
  const last = (await rpc.watch('read-logs-kill')).at(-1)!;
  t.is(last.state, JobState.JOB_STATE_DONE, last.error);
  const again = outcomes.find((o) => o.taskId === held);
  t.true(again !== undefined && again.attempt >= 2 && again.readLog !== undefined, 'answered on a later delivery, with its log');

  const cluster = await rpc.report('read-logs-kill') as ComparisonReport;
  const local = await compareModels(urlA, urlB, { targetTaskBytes: 300_000, threads: 1, remote: { token: HUB_TOKEN } });
  t.is(cluster.run.readLogs!.dropped, 0);
  for (const side of ['a', 'b'] as const) {
    const c = cluster.models[side].remote as RemoteSection;
    const l = local.models[side].remote as RemoteSection;
    t.is(c.phases.weights.bytesRead, l.phases.weights.bytesRead);
    t.is(c.phases.controls!.bytesRead, l.phases.controls!.bytesRead);
    t.deepEqual(c.coverage.tensors, l.coverage.tensors);
    for (const run of c.reads) t.is(run.sha256, sha256(servedBytes(run.url, run.start, run.end)));
  }
});

unless(NATS_MISSING, test.serial)('a worker with the key that sends a hostile read log: its entries are dropped and counted, the job is done and its evidence intact; a task answered twice counts its bytes read once, its fetches twice', async (t) => {
  t.timeout(180_000);
  const { nats, rpc, jsm, coordinator } = await testCluster(t, root, { allowUrls: true, hubToken: HUB_TOKEN, metricsPort: 0 });
  const [urlA, urlB] = [server.folderUrl('org/base'), server.folderUrl('org/derived')];
  await rpc.submit({ jobId: 'hostile-log', modelA: urlA, modelB: urlB, options: { targetTaskBytes: 300_000 } });
  // Task 0 as the coordinator signed it (still queued: no worker runs yet), for its MAC and a file it reads.
  const key = ClusterKey.load({ key: CLUSTER_KEY }, 'the test');
  const manager = await jsm();
  const stored = await waitFor('task 0 on the queue', () => manager.streams.getMessage(TASKS_STREAM, { last_by_subj: taskSubject('hostile-log', 0) }).catch(() => null), 60_000);
  const { envelope, mac } = openTask(key, stored.subject, stored.data, stored.header, taskSubject);
  const { url, pin } = splitPinnedFile(envelope.task.items[0]!.a!.file);
  const size = pin!.size;
  const hostile = {
    log: {
      runs: [
        { url, start: 0, end: size + 1, sha256: HEX }, // past the end
        { url: 'http://127.0.0.1:1/evil.safetensors', start: 0, end: 10, sha256: HEX }, // not the job's
        { url, start: 0, end: 10, sha256: 'XYZ' }, // not hex
        'junk',
      ],
      served: { [url]: [[0, size + 100]], 'http://127.0.0.1:1/': [[0, 1]] },
      stats: { [url]: { requests: -5, retries: 'many', bytes: 1e300 } },
      changes: 'nope',
      failures: [{ url, reason: 42 }],
    },
    omitted: null,
  };
  // The first real answer to task 0, sent again as two more deliveries: one with the hostile log,
  // one with the real log (a task run twice: its fetches count twice, its bytes read once).
  const evil = await connect({ servers: nats.url });
  t.teardown(() => evil.close());
  const js = jetstream(evil);
  let sent: Promise<unknown> | null = null;
  let realRuns: ReadLog['runs'] = [];
  evil.subscribe(resultSubject('hostile-log'), {
    callback: (_e, m) => {
      const real = decodeTaskResult(m.data);
      if (real.taskId !== 0 || ['hostile', 'twice'].includes(real.worker) || sent || !real.readLog) return;
      realRuns = (decodeReadLog(real.readLog) as { log: ReadLog }).log.runs;
      const copies = [
        { ...real, worker: 'hostile', attempt: real.attempt + 100, readLog: gzipSync(Buffer.from(JSON.stringify(hostile))) },
        { ...real, worker: 'twice', attempt: real.attempt + 200 },
      ];
      sent = Promise.all(copies.map((outcome) => {
        const signed = signResult(key, outcome, mac);
        return js.publish(resultSubject('hostile-log'), signed.data, { msgID: resultMessageId(outcome, signed), headers: signed.headers });
      }));
    },
  });
  const workers = await Promise.all([1, 2].map(() => startWorker({ ...WORKER, nats: nats.url, threads: 1, hubToken: HUB_TOKEN, allowUrls: true })));
  t.teardown(() => Promise.all(workers.map((w) => w.stop())));
  const last = (await rpc.watch('hostile-log')).at(-1)!;
  t.is(last.state, JobState.JOB_STATE_DONE, last.error);
  t.truthy(sent, 'the hostile copy was sent');
  await sent;

  const cluster = await rpc.report('hostile-log') as ComparisonReport;
  const local = await compareModels(urlA, urlB, { targetTaskBytes: 300_000, threads: 1, remote: { token: HUB_TOKEN } });
  t.deepEqual(cluster.weights, local.weights);
  // 4 runs, 2 served ranges, 1 URL's counters, changes (not a list), 1 failure.
  t.is(cluster.run.readLogs!.dropped, 9, cluster.run.readLogs!.notes.join('; '));
  t.true(cluster.run.readLogs!.notes.length > 0 && cluster.run.readLogs!.notes.every((n) => n.startsWith('task 0 (worker hostile)')));
  // The coordinator's metrics count them, by reason: runs past the end and a served range past it;
  // a run and served ranges of a URL not the job's; a run's hash; a run, the counters, changes and a failure of the wrong shape.
  const metrics = await (await fetch(`http://${coordinator.metricsAddress}/metrics`)).text();
  const droppedBy = Object.fromEntries([...metrics.matchAll(/^lineage_read_log_entries_dropped_total\{reason="([a-z-]+)"\} (\S+)$/gm)].map((m) => [m[1]!, Number(m[2])]));
  t.deepEqual(droppedBy, { 'refused': 0, 'over-limit': 0, 'foreign-url': 2, 'out-of-range': 2, 'bad-hash': 1, 'malformed': 4 });
  for (const side of ['a', 'b'] as const) {
    const c = cluster.models[side].remote as RemoteSection;
    const l = local.models[side].remote as RemoteSection;
    t.deepEqual(c.coverage.tensors, l.coverage.tensors);
    t.is(c.phases.controls!.bytesRead, l.phases.controls!.bytesRead);
    t.deepEqual(c.failures, []);
    t.deepEqual(c.changes, []);
    t.true(c.reads.every((r) => r.end <= c.files.find((f) => f.url === r.url)!.size));
    for (const run of c.reads) t.is(run.sha256, sha256(servedBytes(run.url, run.start, run.end)));
    t.is(c.phases.weights.bytesRead, l.phases.weights.bytesRead, 'the task run twice counts its bytes read once');
  }
  // ... and its fetches twice: every run of its log is in the report (at least) twice.
  const reads = [...(cluster.models.a.remote as RemoteSection).reads, ...(cluster.models.b.remote as RemoteSection).reads];
  t.true(realRuns.length > 0);
  for (const run of realRuns) t.true(reads.filter((r) => r.url === run.url && r.start === run.start && r.end === run.end).length >= 2);
});

/**
 * The controls' first tasks (the hidden and layer alignments) are queued ahead of the weights
 * pass's: a worker of its own answers them, then stops, finishing the weights task it may have
 * taken meanwhile. A fault injected after this meets weights tasks only, each from its start.
 */
async function leadControlsAnswered(url: string, outcomes: TaskOutcome[], weightsTasks: number): Promise<void> {
  // Stopped from its log as it finishes its second control task, before it pulls another: a worker
  // stopped while a pull is on the wire may not get the task the server sent it, and that spends
  // one of the task's deliveries (the only one, in a test with max_deliver 1).
  let finished = 0;
  let stopped: Promise<void> | undefined;
  // startWorker returns before any task can finish (its loops' first pulls wait on the server), so `worker` is set by then.
  const worker: Awaited<ReturnType<typeof startWorker>> = await startWorker({
    ...WORKER, id: 'lead', nats: url, threads: 1, hubToken: HUB_TOKEN, allowUrls: true,
    log: (line) => {
      const id = /^finished task [^/]+\/(\d+) /.exec(line)?.[1];
      if (id !== undefined && Number(id) >= weightsTasks && ++finished === 2) stopped = worker.stop();
    },
  });
  try {
    await waitFor('the controls\' first answers', () => outcomes.filter((o) => o.taskId >= weightsTasks && !o.retrying && o.error === null).length >= 2, 60_000);
  } finally {
    await (stopped ?? worker.stop());
  }
}

unless(NATS_MISSING, test.serial)('a task whose delivery fails after fetching (its reads of model B answer 503 until a worker gives up): the failed delivery\'s log is in the report, its fetches counted, not its ranges used', async (t) => {
  t.timeout(180_000);
  const { nats, rpc } = await testCluster(t, root, { allowUrls: true, hubToken: HUB_TOKEN });
  const { outcomes } = await recordResults(nats.url, t);
  const [urlA, urlB] = [server.folderUrl('org/base'), server.folderUrl('org/derived')];
  const submitted = await rpc.submit({ jobId: 'failed-delivery', modelA: urlA, modelB: urlB, options: { targetTaskBytes: 300_000 } });
  const total = submitted.job!.tasksTotal;
  let failures = 0;
  const onLine = (line: string) => {
    if (!/failed \(delivery \d+\), will be retried/.test(line)) return;
    failures++;
    server.clearFaults();
  };
  await leadControlsAnswered(nats.url, outcomes, total);
  // From now on model B's tensor bytes answer 503, so a weights task reads its A ranges and then
  // fails on B once the HTTP client's retries run out (a read failure: retried). The first failure
  // lifts the fault, and the task's next delivery succeeds.
  server.inject({ kind: '503', match: /^\/cdn\/org\/derived\//, times: 1_000_000 });
  t.teardown(() => server.clearFaults());
  const workers = await Promise.all([1, 2].map((n) => startWorker({ ...WORKER, id: `w${n}`, nats: nats.url, threads: 1, hubToken: HUB_TOKEN, allowUrls: true, log: onLine })));
  t.teardown(() => Promise.all(workers.map((w) => w.stop())));
  const last = (await rpc.watch('failed-delivery')).at(-1)!;
  t.is(last.state, JobState.JOB_STATE_DONE, last.error);
  t.true(failures >= 1, 'a delivery failed and was retried');

  // The failed delivery sent its log (marked as not the task's outcome), and the task was answered on a later delivery.
  const failed = outcomes.filter((o) => o.retrying);
  t.true(failed.length >= 1, 'a failed delivery\'s log came back');
  for (const f of failed) {
    t.regex(f.error ?? '', /ReadFailedError|503/);
    t.truthy(f.readLog);
    const answer = outcomes.find((o) => o.taskId === f.taskId && !o.retrying && o.error === null);
    t.true(answer !== undefined && answer.attempt > f.attempt, `task ${f.taskId} answered on a later delivery`);
  }
  const failedLogs = failed.map((f) => (decodeReadLog(f.readLog!) as { log: ReadLog }).log);
  const failedRuns = failedLogs.flatMap((l) => l.runs);
  t.true(failedRuns.length > 0, 'it fetched model A\'s bytes before failing');
  t.true(failedLogs.some((l) => Object.values(l.stats).some((s) => s.retries > 0)), 'its retries are in its log');

  const cluster = await rpc.report('failed-delivery') as ComparisonReport;
  const local = await compareModels(urlA, urlB, { targetTaskBytes: 300_000, threads: 1, remote: { token: HUB_TOKEN } });
  const logs = cluster.run.readLogs!;
  t.is(logs.dropped, 0, logs.notes.join('; '));
  t.is(logs.failedDeliveries, new Set(failed.map((o) => `${o.taskId}/${o.attempt}/${o.worker}`)).size);
  t.is(logs.received, new Set(outcomes.filter((o) => o.readLog).map((o) => `${o.taskId}/${o.attempt}/${o.worker}`)).size, 'every log, failed deliveries\' included');
  // Every run the failed deliveries fetched is in the report, with its hash; the bytes they fetched count.
  const sections = (['a', 'b'] as const).map((side) => cluster.models[side].remote as RemoteSection);
  const reads = sections.flatMap((c) => c.reads);
  for (const run of failedRuns) t.true(reads.some((r) => r.url === run.url && r.start === run.start && r.end === run.end && r.sha256 === run.sha256), `${run.url} [${run.start}, ${run.end})`);
  const fetchedA = failedRuns.filter((r) => r.url.includes('/org/base/')).reduce((n, r) => n + r.end - r.start, 0);
  t.true(fetchedA > 0);
  t.true(sections[0]!.retries === 0 && sections[1]!.retries >= 5, `the 503s' retries are counted: a ${sections[0]!.retries}, b ${sections[1]!.retries}`);
  for (const [i, side] of (['a', 'b'] as const).entries()) {
    const c = sections[i]!;
    const l = local.models[side].remote as RemoteSection;
    // What was used is what the answers used: the same as the local run's.
    t.is(c.phases.weights.bytesRead, l.phases.weights.bytesRead);
    t.deepEqual(c.coverage.tensors, l.coverage.tensors);
    t.is(c.coverage.fraction, 1);
    t.deepEqual(c.failures, [], 'a delivery that failed and was retried is no failure of the report\'s');
    for (const run of c.reads) t.is(run.sha256, sha256(servedBytes(run.url, run.start, run.end)));
    t.is(await readButNotFetched(c, side === 'a' ? urlA : urlB), 0);
  }
  // Its fetches count on top of the answers': the report's weights fetches hold the failed delivery's bytes of A.
  const answeredA = outcomes.filter((o) => !o.retrying && o.readLog && !o.controlResult && o.error === null)
    .flatMap((o) => (decodeReadLog(o.readLog!) as { log: ReadLog }).log.runs).filter((r) => r.url.includes('/org/base/'))
    .reduce((n, r) => n + r.end - r.start, 0);
  t.is(sections[0]!.phases.weights.bytesFetched, answeredA + fetchedA);
});

unless(NATS_MISSING, test.serial)('a control task whose delivery fails (model B answers 503 from the controls\' start until a worker gives up): the failed delivery\'s log is in the controls\' fetches, the controls as the local run\'s', async (t) => {
  t.timeout(180_000);
  const { nats, rpc } = await testCluster(t, root, { allowUrls: true, hubToken: HUB_TOKEN });
  const { outcomes } = await recordResults(nats.url, t);
  const [urlA, urlB] = [server.folderUrl('org/base'), server.folderUrl('org/derived')];
  const submitted = await rpc.submit({ jobId: 'failed-control', modelA: urlA, modelB: urlB, options: { targetTaskBytes: 300_000 } });
  t.teardown(() => server.clearFaults());
  let injected = false;
  let failures = 0;
  const onLine = (line: string) => {
    // Logged before the task runs: its thread then opens the models for the controls, and B's bytes answer 503.
    if (!injected && /started task failed-control\/\d+ \(control:/.test(line)) {
      injected = true;
      server.inject({ kind: '503', match: /^\/cdn\/org\/derived\//, times: 1_000_000 });
    }
    if (/failed \(delivery \d+\), will be retried/.test(line)) {
      failures++;
      server.clearFaults();
    }
  };
  const workers = await Promise.all([1, 2].map((n) => startWorker({ ...WORKER, id: `c${n}`, nats: nats.url, threads: 1, hubToken: HUB_TOKEN, allowUrls: true, log: onLine })));
  t.teardown(() => Promise.all(workers.map((w) => w.stop())));
  const last = (await rpc.watch('failed-control')).at(-1)!;
  t.is(last.state, JobState.JOB_STATE_DONE, last.error);
  t.true(injected && failures >= 1, 'a control task\'s delivery failed and was retried');

  const failed = outcomes.filter((o) => o.retrying);
  t.true(failed.length >= 1);
  for (const f of failed) {
    t.true(f.taskId >= submitted.job!.tasksTotal, 'a control task');
    t.regex(f.error ?? '', /ReadFailedError|503/);
    t.truthy(f.readLog);
  }
  const failedRuns = failed.flatMap((f) => (decodeReadLog(f.readLog!) as { log: ReadLog }).log.runs);
  t.true(failedRuns.length > 0, 'it fetched bytes (model A\'s opening) before failing');
  // Model B's opening itself failed (its shard header answers 503): what it fetched before giving up
  // (config and small files, from the hub) is in the failed delivery's log too, and its retries counted.
  const failedLogs = failed.map((f) => (decodeReadLog(f.readLog!) as { log: ReadLog }).log);
  t.true(failedRuns.some((r) => /\/org\/derived\/.*\/config\.json$/.test(r.url)), 'model B\'s failed opening fetched its config.json, and the log says so');
  t.true(failedLogs.some((l) => Object.entries(l.stats).some(([url, st]) => url.includes('/org/derived/') && url.endsWith('.safetensors') && st.retries > 0)), 'the shard header it gave up on, with its retries');

  const cluster = await rpc.report('failed-control') as ComparisonReport;
  const local = await compareModels(urlA, urlB, { targetTaskBytes: 300_000, threads: 1, remote: { token: HUB_TOKEN } });
  t.is(cluster.run.readLogs!.dropped, 0, cluster.run.readLogs!.notes.join('; '));
  t.is(cluster.run.readLogs!.failedDeliveries, failed.length);
  t.deepEqual(cluster.controls, local.controls, 'the retried control task answered as it does locally');
  const sections = (['a', 'b'] as const).map((side) => cluster.models[side].remote as RemoteSection);
  const reads = sections.flatMap((c) => c.reads);
  for (const run of failedRuns) t.true(reads.some((r) => r.url === run.url && r.start === run.start && r.end === run.end && r.sha256 === run.sha256), `${run.url} [${run.start}, ${run.end})`);
  for (const [i, side] of (['a', 'b'] as const).entries()) {
    const l = local.models[side].remote as RemoteSection;
    t.is(sections[i]!.phases.controls!.bytesRead, l.phases.controls!.bytesRead);
    t.deepEqual(sections[i]!.coverage.tensors, l.coverage.tensors);
    t.deepEqual(sections[i]!.failures, []);
    for (const run of sections[i]!.reads) t.is(run.sha256, sha256(servedBytes(run.url, run.start, run.end)));
  }
});

unless(NATS_MISSING, test.serial)('a task that fails for good (one delivery allowed, model B answers 503): its failure carries what it fetched, counted as fetched and not as read', async (t) => {
  t.timeout(180_000);
  const { nats, rpc } = await testCluster(t, root, { allowUrls: true, hubToken: HUB_TOKEN, maxDeliver: 1 });
  const { nc, outcomes } = await recordResults(nats.url, t);
  // The tasks as published: which tensors the failed one holds.
  const tasks = new Map<number, TaskEnvelope['task']>();
  nc.subscribe(jobTasksFilter('failed-task'), { callback: (_e, m) => { const { task } = decodeTask(m.data); tasks.set(task.id, task); } });
  const [urlA, urlB] = [server.folderUrl('org/base'), server.folderUrl('org/derived')];
  const submitted = await rpc.submit({ jobId: 'failed-task', modelA: urlA, modelB: urlB, options: { targetTaskBytes: 300_000 } });
  const total = submitted.job!.tasksTotal;
  await leadControlsAnswered(nats.url, outcomes, total);
  server.inject({ kind: '503', match: /^\/cdn\/org\/derived\//, times: 1_000_000 });
  t.teardown(() => server.clearFaults());
  // One worker: one task fails (its only delivery), then the fault is lifted and the rest are answered.
  const worker = await startWorker({ ...WORKER, nats: nats.url, threads: 1, hubToken: HUB_TOKEN, allowUrls: true, log: (line) => { if (/ failed: /.test(line)) server.clearFaults(); } });
  t.teardown(() => worker.stop());
  const last = (await rpc.watch('failed-task')).at(-1)!;
  t.is(last.state, JobState.JOB_STATE_DONE, last.error);
  const failed = outcomes.filter((o) => o.error !== null);
  const failures = failed.map((o) => `task ${o.taskId} on ${o.worker}: ${o.error}`).join('; ');
  t.is(last.tasksFailed, 1, failures);
  t.is(failed.length, 1, failures);
  const f = failed[0]!;
  t.falsy(f.retrying);
  t.regex(f.error!, /last delivery \(1 of 1\).*(ReadFailedError|503)/);
  t.truthy(f.readLog, 'the failure carries its read log');
  const failedLog = (decodeReadLog(f.readLog!) as { log: ReadLog }).log;
  const onA = (url: string) => url.includes('/org/base/');
  const fetchedA = failedLog.runs.filter((r) => onA(r.url)).reduce((n, r) => n + r.end - r.start, 0);
  const servedA = Object.entries(failedLog.served).filter(([url]) => onA(url)).reduce((n, [, rs]) => n + rs.reduce((x, [a, b]) => x + b - a, 0), 0);
  t.true(fetchedA > 0 && servedA > 0, `it fetched (${fetchedA}) and used (${servedA}) bytes of A before failing`);

  const cluster = await rpc.report('failed-task') as ComparisonReport;
  const local = await compareModels(urlA, urlB, { targetTaskBytes: 300_000, threads: 1, remote: { token: HUB_TOKEN } });
  t.is(cluster.run.readLogs!.dropped, 0, cluster.run.readLogs!.notes.join('; '));
  t.is(cluster.run.readLogs!.failedDeliveries, 1);
  const a = cluster.models.a.remote as RemoteSection;
  const l = local.models.a.remote as RemoteSection;
  for (const run of failedLog.runs) t.true([...a.reads, ...(cluster.models.b.remote as RemoteSection).reads].some((r) => r.url === run.url && r.start === run.start && r.end === run.end && r.sha256 === run.sha256));
  const answeredA = outcomes.filter((o) => o.error === null && o.readLog && !o.controlResult)
    .flatMap((o) => (decodeReadLog(o.readLog!) as { log: ReadLog }).log.runs).filter((r) => onA(r.url)).reduce((n, r) => n + r.end - r.start, 0);
  t.is(a.phases.weights.bytesFetched, answeredA + fetchedA, 'its fetches count');
  // Its ranges used are not: the weights pass used all of A's tensors but the failed task's, which no answer used.
  const failedTask = tasks.get(f.taskId)!;
  const taskA = failedTask.items.flatMap((i) => [i.a, i.scalesA]).reduce((n, ref) => n + (ref ? ref.byteLength : 0), 0);
  // The fault is there from its start: it fails on its first tensor of B, so with several tensors
  // part-way through them (the weights task it meets may hold one tensor only: the lead controls'
  // worker may have taken the largest).
  if (failedTask.items.length > 1) t.true(taskA > servedA, 'it failed part-way through its tensors');
  else t.true(taskA >= servedA, 'it used no more than its tensor');
  t.is(a.phases.weights.bytesRead, l.phases.weights.bytesRead - taskA);
  t.deepEqual(a.failures, []);
  for (const run of a.reads) t.is(run.sha256, sha256(servedBytes(run.url, run.start, run.end)));
});

// ---- The coordinator's checks, unit by unit ----

const FILE = 'https://hub.example/org/m/resolve/abc/model-00001.safetensors';
const OTHER = 'https://evil.example/org/m/resolve/abc/model-00001.safetensors';
const FILES = new Map([[FILE, 10_000]]);
const HEX = 'ab'.repeat(32);
const goodLog = (): ReadLog => ({
  runs: [{ url: FILE, start: 0, end: 100, sha256: HEX }],
  served: { [FILE]: [[8, 100]] },
  stats: { [FILE]: { requests: 2, retries: 0, bytes: 100 } },
  changes: [],
  failures: [],
});

test('a well-formed log is kept as it is', (t) => {
  const checked = readLogOfResult(encodeReadLog(goodLog()), FILES);
  t.is(checked.dropped, 0);
  t.deepEqual(checked.notes, []);
  t.deepEqual(checked.log, goodLog());
});

test('hostile or malformed entries are dropped and counted, the rest kept', (t) => {
  const raw = {
    log: {
      runs: [
        { url: FILE, start: 0, end: 100, sha256: HEX },
        { url: OTHER, start: 0, end: 100, sha256: HEX }, // not one of the job's files
        { url: FILE, start: 9_990, end: 10_001, sha256: HEX }, // past the file's end
        { url: FILE, start: 50, end: 50, sha256: HEX }, // empty
        { url: FILE, start: -1, end: 10, sha256: HEX }, // negative
        { url: FILE, start: 0.5, end: 10, sha256: HEX }, // not an integer
        { url: FILE, start: '0', end: 10, sha256: HEX }, // wrong type
        { url: FILE, start: 0, end: 10, sha256: 'AB'.repeat(32) }, // not lower-case hex
        { url: FILE, start: 0, end: 10, sha256: 'zz'.repeat(32) }, // not hex
        { url: FILE, start: 0, end: 10, sha256: HEX + '00' }, // too long
        null, 7, 'run',
      ],
      // A key named __proto__ is an own key of parsed JSON: it must be taken for a string, not a prototype.
      served: JSON.parse(`{"${FILE}": [[8, 100], [9000, 20000], [5, "x"], 3], "${OTHER}": [[0, 10]], "__proto__": [[0, 1]]}`) as unknown,
      stats: { [FILE]: { requests: 2, retries: -1, bytes: 100 }, [OTHER]: { requests: 1, retries: 0, bytes: 1 } },
      changes: [{ url: OTHER, reason: 'x' }],
      failures: [{ url: FILE, reason: 'y'.repeat(5_000) }],
    },
    omitted: null,
  };
  const checked = checkReadLog(raw, FILES);
  t.deepEqual(checked.log.runs, [{ url: FILE, start: 0, end: 100, sha256: HEX }]);
  t.deepEqual(checked.log.served, { [FILE]: [[8, 100]] });
  t.deepEqual(checked.log.stats, {});
  t.deepEqual(checked.log.changes, []);
  t.is(checked.log.failures.length, 1);
  t.is(checked.log.failures[0]!.reason.length, 1_000, 'a long reason is cut');
  // 12 runs; 5 served ranges (3 of the file, 1 of the other URL, 1 under __proto__); 2 counters; 1 change.
  t.is(checked.dropped, 12 + 5 + 2 + 1);
  // By reason (the metric's label): runs 1 + 2 + 6 + 3, served 2 + 1 + 2, counters 1 + 1, the change 1.
  t.deepEqual(checked.droppedBy, { 'foreign-url': 1 + 2 + 1 + 1, 'out-of-range': 2 + 1, 'malformed': 6 + 2 + 1, 'bad-hash': 3 });
  t.true(checked.notes.some((n) => /not one of the job's files/.test(n)));
  t.true(checked.notes.some((n) => /outside its file/.test(n)));
  t.true(checked.notes.some((n) => /64 hex/.test(n)));
});

test('wrong types at the top, huge arrays and oversized or broken messages are refused, never thrown', (t) => {
  for (const raw of [null, 1, 'log', [], { log: null }, { log: [] }]) {
    const checked = checkReadLog(raw, FILES);
    t.deepEqual(checked.log.runs, []);
    t.is(checked.dropped, 1);
  }
  const wrongTypes = checkReadLog({ log: { runs: 'x', served: [], stats: 3, changes: {}, failures: 'f' } }, FILES);
  t.is(wrongTypes.dropped, 5);
  t.deepEqual(wrongTypes.droppedBy, { malformed: 5 });
  t.deepEqual(wrongTypes.log, { runs: [], served: {}, stats: {}, changes: [], failures: [] });

  const many = Array.from({ length: MAX_LOG_RUNS + 1 }, () => ({ url: FILE, start: 0, end: 10, sha256: HEX }));
  const huge = checkReadLog({ log: { runs: many, served: { [FILE]: Array.from({ length: 60_000 }, () => [0, 1]) } } }, FILES);
  t.deepEqual(huge.log.runs, []);
  t.deepEqual(huge.log.served, {});
  t.is(huge.dropped, MAX_LOG_RUNS + 1 + 60_000);
  t.deepEqual(huge.droppedBy, { 'over-limit': MAX_LOG_RUNS + 1 + 60_000 });
  t.deepEqual(checkReadLog(null, FILES).droppedBy, { refused: 1 });
  t.deepEqual(readLogOfResult(new Uint8Array([1, 2, 3]), FILES).droppedBy, { refused: 1 });

  // Over the compressed limit, not gzip, a gzip bomb, not JSON: refused whole.
  t.regex(readLogOfResult(new Uint8Array(MAX_READ_LOG_WIRE_BYTES + 1), FILES).notes[0]!, /over the .* limit/);
  t.regex(readLogOfResult(new Uint8Array([1, 2, 3]), FILES).notes[0]!, /does not inflate/);
  t.regex(readLogOfResult(gzipSync(Buffer.alloc(64 * 1024 * 1024)), FILES).notes[0]!, /does not inflate/);
  t.regex(readLogOfResult(gzipSync(Buffer.from('{not json')), FILES).notes[0]!, /not JSON/);
});

test('a worker leaves the runs out of a log too big to send, and says so', (t) => {
  const runs = Array.from({ length: 30_000 }, (_, i) => ({ url: FILE, start: i, end: i + 1, sha256: createHash('sha256').update(String(i)).digest('hex') }));
  const wire = encodeReadLog({ ...goodLog(), runs });
  t.true(wire.length <= MAX_READ_LOG_WIRE_BYTES);
  const checked = readLogOfResult(wire, new Map([[FILE, 100_000]]));
  t.deepEqual(checked.log.runs, []);
  t.deepEqual(checked.log.served, goodLog().served, 'the coverage still comes back');
  t.regex(checked.notes[0]!, /left part out: runs left out: 30000 fetched runs/);
  // The room a result message leaves bounds it further.
  const small = encodeReadLog({ ...goodLog(), runs: runs.slice(0, 1_000) }, 4_096);
  t.true(small.length <= 4_096);
  t.deepEqual(readLogOfResult(small, new Map([[FILE, 100_000]])).log.served, goodLog().served);
});

/** The base model opened over HTTP, and the log of a reader that fetched and used one of its tensors whole. */
async function oneTensorLog(t: { teardown(fn: () => unknown): void }, stats: { requests: number; retries: number }) {
  const ck = await openModel(server.folderUrl('org/base'), { token: HUB_TOKEN });
  t.teardown(() => releaseRemoteCheckpoint(ck));
  if (!isRemoteCheckpoint(ck)) throw new Error('expected a remote checkpoint');
  const tensor = ck.tensors.find((x) => x.byteLength > 1000)!;
  const { url } = splitPinnedFile(tensor.file);
  const [start, end] = [tensor.offset, tensor.offset + tensor.byteLength];
  const log: ReadLog = {
    runs: [{ url, start, end, sha256: sha256(servedBytes(url, start, end)) }],
    served: { [url]: [[start, end]] }, stats: { [url]: { ...stats, bytes: end - start } }, changes: [], failures: [],
  };
  return { ck, tensor, url, start, end, log };
}

test('a task\'s log counted twice (a redelivered task) leaves the distinct bytes read as they are; fetched bytes count twice', async (t) => {
  const { ck, tensor, log } = await oneTensorLog(t, { requests: 1, retries: 0 });
  const once = remoteSection(ck, [log], [log]);
  const twice = remoteSection(ck, [log, log], [log, log]);
  t.is(twice.coverage.bytesRead, once.coverage.bytesRead);
  t.deepEqual(twice.coverage.tensors, once.coverage.tensors);
  t.is(twice.phases.weights.bytesRead, once.phases.weights.bytesRead);
  t.is(twice.phases.controls!.bytesRead, once.phases.controls!.bytesRead);
  t.is(once.phases.weights.bytesRead, tensor.byteLength);
  t.is(twice.phases.weights.bytesFetched, 2 * once.phases.weights.bytesFetched);
  t.is(twice.requests, once.requests + 2);
});

test('a failed delivery\'s log counts its fetches and requests, not its ranges used', async (t) => {
  const { ck, url, start, end, log } = await oneTensorLog(t, { requests: 3, retries: 2 });
  log.failures = [{ url, reason: 'gave up' }];
  const failed = fetchesOnly(checkReadLog({ log, omitted: null }, new Map([[url, ck.remote.files.find((f) => f.url === url)!.size]])).log);
  const none = remoteSection(ck, [], []);
  const withFailed = remoteSection(ck, [failed], []);
  t.is(withFailed.phases.weights.bytesRead, 0, 'its ranges used are not coverage');
  t.is(withFailed.coverage.bytesRead, none.coverage.bytesRead);
  t.is(withFailed.phases.weights.bytesFetched, end - start);
  t.is(withFailed.bytesFetched, none.bytesFetched + end - start);
  t.is(withFailed.requests, none.requests + 3);
  t.is(withFailed.retries, none.retries + 2);
  t.true(withFailed.reads.some((r) => r.start === start && r.end === end));
  t.deepEqual(withFailed.failures, none.failures, 'its own failure is its task\'s error, not the report\'s');
});
