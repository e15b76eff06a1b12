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
import { connect, credsAuthenticator, nanos, nkeyAuthenticator, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, jetstreamManager, RetentionPolicy, StorageType, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { LineageError, UsageError } from '../core/src/errors.ts';
import type { ClusterKey } from './cluster-key.ts';
import { openValue } from './signed.ts';

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

/** How a process proves itself to NATS, and how it checks NATS (TLS). One way of authenticating at most. */
export interface NatsAuth {
  /** Credentials file (JWT and NKEY seed), as `nsc` writes it. */
  creds?: string;
  user?: string;
  pass?: string;
  token?: string;
  /** File holding an NKEY user seed (`SU...`). */
  nkeySeed?: string;
  /** CA certificate(s) the server's certificate must chain to (PEM); turns TLS on. */
  tlsCa?: string;
  /** Client certificate and key (PEM), for servers that verify clients. */
  tlsCert?: string;
  tlsKey?: string;
}

function readSecret(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new UsageError(`cannot read ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** The connection options for `auth`; UsageError for a contradictory or unreadable set. */
export function natsConnectOptions(auth: NatsAuth = {}): Partial<ConnectionOptions> {
  const ways = [auth.creds && '--nats-creds', (auth.user || auth.pass) && '--nats-user/--nats-pass', auth.token && '--nats-token', auth.nkeySeed && '--nats-nkey'].filter(Boolean);
  if (ways.length > 1) throw new UsageError(`NATS authentication: give one of ${ways.join(', ')}, not several`);
  if (auth.pass && !auth.user) throw new UsageError('--nats-pass needs --nats-user');
  if (!!auth.tlsCert !== !!auth.tlsKey) throw new UsageError('NATS TLS: --nats-tls-cert and --nats-tls-key go together');
  const options: Partial<ConnectionOptions> = {};
  if (auth.creds) options.authenticator = credsAuthenticator(readSecret(auth.creds, 'NATS credentials'));
  if (auth.nkeySeed) {
    const seed = readSecret(auth.nkeySeed, 'the NKEY seed').toString('utf8').trim();
    if (!/^SU[A-Z2-7]{56}$/.test(seed)) throw new UsageError(`${auth.nkeySeed}: not an NKEY user seed (one line starting with SU)`);
    options.authenticator = nkeyAuthenticator(new TextEncoder().encode(seed));
  }
  if (auth.user) Object.assign(options, { user: auth.user, pass: auth.pass ?? '' });
  if (auth.token) options.token = auth.token;
  if (auth.tlsCa || auth.tlsCert) {
    for (const [file, what] of [[auth.tlsCa, 'the NATS CA certificate'], [auth.tlsCert, 'the NATS client certificate'], [auth.tlsKey, 'the NATS client key']] as const) if (file) readSecret(file, what);
    options.tls = { caFile: auth.tlsCa, certFile: auth.tlsCert, keyFile: auth.tlsKey };
  }
  return options;
}

/** Where each role's replies arrive: NATS permissions let each role subscribe to its own only. */
export const INBOX_PREFIX = { coordinator: '_INBOX.coordinator', worker: '_INBOX.worker' } as const;

/**
 * Connects to NATS (comma-separated server URLs) with `auth`; reconnects forever. With a `role`,
 * replies come under that role's inbox prefix (so a worker cannot read the coordinator's replies:
 * job records and reports it reads from the buckets).
 */
export async function connectNats(servers: string, auth: NatsAuth | undefined, name: string, role?: keyof typeof INBOX_PREFIX): Promise<NatsConnection> {
  const options = natsConnectOptions(auth);
  try {
    return await connect({ servers: servers.split(','), name, maxReconnectAttempts: -1, ...options, ...(role ? { inboxPrefix: INBOX_PREFIX[role] } : {}) });
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

/** Retention of the streams and buckets (the coordinator's say; workers use what exists). */
export interface StorageSettings {
  /** Copies of every stream and bucket in a NATS cluster (default: up to 3, as many as the cluster has servers). */
  replicas?: number;
  /** Results, job records and reports older than this are dropped (default 0: kept until deleted). */
  maxAgeMs?: number;
  /** Each stream and bucket holds at most this many bytes (default -1: no limit). */
  maxBytes?: number;
}

/** Replicas that follow the NATS cluster: one per server it advertises, at most 3. */
export function defaultReplicas(nc: NatsConnection): number {
  const info = nc.info;
  if (!info?.cluster) return 1;
  return Math.max(1, Math.min(3, info.connect_urls?.length ?? 1));
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
export async function ensureTopology(nc: NatsConnection, settings?: Partial<QueueSettings>, storage?: StorageSettings): Promise<Topology> {
  let jsm: JetStreamManager;
  try {
    jsm = await jetstreamManager(nc);
  } catch (err) {
    throw new LineageError('UNSUPPORTED', `NATS at ${nc.getServer()} has no JetStream (start nats-server with -js): ${(err as Error).message}`, { cause: err });
  }
  const replicas = storage?.replicas ?? defaultReplicas(nc);
  const maxBytes = storage?.maxBytes ?? -1;
  const maxAge = nanos(storage?.maxAgeMs ?? 0);
  // Settings given explicitly are applied to existing streams too; defaults only shape new ones
  // (a default must never shrink what an operator configured, say replicas on a cluster).
  const explicit: StreamLimits = {};
  if (storage?.replicas !== undefined) explicit.num_replicas = replicas;
  if (storage?.maxBytes !== undefined) explicit.max_bytes = maxBytes;
  if (storage?.maxAgeMs !== undefined) explicit.max_age = maxAge;
  // Queued tasks are never aged out (a long job's tail would vanish); results, records and reports may be.
  await ensureStream(jsm, TASKS_STREAM, {
    subjects: ['lineage.tasks.>'], retention: RetentionPolicy.Workqueue, storage: StorageType.File, num_replicas: replicas, max_bytes: maxBytes,
  }, omit(explicit, 'max_age'));
  await ensureStream(jsm, RESULTS_STREAM, {
    subjects: ['lineage.results.>'], retention: RetentionPolicy.Limits, storage: StorageType.File,
    duplicate_window: nanos(120_000), num_replicas: replicas, max_bytes: maxBytes, max_age: maxAge,
  }, explicit);
  await ensureWorkersConsumer(jsm, settings);
  // Plain (not direct) gets: with nats-server 2.9, direct gets after a server restart sometimes
  // go unanswered until the client times out (seen in test/cluster-faults.test.ts).
  const kvm = new Kvm(nc);
  const bucket = { history: 1, allow_direct: false, replicas, max_bytes: maxBytes, ttl: storage?.maxAgeMs ?? 0 };
  const jobs = await kvm.create(JOBS_BUCKET, bucket);
  const reports = await kvm.create(REPORTS_BUCKET, bucket);
  // An existing bucket is opened as it is: bring its limits to the coordinator's settings.
  for (const name of [JOBS_BUCKET, REPORTS_BUCKET]) await applyLimits(jsm, `KV_${name}`, explicit);
  return { jsm, jobs, reports };
}

type StreamLimits = { num_replicas?: number; max_bytes?: number; max_age?: number };

const omit = (limits: StreamLimits, key: keyof StreamLimits): StreamLimits => Object.fromEntries(Object.entries(limits).filter(([k]) => k !== key));

/** Brings an existing stream to the given limits (only those given); nothing to do when it has them. */
async function applyLimits(jsm: JetStreamManager, name: string, limits: StreamLimits): Promise<void> {
  const given = Object.entries(limits) as [keyof StreamLimits, number][];
  if (given.length === 0) return;
  const info = await jsm.streams.info(name);
  const c = info.config;
  if (given.every(([k, v]) => c[k] === v)) return;
  await jsm.streams.update(name, { ...c, ...limits });
}

async function ensureStream(jsm: JetStreamManager, name: string, config: Parameters<JetStreamManager['streams']['add']>[0] extends infer C ? Omit<C & object, 'name'> : never, limits?: StreamLimits): Promise<void> {
  try {
    await jsm.streams.info(name);
    if (limits) await applyLimits(jsm, name, limits);
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

/**
 * The state of a job from its KV record; null when there is no such job. A record that does not
 * verify or parse is an UntrustedDataError (proto/signed.ts).
 */
export async function readJobState(jobs: KV, jobId: string, key: ClusterKey): Promise<JobStateName | null> {
  const entry = await retryOnTimeout(() => jobs.get(jobId));
  if (!entry || entry.operation !== 'PUT' || entry.length === 0) return null;
  const payload = openValue(key, `job record ${JSON.stringify(jobId)}`, 'job-record', [jobId], entry.value);
  let state: unknown;
  try {
    state = (JSON.parse(Buffer.from(payload).toString('utf8')) as { state?: unknown })?.state;
  } catch {
    state = undefined;
  }
  return ['QUEUED', 'RUNNING', ...TERMINAL_STATES].includes(state as string) ? state as JobStateName : null;
}
