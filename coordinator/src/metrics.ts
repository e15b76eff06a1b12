/**
 * Prometheus metrics of the coordinator (served by service/src/metrics-endpoint.ts, as the
 * workers' are). Each process part has its own registry, so several coordinators or workers can
 * share a process (tests).
 *
 * Conventions: counters end in `_total`, durations are `_seconds`, sizes `_bytes`; labels have a
 * small fixed set of values (job state, task outcome, stream and consumer), never job ids, tensor
 * names or worker ids (Prometheus' own `instance` label tells scraped processes apart). Label
 * values are created at zero up front, so a rate over them exists before the first event.
 */
import type { ConsumerInfo, JetStreamManager } from '@nats-io/jetstream';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { TASKS_STREAM, WORKERS_CONSUMER, type JobStateName } from '../../proto/jetstream.ts';
import type { UntrustedReason } from '../../proto/signed.ts';
import { registerEventLoopDelay, type EventLoopDelay } from '../../service/src/index.ts';
import type { JobRecord } from './job-record.ts';
import { READ_LOG_DROP_REASONS, type ReadLogDropReason } from './read-logs.ts';
import type { WorkerRegistry } from './workers.ts';

const JOB_STATES: JobStateName[] = ['QUEUED', 'RUNNING', 'DONE', 'FAILED', 'CANCELLED'];
const UNTRUSTED_KINDS = ['result', 'heartbeat', 'job-record', 'report', 'advisory', 'other'];
const UNTRUSTED_REASONS: UntrustedReason[] = ['unsigned', 'tampered', 'malformed', 'foreign'];
const TERMINAL: JobStateName[] = ['DONE', 'FAILED', 'CANCELLED'];
/** A worker is alive while its heartbeats keep coming (it sends one every 5 s by default). */
const ALIVE_WITHIN_MS = 30_000;
/** A scrape never waits longer than this on JetStream for the queue figures. */
const CONSUMER_INFO_TIMEOUT_MS = 2_000;
/** Gauges collected in one scrape share a read of the consumer made this recently. */
const QUEUE_READ_REUSE_MS = 500;

/** Durations of jobs and report builds run from seconds (synthetic models) to many hours. */
const LONG_BUCKETS = [0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600, 7200, 14_400, 43_200, 86_400];

export class CoordinatorMetrics {
  readonly registry = new Registry();
  /** The latest record of every job: live (mutated in place as results merge) while it runs. */
  private readonly records = new Map<string, JobRecord>();
  /** The state each job was in when last reported (its record is mutated in place, so it cannot tell). */
  private readonly lastState = new Map<string, JobStateName>();
  private readonly tasks: Counter<'outcome'>;
  private readonly bytes: Counter;
  private readonly redelivered: Counter;
  private readonly dispatched: Counter;
  private readonly finished: Counter<'state'>;
  private readonly jobSeconds: Histogram;
  private readonly reportSeconds: Histogram<'outcome'>;
  private readonly heartbeats: Counter;
  private readonly lost: Counter;
  private readonly consumerErrors: Counter;
  private readonly untrustedCounter: Counter<'kind' | 'reason'>;
  private readonly readLogDroppedCounter: Counter<'reason'>;
  private jsm: JetStreamManager | null = null;
  private queueRead: { at: number; info: Promise<ConsumerInfo | null> } | null = null;
  private lastAlive = new Set<string>();
  private readonly eventLoop: EventLoopDelay;

  constructor(private readonly workers: WorkerRegistry) {
    collectDefaultMetrics({ register: this.registry, prefix: 'lineage_coordinator_' });
    const registers = [this.registry];
    // Planning, merging and report building share the main thread with Watch, heartbeats and scrapes.
    this.eventLoop = registerEventLoopDelay(this.registry, 'lineage_coordinator_event_loop_delay_seconds',
      'How late the coordinator\'s event loop ran, sampled every 10 ms (work on the main thread delays Watch streams, heartbeats and scrapes)');
    const records = this.records;

    // ---- Jobs ----
    new Gauge({
      name: 'lineage_jobs', help: 'Jobs known to this coordinator, by state', labelNames: ['state'], registers,
      collect() {
        const counts = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobStateName, number>;
        // A record reaches here validated, but metrics never throw on what they are given.
        for (const r of records.values()) if (r?.state in counts) counts[r.state]++;
        for (const [state, n] of Object.entries(counts)) this.set({ state: state.toLowerCase() }, n);
      },
    });
    this.finished = new Counter({ name: 'lineage_jobs_finished_total', help: 'Jobs that reached an end state, by state', labelNames: ['state'], registers });
    for (const s of TERMINAL) this.finished.inc({ state: s.toLowerCase() }, 0);
    this.jobSeconds = new Histogram({ name: 'lineage_job_duration_seconds', help: 'Time from submit to the end of a job that finished (done or failed)', buckets: LONG_BUCKETS, registers });
    this.reportSeconds = new Histogram({
      name: 'lineage_report_build_duration_seconds', help: 'Time to build and store a report once all task results are in (merge, controls, verdict)',
      labelNames: ['outcome'], buckets: LONG_BUCKETS, registers,
    });
    for (const outcome of ['done', 'failed']) this.reportSeconds.zero({ outcome });

    // Progress of the jobs that are running now, summed over them (a per-job label would grow without bound).
    const activeRecords = () => [...records.values()].filter((r) => JOB_STATES.includes(r?.state) && !TERMINAL.includes(r.state));
    const sum = (rs: JobRecord[], pick: (r: JobRecord) => unknown) => rs.reduce((n, r) => n + (Number.isFinite(pick(r)) ? pick(r) as number : 0), 0);
    new Gauge({
      name: 'lineage_active_jobs_tasks', help: 'Tasks of the queued and running jobs: planned, done and failed', labelNames: ['state'], registers,
      collect() {
        const active = activeRecords();
        this.set({ state: 'planned' }, sum(active, (r) => r.tasksTotal));
        this.set({ state: 'done' }, sum(active, (r) => r.tasksDone));
        this.set({ state: 'failed' }, sum(active, (r) => r.tasksFailed));
      },
    });
    new Gauge({
      name: 'lineage_active_jobs_bytes', help: 'Checkpoint bytes of the queued and running jobs: planned and covered by merged results', labelNames: ['state'], registers,
      collect() {
        const active = activeRecords();
        this.set({ state: 'planned' }, sum(active, (r) => r.bytesTotal));
        this.set({ state: 'done' }, sum(active, (r) => r.bytesDone));
      },
    });
    new Gauge({
      name: 'lineage_active_jobs_oldest_start_timestamp_seconds', help: 'Submit time of the oldest queued or running job (0 when none)', registers,
      collect() {
        const starts = activeRecords().map((r) => r.createdAtMs).filter((t) => Number.isFinite(t));
        this.set(starts.length ? Math.min(...starts) / 1000 : 0);
      },
    });

    // ---- Tasks ----
    this.dispatched = new Counter({ name: 'lineage_tasks_dispatched_total', help: 'Tasks published to the JetStream work queue', registers });
    this.tasks = new Counter({ name: 'lineage_tasks_total', help: 'Task results merged, by outcome', labelNames: ['outcome'], registers });
    for (const outcome of ['done', 'failed']) this.tasks.inc({ outcome }, 0);
    this.redelivered = new Counter({ name: 'lineage_tasks_redelivered_total', help: 'Task results merged that took more than one delivery', registers });
    this.bytes = new Counter({ name: 'lineage_task_bytes_total', help: 'Checkpoint bytes covered by merged task results', registers });

    // ---- The work queue, as JetStream sees it ----
    const labels = { stream: TASKS_STREAM, consumer: WORKERS_CONSUMER };
    const queueGauge = (name: string, help: string, pick: (info: ConsumerInfo) => number) => new Gauge({
      name, help, labelNames: ['stream', 'consumer'], registers,
      // Metrics are collected concurrently: all four share one consumer read per scrape.
      collect: async function (this: Gauge<'stream' | 'consumer'>) {
        const info = await self.queueInfo();
        if (info) this.set(labels, pick(info));
        else this.reset(); // Stale figures would hide an outage.
      },
    });
    const self = this;
    queueGauge('lineage_nats_consumer_pending_messages', 'Tasks on the work queue not yet delivered to a worker', (i) => i.num_pending);
    queueGauge('lineage_nats_consumer_ack_pending_messages', 'Tasks delivered to a worker and not yet acknowledged (running)', (i) => i.num_ack_pending);
    queueGauge('lineage_nats_consumer_redelivered_messages', 'Unacknowledged tasks that have been delivered more than once', (i) => i.num_redelivered);
    queueGauge('lineage_nats_consumer_waiting_pulls', 'Pull requests of workers waiting for a task', (i) => i.num_waiting);
    this.consumerErrors = new Counter({ name: 'lineage_nats_consumer_info_errors_total', help: 'Scrapes that could not read the work-queue consumer from JetStream', registers });

    // ---- What was refused: messages and records that are not the cluster's own, or unusable ----
    this.untrustedCounter = new Counter({
      name: 'lineage_untrusted_messages_total', help: 'Messages and stored records rejected (unsigned, MAC that does not verify, malformed, or for a task never published), by kind and reason',
      labelNames: ['kind', 'reason'], registers,
    });
    for (const kind of UNTRUSTED_KINDS) for (const reason of UNTRUSTED_REASONS) this.untrustedCounter.inc({ kind, reason }, 0);
    // Apart from the messages refused whole: a read log comes in a result that verified, and its
    // checks drop entries of it (runs, ranges, counters), never the result (read-logs.ts).
    this.readLogDroppedCounter = new Counter({
      name: 'lineage_read_log_entries_dropped_total',
      help: 'Entries of the read logs workers send back with their results (remote models) that the coordinator\'s checks dropped, by reason (refused, over-limit, foreign-url, out-of-range, bad-hash, malformed)',
      labelNames: ['reason'], registers,
    });
    for (const reason of READ_LOG_DROP_REASONS) this.readLogDroppedCounter.inc({ reason }, 0);

    // ---- Workers, from their heartbeats ----
    const alive = () => this.workers.alive(ALIVE_WITHIN_MS);
    new Gauge({ name: 'lineage_workers', help: 'Workers heard from in the last 30 s', registers, collect() { this.set(alive().length); } });
    new Gauge({ name: 'lineage_workers_threads', help: 'Threads (tasks at once) of the workers heard from in the last 30 s', registers, collect() { this.set(alive().reduce((n, w) => n + w.threads, 0)); } });
    new Gauge({ name: 'lineage_workers_gpu', help: 'Workers heard from in the last 30 s that run the GPU kernel', registers, collect() { this.set(alive().filter((w) => w.gpu).length); } });
    new Gauge({ name: 'lineage_workers_tasks_running', help: 'Tasks running, as the workers last reported in their heartbeats', registers, collect() { this.set(alive().reduce((n, w) => n + w.tasksRunning, 0)); } });
    this.heartbeats = new Counter({ name: 'lineage_heartbeats_received_total', help: 'Worker heartbeats received', registers });
    this.lost = new Counter({
      name: 'lineage_workers_lost_total', help: 'Workers whose heartbeats stopped (stopped, crashed or cut off) after they had been alive', registers,
      collect: () => this.countLost(),
    });
  }

  /** The work-queue consumer, read at most once per scrape (null when JetStream does not answer). */
  private queueInfo(): Promise<ConsumerInfo | null> {
    const now = Date.now();
    if (this.queueRead && now - this.queueRead.at < QUEUE_READ_REUSE_MS) return this.queueRead.info;
    const jsm = this.jsm;
    const info: Promise<ConsumerInfo | null> = !jsm ? Promise.resolve(null) : Promise.race([
      jsm.consumers.info(TASKS_STREAM, WORKERS_CONSUMER),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), CONSUMER_INFO_TIMEOUT_MS).unref()),
    ]).catch(() => {
      this.consumerErrors.inc();
      return null;
    });
    this.queueRead = { at: now, info };
    return info;
  }

  /** Stops what samples on its own (the event loop), for a coordinator closed in a process that goes on. */
  close(): void {
    this.eventLoop.close();
  }

  /** Reads the work-queue consumer on every scrape. */
  watchQueue(jsm: JetStreamManager): void {
    this.jsm = jsm;
  }

  untrusted(kind: string, reason: UntrustedReason): void {
    this.untrustedCounter.inc({ kind: UNTRUSTED_KINDS.includes(kind) ? kind : 'other', reason });
  }

  readLogDropped(reason: ReadLogDropReason, n: number): void {
    if (READ_LOG_DROP_REASONS.includes(reason) && Number.isSafeInteger(n) && n > 0) this.readLogDroppedCounter.inc({ reason }, n);
  }

  jobChanged(record: JobRecord): void {
    if (!record || typeof record.jobId !== 'string' || !JOB_STATES.includes(record.state)) return;
    const before = this.lastState.get(record.jobId);
    this.records.set(record.jobId, record);
    this.lastState.set(record.jobId, record.state);
    // Jobs found already ended at start were counted by the coordinator that ended them.
    if (before !== undefined && !TERMINAL.includes(before) && TERMINAL.includes(record.state)) {
      this.finished.inc({ state: record.state.toLowerCase() });
      if (record.state !== 'CANCELLED' && typeof record.finishedAtMs === 'number' && Number.isFinite(record.finishedAtMs - record.createdAtMs)) this.jobSeconds.observe(Math.max(0, record.finishedAtMs - record.createdAtMs) / 1000);
    }
  }

  /** A deleted job is no longer counted in the job gauges. */
  jobDeleted(jobId: string): void {
    this.records.delete(jobId);
    this.lastState.delete(jobId);
  }

  tasksDispatched(n: number): void {
    this.dispatched.inc(n);
  }

  taskMerged(failed: boolean, bytes: number, attempt = 1): void {
    this.tasks.inc({ outcome: failed ? 'failed' : 'done' });
    this.bytes.inc(bytes);
    if (attempt > 1) this.redelivered.inc();
  }

  reportBuilt(seconds: number, ok: boolean): void {
    this.reportSeconds.observe({ outcome: ok ? 'done' : 'failed' }, seconds);
  }

  heartbeat(): void {
    this.heartbeats.inc();
  }

  /** Workers alive at an earlier scrape and silent now. */
  private countLost(): void {
    const now = new Set(this.workers.alive(ALIVE_WITHIN_MS).map((w) => w.worker));
    for (const w of this.lastAlive) if (!now.has(w)) this.lost.inc();
    this.lastAlive = now;
  }
}
