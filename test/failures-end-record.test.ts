/**
 * A job's end must be on record before its results are purged. The jobs bucket is made to refuse
 * every write (its stream's largest message cut below a record's size, a real JetStream refusal)
 * after the job was created; its tasks then run and its report is built, but its DONE record
 * cannot be stored: the results stay on the stream, the job is not reported as done (Status,
 * List, Report and the open Watch), and once the bucket takes writes again the coordinator's
 * retry stores the end, the watchers hear DONE, the report equals the local one and the results
 * are purged.
 */
import test from 'ava';
import { status } from '@grpc/grpc-js';
import type { JetStreamManager } from '@nats-io/jetstream';
import { join } from 'node:path';
import { compareModels, type ComparisonReport } from '../core/src/compare/model-report.ts';
import { synthesize } from '../core/src/synth/synth.ts';
import { startWorker } from '../worker/src/index.ts';
import { JOBS_BUCKET, RESULTS_STREAM, resultSubject } from '../proto/jetstream.ts';
import { JobState, type JobStatus } from '../proto/lineage/v1/lineage.ts';
import { codeOf, waitFor, WORKER } from './helpers/cluster.ts';
import { NATS_MISSING, unless } from './helpers/skip.ts';
import { testCluster } from './helpers/test-cluster.ts';
import { tempDir } from './helpers/tmpdir.ts';

const TASK_BYTES = 150_000;
const JOBS_STREAM = `KV_${JOBS_BUCKET}`;

async function setMaxMessageSize(jsm: JetStreamManager, bytes: number): Promise<void> {
  const { config } = await jsm.streams.info(JOBS_STREAM);
  await jsm.streams.update(JOBS_STREAM, { ...config, max_msg_size: bytes });
}

async function storedResults(jsm: JetStreamManager, jobId: string): Promise<number> {
  const info = await jsm.streams.info(RESULTS_STREAM, { subjects_filter: resultSubject(jobId) });
  return info.state.subjects?.[resultSubject(jobId)] ?? 0;
}

unless(NATS_MISSING, test.serial)('the DONE record cannot be stored: results are kept and the job is not reported done until the retried write lands', async (t) => {
  t.timeout(180_000);
  const root = tempDir();
  const base = join(root, 'base');
  const derived = join(root, 'derived');
  synthesize('base', { out: base, shape: { layers: 2 } });
  synthesize('derivative', { out: derived, like: base, drift: 0.03 });
  const local = await compareModels(base, derived, { targetTaskBytes: TASK_BYTES });

  const lines: string[] = [];
  const { nats, rpc, jsm: jsmOf } = await testCluster(t, root, { log: (l) => lines.push(l) });
  const jsm = await jsmOf();

  // No worker yet: the record is created, then the bucket refuses every later write.
  const submitted = await rpc.submit({ jobId: 'unstored', modelA: base, modelB: derived, options: { hash: '', kernel: '', targetTaskBytes: TASK_BYTES } });
  const total = submitted.job!.tasksTotal;
  t.true(total > 1);
  await setMaxMessageSize(jsm, 64);

  const seen: JobStatus[] = [];
  let watchEnded = false;
  const watched = rpc.watch('unstored', (s) => seen.push(s)).finally(() => { watchEnded = true; });
  watched.catch(() => {}); // Awaited below; a failed assertion before then must not leave it unhandled.
  const worker = await startWorker({ ...WORKER, nats: nats.url, threads: 2 });
  t.teardown(() => worker.stop());

  await waitFor('the coordinator to fail storing the end', () => lines.some((l) => /unstored: its results are kept, since its end could not be stored; retrying/.test(l)), 120_000);
  t.true(lines.some((l) => /unstored: could not store its state: .*(size|maximum)/i.test(l)), lines.join('\n'));
  // The weights pass's results and the controls phase's (counted once the report says how many).
  const kept = await storedResults(jsm, 'unstored');
  t.true(kept > total, `${kept} results kept`);

  const live = (await rpc.list()).find((j) => j.jobId === 'unstored')!;
  t.is(live.state, JobState.JOB_STATE_RUNNING, 'listed as running, not done');
  t.is(live.tasksDone, total);
  const { code, details } = await codeOf(rpc.report('unstored'));
  t.is(code, status.FAILED_PRECONDITION, details);
  t.regex(details, /is running/);
  t.false(watchEnded, 'the watch stream stays open');
  t.false(seen.some((s) => s.state === JobState.JOB_STATE_DONE), 'no watcher was told the job is done');

  // The bucket takes writes again: the retried write stores the end.
  await setMaxMessageSize(jsm, -1);
  const last = (await watched).at(-1)!;
  t.is(last.state, JobState.JOB_STATE_DONE, last.error);
  t.is(last.tasksDone, total);
  const report = await rpc.report('unstored') as ComparisonReport;
  t.deepEqual(report.weights, local.weights);
  t.is(kept, total + (report.run.controls?.tasks ?? 0), 'every result of both phases was kept');
  await waitFor('the results to be purged once the end is stored', async () => await storedResults(jsm, 'unstored') === 0, 60_000);
});
