/**
 * The JetStream side of the wire: stream, consumer, bucket and subject names shared by the
 * coordinator and the workers, and the one function that creates them. JetStream is the engine:
 * the work queue, its leases (ack wait, redelivery, max deliveries), the result log and the job
 * state are all JetStream's; nothing here re-implements them.
 *
 *  - LINEAGE_TASKS (work queue): one message per task on `lineage.tasks.<job>.<task>`; a message
 *    leaves the stream when a worker acks it. One subject per task lets a restarted coordinator
 *    see which tasks are still queued or held.
 *  - lineage-workers: the durable pull consumer every worker shares (explicit ack).
 *  - LINEAGE_RESULTS (limits): TaskResult messages on `lineage.results.<job>`, kept until the
 *    job's report is stored, so a restarted coordinator re-reads them instead of redoing tasks.
 *  - KV `lineage-jobs`: one JSON record per job; KV `lineage-reports`: reports, in chunks.
 */
import { readFileSync } from 'node:fs';
import { connect, credsAuthenticator, nanos, type NatsConnection } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, jetstreamManager, RetentionPolicy, StorageType, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { LineageError, UsageError } from '../core/src/errors.ts';

export const TASKS_STREAM = 'LINEAGE_TASKS';
export const RESULTS_STREAM = 'LINEAGE_RESULTS';
export const WORKERS_CONSUMER = 'lineage-workers';
export const JOBS_BUCKET = 'lineage-jobs';
export const REPORTS_BUCKET = 'lineage-reports';
/** Core NATS (not stored): workers announce themselves here. */
export const HEARTBEAT_SUBJECT_PREFIX = 'lineage.workers.heartbeat';
/** JetStream's advisory when a task was delivered max_deliver times without an ack. */
export const MAX_DELIVERIES_ADVISORY = `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${TASKS_STREAM}.${WORKERS_CONSUMER}`;

export const DEFAULT_ACK_WAIT_MS = 30_000;
export const DEFAULT_MAX_DELIVER = 5;

/** Job ids become subject tokens and KV keys: letters, digits, '-' and '_' only. */
export const JOB_ID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;

export const taskSubject = (jobId: string, taskId: number) => `lineage.tasks.${jobId}.${taskId}`;
export const jobTasksFilter = (jobId: string) => `lineage.tasks.${jobId}.>`;
export const resultSubject = (jobId: string) => `lineage.results.${jobId}`;
export const heartbeatSubject = (workerId: string) => `${HEARTBEAT_SUBJECT_PREFIX}.${workerId}`;

/** Connects to NATS (comma-separated server URLs), with a credentials file when given; reconnects forever. */
export async function connectNats(servers: string, credsFile: string | undefined, name: string): Promise<NatsConnection> {
  let creds: Uint8Array | undefined;
  if (credsFile) {
    try {
      creds = readFileSync(credsFile);
    } catch (err) {
      throw new UsageError(`cannot read NATS credentials ${credsFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  try {
    return await connect({ servers: servers.split(','), name, authenticator: creds ? credsAuthenticator(creds) : undefined, maxReconnectAttempts: -1 });
  } catch (err) {
    throw new LineageError('INTERNAL', `cannot connect to NATS at ${servers}: ${(err as Error).message}`, { retryable: true, cause: err });
  }
}

/**
 * Runs a JetStream request again when its reply never came. A request in flight when the server
 * went away, or sent while it was still loading its streams after a restart, can go unanswered;
 * every request retried here is idempotent (reads, KV puts of the same value, publishes with a
 * message id JetStream deduplicates, or a task whose second copy only costs a second run).
 */
export async function retryOnTimeout<T>(op: () => Promise<T>, attempts = 4, delayMs = 500): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await op();
    } catch (err) {
      const e = err as Error;
      const timedOut = e?.name === 'TimeoutError' || /timeout|no responders/i.test(e?.message ?? '');
      if (!timedOut || attempt >= attempts) throw err;
      await new Promise((resolve) => setTimeout(resolve, delayMs * attempt));
    }
  }
}

export interface QueueSettings {
  /** How long a delivered task may go without an ack or a heartbeat before JetStream redelivers it. */
  ackWaitMs: number;
  /** Deliveries of one task before JetStream gives up on it (a task that kills every worker). */
  maxDeliver: number;
}

export interface Topology {
  jsm: JetStreamManager;
  jobs: KV;
  reports: KV;
}

/**
 * Creates the streams, the shared consumer and the buckets where missing (idempotent, safe to
 * race). With `settings`, an existing consumer is updated to them (the coordinator's say);
 * without, an existing one is used as it is (a worker joining).
 */
export async function ensureTopology(nc: NatsConnection, settings?: Partial<QueueSettings>): Promise<Topology> {
  let jsm: JetStreamManager;
  try {
    jsm = await jetstreamManager(nc);
  } catch (err) {
    throw new LineageError('UNSUPPORTED', `NATS at ${nc.getServer()} has no JetStream (start nats-server with -js): ${(err as Error).message}`, { cause: err });
  }
  await ensureStream(jsm, TASKS_STREAM, {
    subjects: ['lineage.tasks.>'], retention: RetentionPolicy.Workqueue, storage: StorageType.File,
  });
  await ensureStream(jsm, RESULTS_STREAM, {
    subjects: ['lineage.results.>'], retention: RetentionPolicy.Limits, storage: StorageType.File,
    duplicate_window: nanos(120_000),
  });
  await ensureWorkersConsumer(jsm, settings);
  // Plain (not direct) gets: with nats-server 2.9, direct gets after a server restart sometimes
  // go unanswered until the client times out (seen in test/cluster-faults.test.ts).
  const kvm = new Kvm(nc);
  const jobs = await kvm.create(JOBS_BUCKET, { history: 1, allow_direct: false });
  const reports = await kvm.create(REPORTS_BUCKET, { history: 1, allow_direct: false });
  return { jsm, jobs, reports };
}

async function ensureStream(jsm: JetStreamManager, name: string, config: Parameters<JetStreamManager['streams']['add']>[0] extends infer C ? Omit<C & object, 'name'> : never): Promise<void> {
  try {
    await jsm.streams.info(name);
    return;
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  try {
    await jsm.streams.add({ name, ...config });
  } catch (err) {
    // Another process created it between our look and our add.
    if (!/already in use/i.test((err as Error).message)) throw err;
  }
}

async function ensureWorkersConsumer(jsm: JetStreamManager, settings?: Partial<QueueSettings>): Promise<void> {
  const ackWait = nanos(settings?.ackWaitMs ?? DEFAULT_ACK_WAIT_MS);
  const maxDeliver = settings?.maxDeliver ?? DEFAULT_MAX_DELIVER;
  let existing;
  try {
    existing = await jsm.consumers.info(TASKS_STREAM, WORKERS_CONSUMER);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  if (!existing) {
    try {
      await jsm.consumers.add(TASKS_STREAM, {
        durable_name: WORKERS_CONSUMER,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: ackWait,
        max_deliver: maxDeliver,
        filter_subject: 'lineage.tasks.>',
        max_ack_pending: -1,
      });
    } catch (err) {
      if (!/already in use|already exists/i.test((err as Error).message)) throw err;
    }
    return;
  }
  if (settings && (existing.config.ack_wait !== ackWait || existing.config.max_deliver !== maxDeliver)) {
    await jsm.consumers.update(TASKS_STREAM, WORKERS_CONSUMER, { ack_wait: ackWait, max_deliver: maxDeliver });
  }
}

export function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; message?: string; code?: number; api_error?: { code?: number } };
  return e?.name === 'StreamNotFoundError' || e?.name === 'ConsumerNotFoundError' || /not found/i.test(e?.message ?? '');
}

/** The state of a job as kept in its KV record (the gRPC JobState without its prefix). */
export type JobStateName = 'QUEUED' | 'RUNNING' | 'DONE' | 'FAILED' | 'CANCELLED';
export const TERMINAL_STATES: readonly JobStateName[] = ['DONE', 'FAILED', 'CANCELLED'];

/** The state of a job from its KV record; null when there is no such job. */
export async function readJobState(jobs: KV, jobId: string): Promise<JobStateName | null> {
  const entry = await retryOnTimeout(() => jobs.get(jobId));
  if (!entry || entry.operation !== 'PUT' || entry.length === 0) return null;
  return (entry.json<{ state: JobStateName }>()).state ?? null;
}
