/**
 * The overview dashboard's read-log panel against a real Prometheus scraping a real cluster: a
 * coordinator on model URLs (a loopback hub), a worker, and a key holder that sends a hostile read
 * log as a failed delivery's (TaskResult.retrying: not the task's outcome, so the job's results
 * are untouched). The panel's own query, taken from the dashboard JSON, shows the dropped entries
 * by reason, and the shipped alert LineageReadLogEntriesDropped fires for those reasons (and
 * LineageUntrustedMessages does not: the log's message was signed); the job is done all the same.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { connect } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { splitPinnedFile } from '../core/src/io/http.ts';
import { synthesize } from '../core/src/synth/synth.ts';
import { startWorker } from '../worker/src/index.ts';
import { ClusterKey } from '../proto/cluster-key.ts';
import type { TaskOutcome } from '../proto/convert.ts';
import { resultSubject, taskSubject, TASKS_STREAM } from '../proto/jetstream.ts';
import { JobState } from '../proto/lineage/v1/lineage.ts';
import { openTask, resultMessageId, signResult } from '../proto/signed.ts';
import { CLUSTER_KEY, waitFor, WORKER } from './helpers/cluster.ts';
import { PROMETHEUS_MISSING, startPrometheus } from './helpers/prometheus.ts';
import { RangeServer } from './helpers/range-server.ts';
import { firstMissing, NATS_MISSING, unless } from './helpers/skip.ts';
import { testCluster } from './helpers/test-cluster.ts';
import { tempDir } from './helpers/tmpdir.ts';

const DASHBOARD = fileURLToPath(new URL('../deploy/grafana/dashboards/cluster-overview.json', import.meta.url));
const ALERTS = fileURLToPath(new URL('../deploy/prometheus/alerts.yml', import.meta.url));
const HUB_TOKEN = 'hf_monitoring_read_logs';
const HEX = 'ab'.repeat(32);

unless(firstMissing(NATS_MISSING, PROMETHEUS_MISSING))('the read-log panel shows a hostile log\'s dropped entries by reason and its alert fires, from a real Prometheus scraping the coordinator', async (t) => {
  t.timeout(120_000);
  const root = tempDir('lineage-monitoring-read-logs-');
  const [base, derived] = [join(root, 'base'), join(root, 'derived')];
  synthesize('base', { out: base, shape: { layers: 2 }, shardBytes: 400_000 });
  synthesize('derivative', { out: derived, like: base, drift: 0.02, shardBytes: 400_000 });
  const server = await RangeServer.start({
    repos: { 'org/base': { folder: base, commit: 'a'.repeat(40) }, 'org/derived': { folder: derived, commit: 'b'.repeat(40) } }, token: HUB_TOKEN,
  });
  t.teardown(() => server.close());
  const { nats, rpc, jsm, coordinator } = await testCluster(t, root, { allowUrls: true, hubToken: HUB_TOKEN, metricsPort: 0 });
  const prom = await startPrometheus({ 'lineage-coordinator': [coordinator.metricsAddress!] }, [ALERTS]);
  t.teardown(() => prom.stop());

  await rpc.submit({ jobId: 'hostile-panel', modelA: server.folderUrl('org/base'), modelB: server.folderUrl('org/derived') });
  // Task 0 as the coordinator signed it (no worker yet): its MAC, and a file of the job.
  const key = ClusterKey.load({ key: CLUSTER_KEY }, 'the test');
  const manager = await jsm();
  const stored = await waitFor('task 0 on the queue', () => manager.streams.getMessage(TASKS_STREAM, { last_by_subj: taskSubject('hostile-panel', 0) }).catch(() => null), 60_000);
  const { envelope, mac } = openTask(key, stored.subject, stored.data, stored.header, taskSubject);
  const { url, pin } = splitPinnedFile(envelope.task.items[0]!.a!.file);
  const hostile = {
    log: {
      runs: [
        { url, start: 0, end: pin!.size + 1, sha256: HEX }, // out-of-range
        { url: 'http://127.0.0.1:1/evil.safetensors', start: 0, end: 10, sha256: HEX }, // foreign-url
        { url, start: 0, end: 10, sha256: 'nothex' }, // bad-hash
        { url, start: 0, end: 10, sha256: 'NOTHEX'.repeat(11).slice(0, 64) }, // bad-hash
      ],
      stats: { [url]: { requests: -1, retries: 0, bytes: 0 } }, // malformed
    },
    omitted: null,
  };
  const outcome: TaskOutcome = {
    jobId: 'hostile-panel', taskId: 0, results: [], worker: 'hostile', error: 'made up', seconds: 0, kernel: '', attempt: 1,
    retrying: true, readLog: gzipSync(Buffer.from(JSON.stringify(hostile))),
  };
  // Prometheus has the counter at zero first (a rate needs the value before the rise).
  await waitFor('Prometheus to scrape the counter at zero', async () => (await prom.value('count(lineage_read_log_entries_dropped_total == 0)')) === 6, 30_000);
  const nc = await connect({ servers: nats.url });
  t.teardown(() => nc.close());
  const signed = signResult(key, outcome, mac);
  await jetstream(nc).publish(resultSubject('hostile-panel'), signed.data, { msgID: resultMessageId(outcome, signed), headers: signed.headers });

  const worker = await startWorker({ ...WORKER, nats: nats.url, threads: 1, hubToken: HUB_TOKEN, allowUrls: true });
  t.teardown(() => worker.stop());
  const last = (await rpc.watch('hostile-panel')).at(-1)!;
  t.is(last.state, JobState.JOB_STATE_DONE, last.error);
  t.is(last.tasksFailed, 0, 'a failed delivery\'s message is not the task\'s outcome');
  const report = await rpc.report('hostile-panel') as { run: { readLogs: { dropped: number; failedDeliveries: number } } };
  t.is(report.run.readLogs.dropped, 5);
  t.is(report.run.readLogs.failedDeliveries, 1);

  // The panel's query as Grafana would send it (its rate interval made 1m), once Prometheus has scraped the drops.
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: { title: string; targets?: { expr?: string }[] }[] };
  const panel = dashboard.panels.find((p) => p.targets?.some((x) => x.expr?.includes('lineage_read_log_entries_dropped_total')));
  t.truthy(panel, 'the overview dashboard has a panel on the counter');
  const expr = panel!.targets![0]!.expr!.split('$__rate_interval').join('1m');
  await waitFor('Prometheus to scrape the drops', async () => (await prom.value('sum(lineage_read_log_entries_dropped_total)')) === 5, 30_000);
  const query = new URL('/api/v1/query', prom.api);
  query.searchParams.set('query', expr);
  const body = await (await fetch(query)).json() as { status: string; data: { result: { metric: { reason: string }; value: [number, string] }[] } };
  t.is(body.status, 'success');
  const byReason = Object.fromEntries(body.data.result.map((s) => [s.metric.reason, Number(s.value[1])]));
  t.log(`${panel!.title}: ${JSON.stringify(byReason)}`);
  t.deepEqual(Object.keys(byReason).sort(), ['bad-hash', 'foreign-url', 'malformed', 'out-of-range', 'over-limit', 'refused']);
  for (const reason of ['bad-hash', 'foreign-url', 'malformed', 'out-of-range']) t.true(byReason[reason]! > 0, `${reason}: ${byReason[reason]}`);
  for (const reason of ['over-limit', 'refused']) t.is(byReason[reason], 0);

  // The shipped alert, evaluated by the same Prometheus: firing for each reason the log broke, for no other.
  const alerts = await waitFor('LineageReadLogEntriesDropped to fire for the four reasons', async () => {
    const r = await (await fetch(new URL('/api/v1/alerts', prom.api))).json() as { data: { alerts: { labels: Record<string, string>; state: string; annotations: Record<string, string> }[] } };
    const mine = r.data.alerts.filter((a) => a.labels.alertname === 'LineageReadLogEntriesDropped' && a.state === 'firing');
    return mine.length >= 4 ? r.data.alerts : null;
  }, 30_000);
  const firing = alerts.filter((a) => a.labels.alertname === 'LineageReadLogEntriesDropped' && a.state === 'firing');
  t.deepEqual(firing.map((a) => a.labels.reason).sort(), ['bad-hash', 'foreign-url', 'malformed', 'out-of-range']);
  for (const a of firing) {
    t.is(a.labels.severity, 'critical');
    t.regex(a.annotations.summary!, new RegExp(`^\\d+ read-log entries dropped as ${a.labels.reason} `));
  }
  t.log(firing.map((a) => a.annotations.summary).join('; '));
  t.false(alerts.some((a) => a.labels.alertname === 'LineageUntrustedMessages'), 'a signed hostile log is not an untrusted message');
});
