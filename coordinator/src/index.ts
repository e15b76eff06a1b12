/**
 * The lineage coordinator: the gRPC Jobs API in front of JetStream. It plans each job, puts its
 * tasks on the work queue, merges the workers' results into the report, and keeps everything it
 * knows in JetStream, so another coordinator started on the same NATS carries on where it left.
 */
import { readFileSync } from 'node:fs';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { UsageError } from '../../core/src/errors.ts';
import { ClusterKey } from '../../proto/cluster-key.ts';
import { connectNats, ensureTopology, type NatsAuth, type StorageSettings } from '../../proto/jetstream.ts';
import { JobsService } from '../../proto/lineage/v1/lineage.ts';
import { tokenChecker } from './auth.ts';
import { registerAdmissionMetrics } from './admission.ts';
import { JobManager } from './jobs.ts';
import { ModelRoots, serveMetrics, type MetricsEndpoint } from '../../service/src/index.ts';
import { CoordinatorMetrics } from './metrics.ts';
import { jobsService } from './server.ts';
import { JobStore } from './store.ts';
import { WorkerRegistry } from './workers.ts';

export interface CoordinatorOptions {
  /** NATS server URL(s), comma-separated. */
  nats: string;
  /** gRPC address, HOST:PORT (port 0: any free port; the bound one is in `address`). */
  listen: string;
  /** Bearer token clients must send; default the LINEAGE_TOKEN environment variable. Required. */
  token?: string;
  /** The only folders model paths are accepted under (default: the working directory). */
  modelRoots?: string[];
  /**
   * Accept http(s) model URLs (folder URLs or comma-separated file URLs), read with Range requests
   * by the coordinator (headers) and the workers (tensor bytes). Off by default: a coordinator that
   * fetches any URL it is given is a way into the network it sits in.
   */
  allowUrls?: boolean;
  /** Bearer token for model URLs (default the HF_TOKEN environment variable); never sent to clients. */
  hubToken?: string;
  /** NATS credentials file (JWT + nkey seed); the same as `natsAuth.creds`. */
  natsCreds?: string;
  /** How to authenticate to NATS and check its certificate. */
  natsAuth?: NatsAuth;
  /**
   * The cluster key (at least 32 bytes) tasks, results and stored records are signed with, or the
   * file holding it; default the LINEAGE_CLUSTER_KEY environment variable. Required unless `insecure`.
   */
  clusterKey?: string | Uint8Array;
  clusterKeyFile?: string;
  /** Run without a cluster key: nothing signed, nothing checked (a trusted lab network only). */
  insecure?: boolean;
  /** Replicas, max age and max bytes of the streams and buckets. */
  storage?: StorageSettings;
  /** TLS for the gRPC API: PEM certificate chain and private key files (both or neither). */
  tlsCert?: string;
  tlsKey?: string;
  /** Work-queue lease: ack wait of a delivered task (default 30 s) and deliveries before giving up (default 5). */
  ackWaitMs?: number;
  maxDeliver?: number;
  /** Admission control: jobs with tasks on the work queue at once (default 1; the others wait as queued), plannings at once (default 2), report builds at once (default 1). */
  maxRunningJobs?: number;
  maxPlanning?: number;
  maxReportBuilds?: number;
  /** Serve Prometheus metrics at http://HOST:PORT/metrics (HOST of `listen`; port 0: any free port). */
  metricsPort?: number;
  /** One line per event (job planned, resumed, finished); default silent. */
  log?: (line: string) => void;
}

export interface RunningCoordinator {
  /** HOST:PORT the gRPC API listens on. */
  address: string;
  /** HOST:PORT of the metrics endpoint, when one was asked for. */
  metricsAddress?: string;
  close(): Promise<void>;
}

function credentials(options: CoordinatorOptions): ServerCredentials {
  if (!options.tlsCert && !options.tlsKey) return ServerCredentials.createInsecure();
  if (!options.tlsCert || !options.tlsKey) throw new UsageError('TLS needs both --tls-cert and --tls-key');
  const read = (file: string, what: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new UsageError(`cannot read the TLS ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  return ServerCredentials.createSsl(null, [{ cert_chain: read(options.tlsCert, 'certificate'), private_key: read(options.tlsKey, 'key') }], false);
}

function splitAddress(listen: string): { host: string; port: number } {
  const m = /^(.*):(\d+)$/.exec(listen);
  if (!m || !m[1]) throw new UsageError(`--listen must be HOST:PORT, got '${listen}'`);
  return { host: m[1], port: Number(m[2]) };
}

export async function startCoordinator(options: CoordinatorOptions): Promise<RunningCoordinator> {
  const token = options.token ?? process.env.LINEAGE_TOKEN;
  if (!token) throw new UsageError('the coordinator needs a token for its API: --token T or the LINEAGE_TOKEN environment variable');
  const roots = new ModelRoots(options.modelRoots?.length ? options.modelRoots : [process.cwd()]);
  const { host } = splitAddress(options.listen);
  const serverCredentials = credentials(options);
  const log = options.log ?? (() => {});
  const key = ClusterKey.load({ key: options.clusterKey, keyFile: options.clusterKeyFile, insecure: options.insecure }, 'the coordinator');
  if (key.insecure) log('WARNING: no cluster key (--insecure): tasks, results and stored records are neither signed nor checked');

  const nc = await connectNats(options.nats, { creds: options.natsCreds, ...options.natsAuth }, 'lineage-coordinator', 'coordinator');
  let jobs: JobManager | null = null;
  let workers: WorkerRegistry | null = null;
  let metricsEndpoint: MetricsEndpoint | null = null;
  let ownMetrics: CoordinatorMetrics | null = null;
  const server = new Server();
  try {
    const topology = await ensureTopology(nc, { ackWaitMs: options.ackWaitMs, maxDeliver: options.maxDeliver }, options.storage ?? {});
    let metrics: CoordinatorMetrics | null = null;
    workers = new WorkerRegistry(nc, key, () => metrics?.heartbeat(), (reason) => metrics?.untrusted('heartbeat', reason));
    metrics = ownMetrics = new CoordinatorMetrics(workers);
    metrics.watchQueue(topology.jsm);
    jobs = new JobManager({
      nc, key, topology, store: new JobStore(topology.jobs, topology.reports, key), roots, workers, log,
      maxRunningJobs: options.maxRunningJobs, maxPlanning: options.maxPlanning, maxReportBuilds: options.maxReportBuilds,
      onUntrusted: (kind, reason) => metrics.untrusted(kind, reason),
      onReadLogDropped: (reason, n) => metrics.readLogDropped(reason, n),
      remote: options.allowUrls ? { token: options.hubToken ?? process.env.HF_TOKEN } : null,
      onChange: (r) => metrics.jobChanged(r),
      onTask: (failed, bytes, attempt) => metrics.taskMerged(failed, bytes, attempt),
      onDispatch: (n) => metrics.tasksDispatched(n),
      onDeleted: (jobId) => metrics.jobDeleted(jobId),
      onReportBuilt: (seconds, ok) => metrics.reportBuilt(seconds, ok),
    });
    // Resume before serving, so a client never sees a job this coordinator has not taken up yet.
    registerAdmissionMetrics(metrics.registry, jobs.admission);
    await jobs.start();
    server.addService(JobsService, jobsService(jobs, tokenChecker(token)));
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(options.listen, serverCredentials, (err, bound) => (err ? reject(err) : resolve(bound)));
    });
    const address = `${host}:${port}`;
    if (options.metricsPort !== undefined) metricsEndpoint = await serveMetrics(metrics.registry, options.metricsPort, host);
    log(`coordinator listening on ${address}${options.tlsCert ? ' (TLS)' : ''}; model roots ${roots.roots.join(', ')}${metricsEndpoint ? `; metrics on http://${metricsEndpoint.address}/metrics` : ''}`);
    let closing: Promise<void> | null = null;
    return {
      address,
      metricsAddress: metricsEndpoint?.address,
      close: () => {
        closing ??= (async () => {
          // Open Watch streams would hold a graceful shutdown forever: give them a moment, then cut.
          await new Promise<void>((resolve) => {
            const timer = setTimeout(() => { server.forceShutdown(); resolve(); }, 1_000);
            server.tryShutdown(() => { clearTimeout(timer); resolve(); });
          });
          await metricsEndpoint?.close();
          ownMetrics!.close();
          await jobs!.close();
          workers!.close();
          await nc.drain().catch(() => nc.close());
        })();
        return closing;
      },
    };
  } catch (err) {
    server.forceShutdown();
    await metricsEndpoint?.close();
    ownMetrics?.close();
    await jobs?.close();
    workers?.close();
    await nc.close();
    throw err;
  }
}
