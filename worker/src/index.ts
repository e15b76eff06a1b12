/**
 * A lineage worker: pulls tasks from the JetStream work queue (the durable consumer all workers
 * share), runs each on one of its threads exactly as the in-process executor would, publishes
 * the TaskResult and only then acks. JetStream does the rest: a task whose worker dies is
 * redelivered after the ack wait; long tasks keep their lease with in-progress acks; a task that
 * fails deterministically is published as failed and terminated, never retried.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { availableParallelism, hostname, tmpdir } from 'node:os';
import { millis, nuid } from '@nats-io/transport-node';
import { jetstream, type Consumer, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import { DEFAULT_WINDOW_ELEMENTS, type ContextOptions, type ItemResult } from '../../core/src/exec/index.ts';
import { isRemoteSource } from '../../core/src/checkpoint/index.ts';
import { mergeReadLogs, readLogsIn, encodeReadLog, type ReadLog } from '../../core/src/io/index.ts';
import { HASH_ALGORITHMS, type HashAlgorithm } from '../../core/src/hash/index.ts';
import { resolveKernel, type KernelChoice, type KernelName } from '../../core/src/kernels/index.ts';
import { encodeTaskResult, type TaskEnvelope, type TaskOutcome } from '../../proto/convert.ts';
import { ClusterKey } from '../../proto/cluster-key.ts';
import {
  connectNats, ensureTopology, heartbeatSubject, readJobState, resultSubject, retryOnTimeout, taskSubject, TASKS_STREAM, TERMINAL_STATES, WORKERS_CONSUMER, type NatsAuth, type Topology,
} from '../../proto/jetstream.ts';
import { throttledLog } from '../../proto/log-throttle.ts';
import { openTask, resultMessageId, signHeartbeat, signResult, UntrustedDataError } from '../../proto/signed.ts';
import { ModelRoots, serveMetrics, type MetricsEndpoint } from '../../service/src/index.ts';
import { WorkerMetrics } from './metrics.ts';
import { ReadBackoff, retryDelayMs } from './read-backoff.ts';
import { TaskFailure, taskFailureOf, ThreadSlot } from './thread-slot.ts';
import { runOnPool } from '../../core/src/exec/index.ts';
import { encodeControlValue, parseControlTask, type ControlTask } from '../../core/src/controls/index.ts';

/** Of a result message's max_payload, what its headers (MAC, message id) and the log's own framing may take. */
const RESULT_HEADROOM_BYTES = 16 * 1024;
/** Kubernetes gives a pod 30 s between SIGTERM and SIGKILL by default. */
const DEFAULT_DRAIN_GRACE_MS = 25_000;

export interface WorkerOptions {
  /** NATS server URL(s), comma-separated. */
  nats: string;
  /** Tasks run at once, each on its own thread (default: all cores). */
  threads?: number;
  /** Kernel for tasks that leave the choice to the worker (default auto). */
  kernel?: KernelChoice;
  /** NATS credentials file (JWT + nkey seed); the same as `natsAuth.creds`. */
  natsCreds?: string;
  /** How to authenticate to NATS and check its certificate. */
  natsAuth?: NatsAuth;
  /** The cluster key (or its file; default LINEAGE_CLUSTER_KEY): only tasks signed with it run. Required unless `insecure`. */
  clusterKey?: string | Uint8Array;
  clusterKeyFile?: string;
  /** Run tasks without checking who sent them (a trusted lab network only). */
  insecure?: boolean;
  /** The only folders this worker reads tensor files under, whatever a task says (default: the working directory). */
  modelRoots?: string[];
  /** Run tasks that read http(s) model URLs (off by default: a worker that fetches any URL is a way into its network). */
  allowUrls?: boolean;
  /** Reader of tensor bytes (default pread). */
  reader?: 'pread' | 'mmap';
  /** How often the worker announces itself (default 5 s). */
  heartbeatMs?: number;
  /** A name for this worker (default host-pid-random). */
  id?: string;
  /** Serve Prometheus metrics at http://HOST:PORT/metrics (port 0: any free port). */
  metricsPort?: number;
  /** Bearer token for tasks that read model URLs (default the HF_TOKEN environment variable). */
  hubToken?: string;
  /** Address the metrics endpoint binds to (default 0.0.0.0). */
  metricsHost?: string;
  /** How long stop() lets running tasks finish before handing them back (default 25 s). */
  drainGraceMs?: number;
  /** One line per event (task started, finished, failed); default silent. */
  log?: (line: string) => void;
}

export interface RunningWorker {
  id: string;
  /** HOST:PORT of the metrics endpoint, when one was asked for. */
  metricsAddress?: string;
  /**
   * Drains: stops pulling, lets the running tasks finish (results published, acked) for up to
   * `graceMs` (default `drainGraceMs`), hands back any still running then, and disconnects.
   * Calling it again returns the same promise.
   */
  stop(options?: { graceMs?: number }): Promise<void>;
}

function workerName(): string {
  return `${hostname()}-${process.pid}-${nuid.next().slice(-6)}`.replace(/[^A-Za-z0-9_-]/g, '_');
}

export async function startWorker(options: WorkerOptions): Promise<RunningWorker> {
  const id = (options.id ?? workerName()).replace(/[^A-Za-z0-9_-]/g, '_');
  const threads = Math.max(1, options.threads ?? availableParallelism());
  const ownKernel: KernelName = await resolveKernel(options.kernel ?? 'auto');
  const log = options.log ?? (() => {});
  /** Refusals are logged throttled (a flood of forged tasks is counted in the metrics, not logged line by line). */
  const refusalLog = throttledLog(log);
  const key = ClusterKey.load({ key: options.clusterKey, keyFile: options.clusterKeyFile, insecure: options.insecure }, 'the worker');
  const roots = new ModelRoots(options.modelRoots?.length ? options.modelRoots : [process.cwd()]);
  if (key.insecure) log('WARNING: no cluster key (--insecure): tasks are run without checking who sent them');
  const nc = await connectNats(options.nats, { creds: options.natsCreds, ...options.natsAuth }, `lineage-worker ${id}`, 'worker');
  let topology: Topology;
  let consumer: Consumer;
  let ackWaitMs: number;
  let maxDeliver: number;
  const js = jetstream(nc);
  try {
    topology = await ensureTopology(nc);
    consumer = await js.consumers.get(TASKS_STREAM, WORKERS_CONSUMER);
    const info = await consumer.info();
    ackWaitMs = millis(info.config.ack_wait ?? 30_000_000_000);
    maxDeliver = info.config.max_deliver && info.config.max_deliver > 0 ? info.config.max_deliver : Infinity;
  } catch (err) {
    await nc.close();
    throw err;
  }
  const metrics = new WorkerMetrics(threads, ownKernel);
  let metricsEndpoint: MetricsEndpoint | undefined;
  if (options.metricsPort !== undefined) {
    try {
      metricsEndpoint = await serveMetrics(metrics.registry, options.metricsPort, options.metricsHost);
    } catch (err) {
      await nc.close();
      throw err;
    }
  }

  let stopping = false;
  /**
   * Set when stop()'s grace has run out. Until then a task delivered to this worker is run even
   * while it stops: JetStream has counted that delivery, and handing it back would spend one of the
   * task's max_deliver for nothing (with max_deliver 1, fail it).
   */
  let handingBack = false;
  /** Pending pulls, ended by stop() so that it need not wait for them to expire. */
  const pulls = new Set<ConsumerMessages>();
  const inFlight = new Map<ThreadSlot, JsMsg>();
  /** Tasks being handled (run, publish, ack), for the drain's log line: a drain waits for the loops that handle them. */
  let handling = 0;
  /** Pulling pauses after read failures here, so that other workers get the tasks first. */
  const readBackoff = new ReadBackoff();
  /** Wakes the loops paused by readBackoff (when stopping). */
  const wakers = new Set<() => void>();
  const pause = (ms: number) => new Promise<void>((resolve) => {
    const wake = () => { clearTimeout(timer); wakers.delete(wake); resolve(); };
    const timer = setTimeout(wake, ms);
    wakers.add(wake);
  });
  /** Tasks given back to the queue by stop(): whatever they produce is not published. */
  const handedBack = new Set<JsMsg>();
  const slots = Array.from({ length: threads }, () => new ThreadSlot());

  const heartbeat = () => {
    const beat = signHeartbeat(key, {
      worker: id, threads, kernel: ownKernel, gpu: ownKernel === 'gpu.js', atMs: Date.now(), tasksRunning: inFlight.size,
    });
    try {
      nc.publish(heartbeatSubject(id), beat.data, { headers: beat.headers });
      metrics.heartbeat();
    } catch {
      // Closed or draining: the worker is stopping, and a missed heartbeat is harmless.
    }
  };
  heartbeat();
  const heartbeatTimer = setInterval(heartbeat, options.heartbeatMs ?? 5_000);

  /** Refuses (deterministically) a task naming any file outside the roots, or a URL when URLs are off. */
  const checkFiles = (envelope: TaskEnvelope) => {
    for (const item of envelope.task.items) {
      for (const ref of [item.a, item.b, item.scalesA, item.scalesB]) {
        if (!ref) continue;
        // Outside the roots as written: refused before the file system is asked anything.
        const outside = isRemoteSource(ref.file) ? null : roots.refusalAsWritten(ref.file);
        if (outside) throw new TaskFailure(`refused: ${outside}`, true);
        // Absent here (a mount without the models): this worker's fault, not the task's, so it is
        // a read failure, retried on another worker (issue 14), not a refusal that ends the task.
        if (!isRemoteSource(ref.file) && !existsSync(ref.file)) throw new TaskFailure(`ReadFailedError: ${ref.file}: cannot open: ENOENT (not on this worker)`, false, true);
        const refusal = isRemoteSource(ref.file)
          ? (options.allowUrls ? null : `${ref.file}: this worker does not read model URLs (start it with --allow-urls)`)
          : roots.refusalOf(ref.file);
        if (refusal) throw new TaskFailure(`refused: ${refusal}`, true);
      }
    }
  };

  const contextFor = (envelope: TaskEnvelope): ContextOptions => {
    if (envelope.hash !== 'none' && !HASH_ALGORITHMS.includes(envelope.hash as HashAlgorithm)) {
      throw new TaskFailure(`unknown hash '${envelope.hash}' (expected one of ${HASH_ALGORITHMS.join(', ')} or none)`, true);
    }
    const kernel = envelope.kernel === '' || envelope.kernel === 'auto' ? ownKernel : envelope.kernel;
    if (!['wasm-simd', 'js', 'gpu.js'].includes(kernel)) throw new TaskFailure(`unknown kernel '${envelope.kernel}'`, true);
    return {
      kernel: kernel as KernelName,
      reader: options.reader ?? 'pread',
      hash: envelope.hash as HashAlgorithm | 'none',
      windowElements: DEFAULT_WINDOW_ELEMENTS,
      // As the local executor: overlap reads with compute only where a core is left for them.
      overlapReads: threads < availableParallelism(),
      // Tasks may name http(s) files (remote models): route those over Range requests.
      ...(envelope.task.items.some((i) => [i.a, i.b].some((r) => r && isRemoteSource(r.file))) ? { remote: { token: options.hubToken ?? process.env.HF_TOKEN } } : {}),
    };
  };

  /**
   * A control task (core/src/controls/tasks.ts): checked field by field, its model folders held to
   * the roots as the weights pass's files are, then run on the process's thread pool. Its answer is
   * a small compressed JSON value; what it cannot read fails it as a read failure (retried on
   * another worker), anything else deterministically (the same models give the same answer).
   */
  const runControl = async (json: string, jobId: string): Promise<{ value: Uint8Array; readLog: ReadLog | null }> => {
    let task: ControlTask;
    try {
      task = parseControlTask(json);
    } catch (err) {
      throw new TaskFailure(`refused: ${(err as Error).message}`, true);
    }
    const urls = [task.models.a, task.models.b].some(isRemoteSource);
    for (const folder of [task.models.a, task.models.b]) {
      if (isRemoteSource(folder)) {
        // Model URLs (remote models): only on a worker started with --allow-urls, as for the weights pass.
        if (!options.allowUrls) throw new TaskFailure(`refused: ${folder.split(',')[0]}: this worker does not read model URLs (start it with --allow-urls)`, true);
        if (!folder.split(',').every(isRemoteSource)) throw new TaskFailure(`refused: ${folder.slice(0, 200)}: a list mixing URLs and paths`, true);
        continue;
      }
      if (!isAbsolute(folder)) throw new TaskFailure(`refused: ${folder}: the controls read model folders (absolute paths) on this worker's mounts only`, true);
      // Absent here (a mount without the models): retried on another worker, as for the weights pass.
      if (!existsSync(folder)) throw new TaskFailure(`ReadFailedError: ${folder}: cannot open: ENOENT (not on this worker)`, false, true);
      try {
        // The folder and every file in it (shards, index, config) must resolve under the roots.
        roots.checkFolderFiles(roots.resolveFolder(folder, 'control task model'));
      } catch (err) {
        throw new TaskFailure(`refused: ${(err as Error).message}`, true);
      }
    }
    // A task's remote readers write their logs into a folder of its own as they close (as the local
    // executor's do): they go back with the answer, so the report shows what the controls read.
    const logDir = urls ? mkdtempSync(join(tmpdir(), 'lineage-control-reads-')) : null;
    try {
      // One session per job: a thread opens the folders' headers once for all the job's control tasks.
      // Spans kept by a thread's HTTP helper are shared within the job only: each job's logs hold every span it used.
      const remote = logDir ? { token: options.hubToken ?? process.env.HF_TOKEN, logDir, spanScope: `controls-${jobId}` } : null;
      const { value } = await runOnPool('control', { task, session: `controls-${jobId}`, remote }, { threads });
      return { value: encodeControlValue(value), readLog: logDir ? mergeReadLogs(readLogsIn(logDir)) : null };
    } catch (err) {
      // Bad input fails it for good; a read failure goes to another worker; anything else is
      // retried. Its readers wrote their logs as they closed: what it fetched goes back with the failure.
      const failure = taskFailureOf(err);
      if (logDir && !failure.readLog) {
        try {
          const logs = readLogsIn(logDir);
          if (logs.length) failure.withReadLog(mergeReadLogs(logs));
        } catch (e) {
          log(`control task of job ${jobId}: its read logs could not be gathered after it failed: ${(e as Error).message}`);
        }
      }
      throw failure;
    } finally {
      if (logDir) rmSync(logDir, { recursive: true, force: true });
    }
  };

  /** The log goes in the room the result message leaves under the server's max_payload (past it, a publish fails and the task would be redelivered for ever). */
  const attachReadLog = (outcome: TaskOutcome, readLog: ReadLog) => {
    const room = (nc.info?.max_payload ?? 1024 * 1024) - RESULT_HEADROOM_BYTES - encodeTaskResult(outcome).length;
    outcome.readLog = encodeReadLog(readLog, room);
  };

  /** Signed and bound to the task it answers (its MAC), so the coordinator takes it for that task only. */
  const publish = async (outcome: TaskOutcome, taskMac: string) => {
    const signed = signResult(key, outcome, taskMac);
    // The message id lets JetStream drop the copy a retried publish may add.
    await retryOnTimeout(() => js.publish(resultSubject(outcome.jobId), signed.data, { msgID: resultMessageId(outcome, signed), headers: signed.headers }));
  };

  /**
   * A failed delivery's read log, sent before the task goes back on the queue: best effort (the
   * task is retried whether or not it got through; a job that has ended wants no more logs).
   */
  const publishFailedDelivery = async (outcome: TaskOutcome, readLog: ReadLog, taskMac: string, name: string) => {
    try {
      if (await jobEnded(outcome.jobId)) return;
      attachReadLog(outcome, readLog);
      await publish(outcome, taskMac);
    } catch (err) {
      log(`task ${name}: could not send the read log of its failed delivery: ${(err as Error).message}`);
    }
  };

  const jobEnded = async (jobId: string) => {
    let state;
    try {
      state = await readJobState(topology.jobs, jobId, key);
    } catch (err) {
      if (!(err instanceof UntrustedDataError)) throw err;
      // The task itself verified; a record someone rewrote must not stop it (nor start anything).
      refusalLog(`job-record/${err.reason}`, `job ${jobId}: ignored its stored record: ${err.message}`);
      metrics.untrusted('job-record', err.reason);
      return false;
    }
    return state === null || TERMINAL_STATES.includes(state);
  };

  const handle = async (msg: JsMsg, slot: ThreadSlot) => {
    const attempt = msg.info.deliveryCount;
    const received = performance.now();
    if (attempt > 1) metrics.redeliveries.inc();
    let envelope: TaskEnvelope;
    let taskMac: string;
    try {
      ({ envelope, mac: taskMac } = openTask(key, msg.subject, msg.data, msg.headers, taskSubject));
    } catch (err) {
      // Not the coordinator's (unsigned, forged, altered) or not a task at all: never run, never answered.
      const reason = err instanceof UntrustedDataError ? err.reason : 'malformed';
      refusalLog(`task/${reason}`, `rejected a task message on ${msg.subject}: ${(err as Error).message}`);
      metrics.untrusted('task', reason);
      msg.term();
      return;
    }
    const { jobId, task } = envelope;
    const name = `${jobId}/${task.id}`;
    if (await jobEnded(jobId)) {
      // Cancelled (or otherwise finished) jobs: drop what is left of them.
      log(`skipped task ${name}: the job has ended`);
      metrics.count('skipped');
      msg.ack();
      return;
    }
    if (handingBack) {
      msg.nak();
      return;
    }
    log(`started task ${name} (${task.label}, ${task.items.length} items, delivery ${attempt})`);
    const started = performance.now();
    // In-progress acks keep the lease while the task runs, however long it takes.
    const keepAlive = setInterval(() => msg.working(), Math.max(200, ackWaitMs / 3));
    inFlight.set(slot, msg);
    metrics.running.inc();
    const outcome: TaskOutcome = { jobId, taskId: task.id, results: [], worker: id, error: null, seconds: 0, kernel: '', attempt };
    try {
      if (envelope.control !== undefined) {
        const { value, readLog } = await runControl(envelope.control, jobId);
        outcome.controlResult = value;
        if (readLog) attachReadLog(outcome, readLog);
      } else {
        checkFiles(envelope);
        const context = contextFor(envelope);
        outcome.kernel = context.kernel;
        const { results, readLog } = await slot.runLogged(task, context, undefined, jobId);
        outcome.results = results as ItemResult[];
        // What its HTTP readers fetched goes back with the results (the report's remote.reads and coverage).
        if (readLog) attachReadLog(outcome, readLog);
        metrics.kernelSeconds.observe({ kernel: context.kernel }, (performance.now() - started) / 1000);
      }
      readBackoff.succeeded();
    } catch (err) {
      const failure = err instanceof TaskFailure ? err : new TaskFailure((err as Error).message, false);
      if (handedBack.has(msg)) {
        metrics.count('handed-back');
        return;
      }
      if (failure.readFailure) {
        // This worker cannot read the files (its mount, its disk): let another one try first.
        metrics.readErrors.inc();
        readBackoff.failed();
      }
      const last = attempt >= maxDeliver;
      if (!failure.deterministic && !last) {
        log(`task ${name} failed (delivery ${attempt}), will be retried: ${failure.message}`);
        metrics.count('retried');
        // What it fetched goes to the report first (a message that is not the task's outcome), then the task goes back.
        if (failure.readLog) await publishFailedDelivery({ ...outcome, error: failure.message, retrying: true, seconds: (performance.now() - started) / 1000 }, failure.readLog, taskMac, name);
        msg.nak(retryDelayMs(attempt));
        return;
      }
      outcome.error = failure.deterministic ? failure.message : `failed on its last delivery (${attempt} of ${maxDeliver}): ${failure.message}`;
      // What it fetched before failing goes back with the failure.
      if (failure.readLog) attachReadLog(outcome, failure.readLog);
    } finally {
      clearInterval(keepAlive);
      inFlight.delete(slot);
      metrics.running.dec();
    }
    // Handed back by stop() while it ran: another worker will run it, so this result would be a second one.
    if (handedBack.has(msg)) {
      metrics.count('handed-back');
      return;
    }
    outcome.seconds = (performance.now() - started) / 1000;
    if (await jobEnded(jobId)) {
      log(`dropped the result of task ${name}: the job was cancelled while it ran`);
      msg.ack();
      return;
    }
    try {
      await publish(outcome, taskMac);
    } catch (err) {
      // Not published, so not acked: JetStream redelivers the task.
      log(`task ${name}: could not publish its result (${(err as Error).message}); it will be redelivered`);
      msg.nak(1_000);
      return;
    }
    if (outcome.error) {
      metrics.count('failed');
      log(`task ${name} failed: ${outcome.error}`);
      // No reason string: `+TERM <reason>` needs nats-server 2.10, and 2.9 would take it for no ack at all.
      msg.term();
    } else {
      metrics.count('done');
      metrics.finished(task, outcome.results);
      log(`finished task ${name} in ${outcome.seconds.toFixed(2)} s`);
      msg.ack();
    }
    metrics.seconds.observe((performance.now() - received) / 1000);
  };

  /** One message, or null when the pull expires or stop() ends it. */
  const pullOne = async (): Promise<JsMsg | null> => {
    const pull = await consumer.fetch({ max_messages: 1, expires: 5_000 });
    pulls.add(pull);
    if (stopping) pull.stop();
    try {
      for await (const msg of pull) return msg;
      return null;
    } finally {
      pulls.delete(pull);
    }
  };

  const loop = async (slot: ThreadSlot) => {
    while (!stopping) {
      const paused = readBackoff.pauseMs();
      if (paused > 0) {
        await pause(paused);
        continue;
      }
      let msg: JsMsg | null;
      try {
        msg = await pullOne();
      } catch (err) {
        if (stopping || nc.isClosed()) break;
        log(`pull failed: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 1_000));
        continue;
      }
      if (!msg) continue;
      // A task that reached this worker as it stops is still run (handle() hands it back past the grace).
      handling++;
      try {
        await handle(msg, slot);
      } catch (err) {
        log(`task message on ${msg.subject} could not be handled: ${(err as Error).message}`);
        if (!stopping) msg.nak(1_000);
      } finally {
        handling--;
      }
    }
  };
  const loops = slots.map((slot) => loop(slot));
  let stopped: Promise<void> | undefined;
  log(`worker ${id} ready: ${threads} thread(s), kernel ${ownKernel}${metricsEndpoint ? `; metrics on http://${metricsEndpoint.address}/metrics` : ''}`);

  return {
    id,
    metricsAddress: metricsEndpoint?.address,
    stop: (stopOptions = {}) => (stopped ??= (async () => {
      stopping = true;
      for (const wake of [...wakers]) wake();
      for (const pull of pulls) pull.stop();
      // A rolling update should not redo work: running tasks (and one that arrived as the pulls
      // ended) finish and are acked within the grace; then each loop returns.
      const graceMs = stopOptions.graceMs ?? options.drainGraceMs ?? DEFAULT_DRAIN_GRACE_MS;
      if (handling > 0) log(`worker ${id} draining: waiting up to ${(graceMs / 1000).toFixed(0)} s for ${handling} running task(s)`);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.allSettled(loops), new Promise((r) => { timer = setTimeout(r, graceMs); })]);
      clearTimeout(timer);
      handingBack = true;
      clearInterval(heartbeatTimer);
      // Past the grace: hand what still runs back at once rather than after the ack wait.
      for (const msg of inFlight.values()) {
        handedBack.add(msg);
        msg.nak();
      }
      await Promise.all(slots.map((s) => s.shutdown()));
      // Draining ends the pending pulls, so the loops see `stopping` and return.
      await nc.drain().catch(() => nc.close());
      await Promise.all(loops);
      await metricsEndpoint?.close();
    })()),
  };
}
