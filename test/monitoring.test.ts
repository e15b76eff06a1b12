/**
 * The monitoring as shipped works against a live cluster: a real nats-server, coordinator and 2
 * workers (each with a metrics port) run a job while a real Prometheus scrapes them every second
 * with deploy/prometheus/alerts.yml loaded. Then every query of every panel of every dashboard in
 * deploy/grafana/dashboards returns data, and every alert rule is loaded, healthy and inactive.
 * promtool accepts the shipped Prometheus config and rules.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { synthesize } from '../core/src/synth/synth.ts';
import { startCoordinator, type RunningCoordinator } from '../coordinator/src/index.ts';
import { startWorker, type RunningWorker } from '../worker/src/index.ts';
import { CompareOptions, JobState } from '../proto/lineage/v1/lineage.ts';
import { COORDINATOR, Rpc, TOKEN, waitFor, WORKER } from './helpers/cluster.ts';
import { startNatsServer, type NatsServer } from './helpers/nats-server.ts';
import { firstMissing, NATS_MISSING, unless } from './helpers/skip.ts';
import { tempDir } from './helpers/tmpdir.ts';
import { PROMETHEUS_MISSING, startPrometheus } from './helpers/prometheus.ts';

const DEPLOY = fileURLToPath(new URL('../deploy/', import.meta.url));
const PROMTOOL = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find((p) => existsSync(p)) ?? '';

/** What Grafana would put in place of its variables (the worker variable: all workers). */
const GRAFANA_VARIABLES: Record<string, string> = {
  $__rate_interval: '1m', $__interval: '15s', $__range: '5m', $worker: '.*', '${datasource}': 'prometheus',
};

const cleanups: (() => Promise<unknown> | unknown)[] = [];
test.after.always(async () => {
  // In reverse order of starting: Prometheus, workers, coordinator, NATS.
  for (const stop of cleanups.reverse()) await Promise.resolve().then(stop).catch(() => {});
});

interface PromResponse<T> { status: string; data: T; error?: string; errorType?: string }
type Sample = { metric: Record<string, string>; value: [number, string] };

async function promGet<T>(base: string, path: string, params: Record<string, string> = {}): Promise<PromResponse<T>> {
  const url = new URL(path, base);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  const res = await fetch(url);
  return await res.json() as PromResponse<T>;
}

async function instant(base: string, expr: string): Promise<PromResponse<{ resultType: string; result: Sample[] | [number, string] }>> {
  return promGet(base, '/api/v1/query', { query: expr });
}

/** Every `expr` of every target of every panel (rows' nested panels too) of a dashboard. */
function panelQueries(dashboard: { panels?: Panel[] }): { panel: string; expr: string }[] {
  const out: { panel: string; expr: string }[] = [];
  const visit = (panels: Panel[] | undefined) => {
    for (const p of panels ?? []) {
      for (const target of p.targets ?? []) if (target.expr) out.push({ panel: p.title, expr: target.expr });
      visit(p.panels);
    }
  };
  visit(dashboard.panels);
  return out;
}
interface Panel { title: string; targets?: { expr?: string }[]; panels?: Panel[] }

function substitute(expr: string): string {
  let out = expr;
  for (const [name, value] of Object.entries(GRAFANA_VARIABLES)) out = out.split(name).join(value);
  return out;
}

unless(PROMTOOL ? null : 'promtool is not installed (Debian package prometheus)')('promtool accepts the shipped Prometheus config and alert rules', (t) => {
  const config = spawnSync(PROMTOOL, ['check', 'config', join(DEPLOY, 'prometheus/prometheus.yml')], { encoding: 'utf8' });
  t.is(config.status, 0, config.stdout + config.stderr);
  const rules = spawnSync(PROMTOOL, ['check', 'rules', join(DEPLOY, 'prometheus/alerts.yml')], { encoding: 'utf8' });
  t.is(rules.status, 0, rules.stdout + rules.stderr);
  t.regex(rules.stdout, /SUCCESS: \d+ rules found/);
});

unless(firstMissing(NATS_MISSING, PROMETHEUS_MISSING))('every dashboard panel query returns data and every alert is loaded, healthy and inactive against a live cluster', async (t) => {
  t.timeout(120_000);
  const started = Date.now();

  const root = tempDir();
  const base = join(root, 'base');
  const derived = join(root, 'derived');
  synthesize('base', { out: base, shape: { layout: 'moe', layers: 2, experts: 4 }, shardBytes: 1_000_000 });
  synthesize('derivative', { out: derived, like: base, drift: 0.02, shardBytes: 1_000_000 });

  const nats: NatsServer = await startNatsServer();
  cleanups.push(() => nats.stop());
  const coordinator: RunningCoordinator = await startCoordinator({ ...COORDINATOR, nats: nats.url, listen: '127.0.0.1:0', token: TOKEN, modelRoots: [root], metricsPort: 0 });
  cleanups.push(() => coordinator.close());
  const workers: RunningWorker[] = [];
  for (let i = 0; i < 2; i++) {
    const w = await startWorker({ ...WORKER, nats: nats.url, threads: 1, metricsPort: 0, metricsHost: '127.0.0.1', heartbeatMs: 1_000 });
    workers.push(w);
    cleanups.push(() => w.stop());
  }

  // A Prometheus of its own: temp store, free loopback port, the shipped alert rules.
  const prom = await startPrometheus(
    { 'lineage-coordinator': [coordinator.metricsAddress!], 'lineage-worker': workers.map((w) => w.metricsAddress!) },
    [join(DEPLOY, 'prometheus/alerts.yml')],
  );
  cleanups.push(() => prom.stop());
  const api = prom.api;

  // The job.
  const rpc = new Rpc(coordinator.address);
  cleanups.push(() => rpc.close());
  await rpc.submit({ jobId: 'monitored-job', modelA: base, modelB: derived, options: CompareOptions.fromPartial({ targetTaskBytes: 100_000 }) });
  const last = (await rpc.watch('monitored-job')).at(-1)!;
  t.is(last.state, JobState.JOB_STATE_DONE, last.error);
  t.true(last.tasksTotal >= 4, `several tasks (${last.tasksTotal})`);

  // The weights pass's tasks and the controls phase's, all run by the workers and merged.
  const report = await rpc.report('monitored-job') as { run: { controls?: { tasks: number } } };
  const tasksRun = last.tasksTotal + (report.run.controls?.tasks ?? 0);
  // Prometheus has scraped the end of the job from all three processes.
  const value = async (expr: string) => {
    const r = await instant(api, expr);
    const result = r.data?.result as Sample[] | undefined;
    return result?.length ? Number(result[0]!.value[1]) : null;
  };
  const scraped = async () => [
    await value('sum(lineage_tasks_total{outcome="done"})'),
    await value('sum(lineage_worker_tasks_total{outcome="done"})'),
    await value('sum(lineage_jobs_finished_total{state="done"})'),
    await value('count(up{job="lineage-worker"} == 1)'),
  ];
  await waitFor('Prometheus to scrape the finished job', async () => {
    const [tasks, workerTasks, jobs, up] = await scraped();
    return tasks === tasksRun && workerTasks === tasksRun && jobs === 1 && up === 2;
  }, 20_000).catch(async (err) => { throw new Error(`${(err as Error).message}: ${JSON.stringify(await scraped())} of ${tasksRun}`); });
  // Rates need two samples in their window: let a few more scrapes land.
  await waitFor('a few scrapes of every target', async () => ((await value('min(count_over_time(up[1m]))')) ?? 0) >= 4, 15_000);
  t.is(await value('sum(lineage_task_bytes_total)'), last.bytesTotal);
  t.is(await value('sum(lineage_worker_read_bytes_total)'), last.bytesTotal);
  t.is(await value('max(lineage_workers)'), 2);
  t.is(await value('sum(lineage_nats_consumer_pending_messages)'), 0);
  t.true((await value('sum(lineage_worker_compared_bytes_total)'))! > 0);

  // Every panel query of every dashboard.
  const files = readdirSync(join(DEPLOY, 'grafana/dashboards')).filter((f) => f.endsWith('.json')).sort();
  t.deepEqual(files, ['cluster-overview.json', 'job-progress.json', 'worker-health.json']);
  let queries = 0;
  for (const file of files) {
    const dashboard = JSON.parse(readFileSync(join(DEPLOY, 'grafana/dashboards', file), 'utf8'));
    const panelList = panelQueries(dashboard);
    t.true(panelList.length > 5, `${file} has panels`);
    for (const { panel, expr } of panelList) {
      const query = substitute(expr);
      t.false(/\$/.test(query), `${file} / ${panel}: a variable left unsubstituted in ${query}`);
      const r = await instant(api, query);
      t.is(r.status, 'success', `${file} / ${panel}: ${query}: ${r.error ?? ''}`);
      const result = r.data?.result;
      t.true(Array.isArray(result) && result.length > 0, `${file} / ${panel}: no data for ${query}`);
      queries++;
    }
    // Template variables' queries too (label_values(metric, label) is Grafana's, so ask for the metric).
    for (const v of dashboard.templating?.list ?? []) {
      const q = typeof v.query === 'object' ? v.query.query : v.query;
      const m = /^label_values\((\w+),\s*(\w+)\)$/.exec(q ?? '');
      if (v.type !== 'query') continue;
      t.truthy(m, `${file}: variable ${v.name} uses label_values(metric, label)`);
      const r = await instant(api, m![1]!);
      const values = new Set((r.data.result as Sample[]).map((s) => s.metric[m![2]!]));
      t.is(values.size, 2, `${file}: variable ${v.name} lists both workers`);
    }
  }
  t.log(`${queries} panel queries answered with data`);
  // The read-log panel's counter: one series per reason from the start, all 0 (this job reads local paths: no logs to drop).
  const droppedByReason = (await instant(api, 'sum by (reason) (lineage_read_log_entries_dropped_total)')).data.result as Sample[];
  t.deepEqual(droppedByReason.map((x) => x.metric.reason).sort(), ['bad-hash', 'foreign-url', 'malformed', 'out-of-range', 'over-limit', 'refused']);
  t.true(droppedByReason.every((x) => Number(x.value[1]) === 0));

  // Every alert rule: loaded, evaluated since the job ended, healthy and inactive.
  const ruleCount = (readFileSync(join(DEPLOY, 'prometheus/alerts.yml'), 'utf8').match(/^\s*- alert:/gm) ?? []).length;
  const jobEnded = Date.now();
  type Rule = { name: string; health: string; state: string; lastError?: string; lastEvaluation: string; type: string };
  const rules = await waitFor('every alert rule to be evaluated after the job', async () => {
    const r = await promGet<{ groups: { name: string; rules: Rule[] }[] }>(api, '/api/v1/rules', { type: 'alert' });
    const all = r.data.groups.flatMap((g) => g.rules);
    return all.length === ruleCount && all.every((x) => Date.parse(x.lastEvaluation) > jobEnded) ? all : null;
  }, 10_000);
  t.true(ruleCount >= 4);
  // The trust alerts among them: a healthy run refuses no message and drops no read-log entry.
  for (const name of ['LineageUntrustedMessages', 'LineageReadLogEntriesDropped']) t.true(rules.some((r) => r.name === name), `${name} is loaded`);
  for (const rule of rules) {
    t.is(rule.health, 'ok', `${rule.name}: ${rule.lastError ?? ''}`);
    t.is(rule.state, 'inactive', `${rule.name} is ${rule.state}`);
  }
  t.log(`${rules.length} alert rules healthy and inactive; ${((Date.now() - started) / 1000).toFixed(1)} s in all`);
});
