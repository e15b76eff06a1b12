/**
 * The metrics the coordinator and a worker serve follow Prometheus' naming conventions: counters
 * end in `_total`, durations are in seconds and sizes in bytes (base units, named in the suffix),
 * everything is `lineage_`-prefixed and documented, and no label carries a job id, tensor name or
 * worker id (checked after a job with a recognisable id has run).
 */
import { join } from 'node:path';
import { synthesize } from '../core/src/synth/synth.ts';
import { startCoordinator } from '../coordinator/src/index.ts';
import { startWorker } from '../worker/src/index.ts';
import { CompareOptions, JobState } from '../proto/lineage/v1/lineage.ts';
import { COORDINATOR, Rpc, TOKEN, WORKER } from './helpers/cluster.ts';
import { startNatsServer } from './helpers/nats-server.ts';
import { NATS_MISSING, unless } from './helpers/skip.ts';
import { tempDir } from './helpers/tmpdir.ts';

interface Family { name: string; type: string; help: string; samples: { series: string; labels: Record<string, string> }[] }

/** Parses the text exposition format into metric families. */
function families(text: string): Map<string, Family> {
  const out = new Map<string, Family>();
  const family = (name: string) => out.get(name) ?? out.set(name, { name, type: '', help: '', samples: [] }).get(name)!;
  let current: Family | null = null;
  for (const line of text.split('\n')) {
    let m: RegExpExecArray | null;
    if ((m = /^# HELP (\S+) (.*)$/.exec(line))) family(m[1]!).help = m[2]!;
    else if ((m = /^# TYPE (\S+) (\S+)$/.exec(line))) { current = family(m[1]!); current.type = m[2]!; }
    else if ((m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? \S+/.exec(line)) && current) {
      const labels: Record<string, string> = {};
      for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
      current.samples.push({ series: m[1]!, labels });
    }
  }
  return out;
}

/** prom-client's collectDefaultMetrics, under the process' prefix. */
const DEFAULT_METRIC = /^lineage_(coordinator|worker)_(nodejs|process)_/;

const JOB_ID = 'naming-check-job-5c1e';
const FORBIDDEN_LABELS = /^(job_?id|jobid|task_?id|tensor|tensor_?name|name|worker|worker_?id|model|path|file)$/i;

unless(NATS_MISSING)('coordinator and worker metrics follow the Prometheus naming conventions', async (t) => {
  t.timeout(60_000);
  const root = tempDir();
  const base = join(root, 'base');
  const derived = join(root, 'derived');
  synthesize('base', { out: base, shape: { layers: 2 } });
  synthesize('derivative', { out: derived, like: base, drift: 0.02 });
  const nats = await startNatsServer();
  t.teardown(() => nats.stop());
  const coordinator = await startCoordinator({ ...COORDINATOR, nats: nats.url, listen: '127.0.0.1:0', token: TOKEN, modelRoots: [root], metricsPort: 0 });
  t.teardown(() => coordinator.close());
  const worker = await startWorker({ ...WORKER, nats: nats.url, threads: 1, metricsPort: 0, metricsHost: '127.0.0.1', id: 'naming-worker-7d2' });
  t.teardown(() => worker.stop());
  const rpc = new Rpc(coordinator.address);
  t.teardown(() => rpc.close());
  await rpc.submit({ jobId: JOB_ID, modelA: base, modelB: derived, options: CompareOptions.fromPartial({ targetTaskBytes: 50_000 }) });
  t.is((await rpc.watch(JOB_ID)).at(-1)!.state, JobState.JOB_STATE_DONE);

  const texts = await Promise.all([coordinator.metricsAddress!, worker.metricsAddress!].map(async (a) => (await fetch(`http://${a}/metrics`)).text()));
  const [coordinatorFamilies, workerFamilies] = texts.map(families) as [Map<string, Family>, Map<string, Family>];
  // The two processes never export the same name: sums over both jobs would double count.
  const shared = [...coordinatorFamilies.keys()].filter((n) => workerFamilies.has(n));
  t.deepEqual(shared, [], 'names exported by both the coordinator and the worker');

  let checked = 0;
  for (const [who, fams] of [['coordinator', coordinatorFamilies], ['worker', workerFamilies]] as const) {
    t.true(fams.size > 20, `${who} exports its metrics`);
    for (const f of fams.values()) {
      const what = `${who} ${f.name} (${f.type})`;
      t.regex(f.name, /^lineage_[a-z][a-z0-9_]*[a-z0-9]$/, `${what}: lineage_ prefix, snake case`);
      t.false(/__/.test(f.name), `${what}: no double underscore`);
      t.true(f.help.length > 5, `${what}: has help text`);
      if (f.type === 'counter') t.true(f.name.endsWith('_total'), `${what}: counters end in _total`);
      // prom-client's default Node.js gauges (nodejs_active_handles_total...) predate the rule; ours keep it.
      else if (!DEFAULT_METRIC.test(f.name)) t.false(f.name.endsWith('_total'), `${what}: only counters end in _total`);
      if (f.type === 'histogram' || f.type === 'summary') t.regex(f.name, /_(seconds|bytes)$/, `${what}: distributions in base units`);
      // Base units only: no milliseconds, minutes, kilobytes and the like.
      t.false(/_(ms|millis|milliseconds|us|microseconds|ns|minutes|hours|kb|mb|gb|kib|mib|gib|kilobytes|megabytes|gigabytes|percent)(_|$)/.test(f.name), `${what}: base units`);
      if (/_(duration|time|latency|lag|age)(_|$)/.test(f.name) && !/timestamp/.test(f.name)) t.regex(f.name, /_seconds(_total)?$|_seconds_/, `${what}: times in seconds`);
      if (/timestamp/.test(f.name)) t.regex(f.name, /_timestamp_seconds$/, `${what}: timestamps in seconds`);
      for (const s of f.samples) {
        for (const [label, value] of Object.entries(s.labels)) {
          t.false(FORBIDDEN_LABELS.test(label), `${what}: label ${label}`);
          t.false(value.includes(JOB_ID) || value.includes('naming-worker-7d2') || value.includes('.safetensors') || value.includes(root), `${what}: label ${label}="${value}" names a job, worker or file`);
        }
      }
      checked++;
    }
  }
  // The metrics the dashboards and alerts rely on are all there (names, types).
  const expect: [Map<string, Family>, string, string][] = [
    [coordinatorFamilies, 'lineage_jobs', 'gauge'], [coordinatorFamilies, 'lineage_jobs_finished_total', 'counter'],
    [coordinatorFamilies, 'lineage_job_duration_seconds', 'histogram'], [coordinatorFamilies, 'lineage_report_build_duration_seconds', 'histogram'],
    [coordinatorFamilies, 'lineage_tasks_total', 'counter'], [coordinatorFamilies, 'lineage_tasks_dispatched_total', 'counter'],
    [coordinatorFamilies, 'lineage_tasks_redelivered_total', 'counter'], [coordinatorFamilies, 'lineage_task_bytes_total', 'counter'],
    [coordinatorFamilies, 'lineage_nats_consumer_pending_messages', 'gauge'], [coordinatorFamilies, 'lineage_nats_consumer_ack_pending_messages', 'gauge'],
    [coordinatorFamilies, 'lineage_workers', 'gauge'], [coordinatorFamilies, 'lineage_workers_threads', 'gauge'], [coordinatorFamilies, 'lineage_workers_gpu', 'gauge'],
    [coordinatorFamilies, 'lineage_heartbeats_received_total', 'counter'], [coordinatorFamilies, 'lineage_workers_lost_total', 'counter'],
    [coordinatorFamilies, 'lineage_read_log_entries_dropped_total', 'counter'],
    [workerFamilies, 'lineage_worker_tasks_total', 'counter'], [workerFamilies, 'lineage_worker_task_duration_seconds', 'histogram'],
    [workerFamilies, 'lineage_worker_kernel_duration_seconds', 'histogram'], [workerFamilies, 'lineage_worker_read_bytes_total', 'counter'],
    [workerFamilies, 'lineage_worker_compared_bytes_total', 'counter'], [workerFamilies, 'lineage_worker_threads', 'gauge'],
    [workerFamilies, 'lineage_worker_gpu', 'gauge'], [workerFamilies, 'lineage_worker_heartbeats_total', 'counter'],
    [workerFamilies, 'lineage_worker_task_redeliveries_total', 'counter'], [workerFamilies, 'lineage_worker_tasks_running', 'gauge'],
  ];
  for (const [fams, name, type] of expect) t.is(fams.get(name)?.type, type, name);
  // Figures agree with the job: every byte planned was read and merged.
  const total = (fams: Map<string, Family>, name: string, text: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
  t.is(total(workerFamilies, 'lineage_worker_read_bytes_total', texts[1]!), total(coordinatorFamilies, 'lineage_task_bytes_total', texts[0]!));
  t.true(total(workerFamilies, 'lineage_worker_compared_bytes_total', texts[1]!) > 0);
  t.log(`${checked} metric families checked`);
});
