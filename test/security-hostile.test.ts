/**
 * An attacker on the same NATS (no cluster key) against a real coordinator and worker: it asks a
 * worker to read a file, forges results before and after Submit, rewrites a stored report and a
 * job record, and drops malformed records in the jobs bucket. None of it changes anything: no byte
 * of the file leaves the worker, the report equals the local one, tampering is refused as such,
 * and the coordinator keeps serving (and starts again over the same bucket).
 */
import test from 'ava';
import { status } from '@grpc/grpc-js';
import { connect, headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compareModels } from '../core/src/compare/model-report.ts';
import { synthesize } from '../core/src/synth/synth.ts';
import { startCoordinator, type RunningCoordinator } from '../coordinator/src/index.ts';
import { startWorker } from '../worker/src/index.ts';
import { ClusterKey } from '../proto/cluster-key.ts';
import { decodeTaskResult, encodeTask, encodeTaskResult, type TaskOutcome } from '../proto/convert.ts';
import { JOBS_BUCKET, MAX_DELIVERIES_ADVISORY, REPORTS_BUCKET, resultSubject, taskSubject } from '../proto/jetstream.ts';
import { JobState, WorkerHeartbeat } from '../proto/lineage/v1/lineage.ts';
import { MAC_HEADER, signTask } from '../proto/signed.ts';
import { CLUSTER_KEY, codeOf, COORDINATOR, Rpc, TOKEN, waitFor } from './helpers/cluster.ts';
import { startNatsServer } from './helpers/nats-server.ts';
import { NATS_MISSING, unless } from './helpers/skip.ts';
import { tempDir } from './helpers/tmpdir.ts';

const TASK_BYTES = 200_000;
const SECRET = 'the-secret-is-swordfish\n';

/** Results saying every tensor of every task is identical, cosine 1: what a forger would send. */
function forgedOutcome(jobId: string, taskId: number): TaskOutcome {
  const moments = { n: 1000, meanA: 0, meanB: 0, m2a: 1000, m2b: 1000, cab: 1000, sdd: 0, maxAbsDiff: 0, nanA: 0, infA: 0, nanB: 0, infB: 0, excluded: 0 };
  return {
    jobId, taskId, worker: 'evil', error: null, seconds: 0.1, kernel: 'js', attempt: 1,
    results: Array.from({ length: 400 }, (_, index) => ({ index, moments, blocks: null, hashA: 'aa'.repeat(16), hashB: 'aa'.repeat(16), error: null })),
  };
}

/** Publishes forged results for tasks 0..n-1 of a job: unsigned, with a made-up MAC, and with the old guessable message id. */
async function forgeResults(evil: NatsConnection, jobId: string, n: number): Promise<void> {
  const js = jetstream(evil);
  for (let taskId = 0; taskId < n; taskId++) {
    const data = encodeTaskResult(forgedOutcome(jobId, taskId));
    const h = natsHeaders();
    h.set(MAC_HEADER, 'ab'.repeat(32));
    await js.publish(resultSubject(jobId), data, { msgID: `${jobId}.${taskId}` });
    await js.publish(resultSubject(jobId), data, { headers: h });
  }
}

unless(NATS_MISSING, test.serial)('a hostile NATS client changes nothing: file-read task, forged results, rewritten report and records', async (t) => {
  t.timeout(180_000);
  const root = tempDir();
  const base = join(root, 'base');
  const other = join(root, 'other');
  synthesize('base', { out: base, shape: { layers: 2 } });
  synthesize('independent', { out: other, like: base, seed: 7 });
  // A secret outside the model root, as /etc/hostname or a service-account token would be.
  const secret = join(tempDir(), 'secret.txt');
  writeFileSync(secret, SECRET);

  const nats = await startNatsServer();
  t.teardown(() => nats.stop());
  const coordinatorLog: string[] = [];
  let coordinator: RunningCoordinator = await startCoordinator({
    ...COORDINATOR, nats: nats.url, listen: '127.0.0.1:0', token: TOKEN, modelRoots: [root], metricsPort: 0, log: (l) => coordinatorLog.push(l),
  });
  t.teardown(() => coordinator.close());
  const workerLog: string[] = [];
  const worker = await startWorker({ clusterKey: CLUSTER_KEY, modelRoots: [root], nats: nats.url, threads: 1, metricsPort: 0, metricsHost: '127.0.0.1', log: (l) => workerLog.push(l) });
  t.teardown(() => worker.stop());
  let rpc = new Rpc(coordinator.address);
  t.teardown(() => rpc.close());

  const evil = await connect({ servers: nats.url });
  t.teardown(() => evil.close());
  const js = jetstream(evil);
  const kvm = new Kvm(evil);
  const jobsKv = await kvm.open(JOBS_BUCKET);
  const reportsKv = await kvm.open(REPORTS_BUCKET);
  const seen: TaskOutcome[] = [];
  evil.subscribe('lineage.results.>', { callback: (_e, m) => { try { seen.push(decodeTaskResult(m.data)); } catch { /* not a result */ } } });

  // ---- 1. The file-read task: a fake RUNNING record and 1-byte U8 ranges of the secret. ----
  await jobsKv.put('exfil', JSON.stringify({ jobId: 'exfil', state: 'RUNNING' }));
  const items = Array.from({ length: SECRET.length }, (_, i) => ({
    index: i, compare: false, sample: null, scalesA: null, scalesB: null,
    a: { file: secret, offset: i, byteLength: 1, dtype: 'U8' as never, shape: [1] }, b: null,
  }));
  const task = { id: 0, label: 'exfil', bytes: SECRET.length, items };
  await js.publish(taskSubject('exfil', 0), encodeTask({ jobId: 'exfil', task, hash: 'sha256', kernel: 'auto' }));
  await waitFor('the worker to reject the unsigned task', () => workerLog.some((l) => /rejected a task message on lineage\.tasks\.exfil\.0: .*carries no MAC/.test(l)), 60_000);
  // Even a task that does carry the cluster's MAC (a leaked key, a confused coordinator) is held to the roots.
  const key = ClusterKey.load({ key: CLUSTER_KEY }, 'the test');
  const signed = signTask(key, { jobId: 'exfil', task: { ...task, id: 1 }, hash: 'sha256', kernel: 'auto' });
  await js.publish(taskSubject('exfil', 1), signed.data, { headers: signed.headers });
  const refused = await waitFor('the refusal of the signed task', () => seen.find((o) => o.jobId === 'exfil' && o.taskId === 1), 60_000);
  t.regex(refused.error ?? '', /refused: .*secret\.txt.*(not a \.safetensors file|outside this worker's model roots)/);
  t.deepEqual(refused.results, [], 'no hash of any byte came back');
  t.false(seen.some((o) => o.jobId === 'exfil' && o.taskId === 0), 'the unsigned task got no answer at all');

  // ---- 2. Forged results before Submit, for the job id a client is about to use. ----
  await forgeResults(evil, 'forge', 40);
  const submitted = await rpc.submit({ jobId: 'forge', modelA: base, modelB: other, options: { targetTaskBytes: TASK_BYTES } });
  t.true(submitted.job!.tasksTotal > 3, `several tasks (${submitted.job!.tasksTotal})`);
  // ... and after Submit, while it runs, for its control tasks too (ids after the weights pass's,
  // some not planned yet: held until they are, then checked against them).
  await forgeResults(evil, 'forge', submitted.job!.tasksTotal + 30);
  const last = (await rpc.watch('forge')).at(-1)!;
  t.is(last.state, JobState.JOB_STATE_DONE);
  t.is(last.tasksDone, submitted.job!.tasksTotal);
  const report = await rpc.report('forge') as Awaited<ReturnType<typeof compareModels>>;
  const local = await compareModels(base, other, { targetTaskBytes: TASK_BYTES, threads: 1 });
  // The weight evidence and the verdict are the local ones (`run` and the controls' timings differ
  // by nature, and local mode may add behavioural evidence the cluster does not gather).
  for (const section of ['architecture', 'tokenizer', 'weights'] as const) t.deepEqual(report[section], local[section], section);
  t.is(report.verdict.label, local.verdict.label);
  t.is(report.verdict.label, 'independent');
  t.true(coordinatorLog.some((l) => /job forge: rejected (unsigned|tampered) result/.test(l)));
  // Forged answers to control tasks (held while those were not planned yet) are not used either.
  t.deepEqual(report.controls!.unavailable, [], 'every control ran and was answered by the worker');
  t.deepEqual(report.controls, local.controls);

  // ---- 3. A rewritten report chunk: refused as tampered, never a changed verdict. ----
  const chunk = await reportsKv.get('forge.0');
  const text = Buffer.from(chunk!.value).toString('utf8');
  await reportsKv.put('forge.0', text.replaceAll('"independent"', '"derived"'));
  const tampered = await codeOf(rpc.report('forge'));
  t.is(tampered.code, status.DATA_LOSS);
  t.regex(tampered.details, /report of job forge, chunk 0 of 1: its MAC does not verify/);
  t.is((await codeOf(rpc.readReport('forge'))).code, status.DATA_LOSS, 'nor streamed');
  // The chunk without its MAC line at all.
  await reportsKv.put('forge.0', text.slice(text.indexOf('\n') + 1).replaceAll('"independent"', '"derived"'));
  t.is((await codeOf(rpc.report('forge'))).code, status.DATA_LOSS);

  // ---- 4. A rewritten job record and malformed ones: refused, listed as such, nothing crashes. ----
  const record = await jobsKv.get('forge');
  await jobsKv.put('forge', Buffer.from(record!.value).toString('utf8').replace('"DONE"', '"RUNNING"'));
  const watched = await codeOf(rpc.watch('forge'));
  t.is(watched.code, status.DATA_LOSS);
  t.regex(watched.details, /job record "forge": its MAC does not verify/);
  await jobsKv.put('junk-json', 'not json at all');
  await jobsKv.put('junk-fields', JSON.stringify({ jobId: 'junk-fields', state: 'WEIRD' }));
  await jobsKv.put('junk-empty', '{}');
  const listed = await rpc.list();
  const byId = new Map(listed.map((j) => [j.jobId, j]));
  for (const id of ['forge', 'exfil', 'junk-json', 'junk-fields', 'junk-empty']) {
    t.is(byId.get(id)?.state, JobState.JOB_STATE_FAILED, id);
    t.regex(byId.get(id)?.error ?? '', /stored record was rejected/, id);
  }
  // A forged heartbeat (a worker with 1000 threads) and advisories that are not what they claim.
  evil.publish('lineage.workers.heartbeat.evil', WorkerHeartbeat.encode({ worker: 'evil', threads: 1000, kernel: 'js', gpu: true, atMs: Date.now(), tasksRunning: 0 }).finish());
  evil.publish(MAX_DELIVERIES_ADVISORY, 'not json');
  evil.publish(MAX_DELIVERIES_ADVISORY, JSON.stringify({ stream: 'LINEAGE_TASKS', stream_seq: 'all', deliveries: 5 }));
  await evil.flush();
  await waitFor('the coordinator to refuse the advisory', () => coordinatorLog.some((l) => /rejected malformed advisory/.test(l)));
  const metrics = await (await fetch(`http://${coordinator.metricsAddress}/metrics`)).text();
  t.regex(metrics, /lineage_untrusted_messages_total\{kind="heartbeat",reason="unsigned"\} [1-9]/);
  t.regex(metrics, /lineage_untrusted_messages_total\{kind="advisory",reason="malformed"\} 1/);
  t.regex(metrics, /^lineage_workers_threads 1$/m, 'the forged worker is not counted');
  t.regex(metrics, /lineage_untrusted_messages_total\{kind="result",reason="(unsigned|tampered)"\} [1-9]/);
  t.regex(metrics, /lineage_untrusted_messages_total\{kind="job-record",reason="(unsigned|tampered)"\} [1-9]/);
  const workerMetrics = await (await fetch(`http://${worker.metricsAddress}/metrics`)).text();
  t.regex(workerMetrics, /lineage_worker_untrusted_messages_total\{kind="task",reason="unsigned"\} 1/);

  // `lineage delete` cleans up what was refused: the tampered job and the junk.
  for (const id of ['forge', 'junk-json']) t.is((await rpc.delete(id)).state, JobState.JOB_STATE_FAILED);
  const remaining = (await rpc.list()).map((j) => j.jobId);
  t.false(remaining.includes('forge') || remaining.includes('junk-json'), remaining.join(', '));
  t.is((await codeOf(rpc.report('forge'))).code, status.NOT_FOUND);
  const left: string[] = [];
  for await (const k of await reportsKv.keys('forge.*')) left.push(k);
  t.deepEqual(left, [], 'no chunk of its report is left');

  // ---- The coordinator keeps serving, and a new one starts over the same buckets. ----
  await coordinator.close();
  rpc.close();
  coordinator = await startCoordinator({ ...COORDINATOR, nats: nats.url, listen: '127.0.0.1:0', token: TOKEN, modelRoots: [root] });
  rpc = new Rpc(coordinator.address);
  await rpc.submit({ jobId: 'after', modelA: base, modelB: base, options: { targetTaskBytes: TASK_BYTES } });
  t.is((await rpc.watch('after')).at(-1)!.state, JobState.JOB_STATE_DONE);
  const again = await rpc.report('after') as Awaited<ReturnType<typeof compareModels>>;
  t.is(again.verdict.label, 'derived');
});
