/**
 * The coordinator's jobs: plan on submit, put the tasks on the work queue, follow the results
 * stream, merge by item index and store the report. All state lives in JetStream (the job record
 * in KV, results in the results stream, queued tasks in the work queue), so a coordinator that
 * restarts re-reads it and continues: it replays each unfinished job's results and republishes
 * only the tasks that have neither a result nor a message in the queue.
 */
import { status } from '@grpc/grpc-js';
import type { MsgHdrs, NatsConnection, Subscription } from '@nats-io/transport-node';
import { jetstream, type ConsumerMessages, type JetStreamClient } from '@nats-io/jetstream';
import { assembleReport, prepareComparison, type PreparedComparison } from '../../core/src/compare/index.ts';
import { buildWeightsSectionYielding, jsonBytesSteps } from '../../core/src/report/index.ts';
import { decodeControlValue, runControlsPhase, type ControlExecutor, type ControlOutcome } from '../../core/src/controls/index.ts';
import { isRemoteCheckpoint, isRemoteSource } from '../../core/src/checkpoint/index.ts';
import type { ReadLog, HttpReadOptions } from '../../core/src/io/index.ts';
import { nextTurn, runStepsPaced, threadTurns, type ItemResult } from '../../core/src/exec/index.ts';
import { fetchesOnly, readLogOfResult, type ReadLogDropReason } from './read-logs.ts';
import { HASH_ALGORITHMS, type HashAlgorithm } from '../../core/src/hash/index.ts';
import { KERNEL_CHOICES, resolveKernel, type KernelChoice } from '../../core/src/kernels/index.ts';
import type { Task } from '../../core/src/plan/index.ts';
import { randomBytes } from 'node:crypto';
import type { TaskEnvelope, TaskOutcome } from '../../proto/convert.ts';
import type { ClusterKey } from '../../proto/cluster-key.ts';
import { throttledLog } from '../../proto/log-throttle.ts';
import { openResult, openTask, resultMessageId, signResult, signTask, taskMac, UntrustedDataError, type UntrustedReason } from '../../proto/signed.ts';
import {
  jobTasksFilter, JOB_ID_PATTERN, MAX_DELIVERIES_ADVISORY, RESULTS_STREAM, resultSubject, retryOnTimeout, taskSubject, TASKS_STREAM,
  TERMINAL_STATES, type JobStateName, type Topology,
} from '../../proto/jetstream.ts';
import { JobState, type JobStatus, type SubmitRequest } from '../../proto/lineage/v1/lineage.ts';
import { sameRequest, toJobStatus, type JobOptions, type JobRecord } from './job-record.ts';
import { kernelOf, mergeOutcomes, preferOutcome } from './merge.ts';
import type { ModelRoots } from '../../service/src/index.ts';
import { RpcError } from './rpc-error.ts';
import { JobFailedError, mostlyUncompared } from './job-failure.ts';
import { Gate, JobAdmission, type AdmissionState } from './admission.ts';
import type { JobStore } from './store.ts';
import type { WorkerRegistry } from './workers.ts';

/** Tasks published at once while dispatching (each publish waits for JetStream's ack). */
const PUBLISH_CONCURRENCY = 64;
/** Progress updates to watchers are coalesced to at most one per this many ms. */
const NOTIFY_MS = 100;
/** Read logs kept per task: one per delivery that answered (a redelivery or two), not a flood from one worker. */
const MAX_LOGS_PER_TASK = 4;
/** And of its failed deliveries, counted apart so that they never crowd out an answer's (a task is delivered up to max_deliver times, 5 by default). */
const MAX_FAILED_LOGS_PER_TASK = 8;
/** Lines of `run.readLogs.notes` in a report. */
const MAX_READ_LOG_NOTES = 20;

type Listener = (status: JobStatus, terminal: boolean) => void;

/** What an untrusted message or record was (a metric label). */
export type UntrustedKind = 'result' | 'job-record' | 'report' | 'advisory';

/** Results held for control tasks not planned yet: ids after the weights pass's, tasks, per task, bytes in all. */
const MAX_CONTROL_IDS = 100_000;
const MAX_HELD_TASKS = 4_096;
const MAX_HELD_PER_TASK = 4;
const MAX_HELD_BYTES = 64 << 20;

class ActiveJob {
  readonly outcomes = new Map<number, TaskOutcome>();
  readonly tasks: Map<number, Task>;
  /**
   * The MAC of each task as this coordinator publishes it: a result verifies only against it. A
   * control task's is set as it is published; a weights task's when it is signed for publishing,
   * or on first use (a resumed job's results). Computing them all when a job started held the
   * event loop ~50 ms at 19k tensors.
   */
  private readonly taskMacs = new Map<number, string>();
  readonly listeners = new Set<Listener>();
  /** Control tasks (the second phase: its first tasks beside the weights pass, the rest once it is in) awaiting their answer, by task id. */
  readonly controlWaiters = new Map<number, (outcome: TaskOutcome) => void>();
  /** Aborted when the job stops being followed (cancel, end): control tasks still awaited fail. */
  readonly controlsAbort = new AbortController();
  /** Control tasks take ids after the weights pass's. */
  nextControlId: number;
  /** The workers that answered control tasks. */
  readonly controlWorkers = new Set<string>();
  /** Ids of the control tasks this coordinator published (their results' read logs are the controls'). */
  readonly controlIds = new Set<number>();
  /** Read logs that came back with results (remote models), checked, by delivery (task, attempt, worker). */
  readonly readLogs = new Map<string, { phase: 'weights' | 'controls'; log: ReadLog }>();
  readonly readLogsSeen = { received: 0, failedDeliveries: 0, dropped: 0, notes: [] as string[] };
  /** Logs kept by task and kind (`7/answer`, `7/failed`). */
  private readonly readLogsPerTask = new Map<string, number>();
  /** The job's remote files (URL → length) as planned: the only ones a log may speak of. */
  private remoteFiles: Map<string, number> | null = null;
  /**
   * The controls phase, started once the weights pass's tasks are on the queue: its first tasks
   * (the hidden and layer alignments) need no weights results and run beside the weights pass; the
   * rest waits on `weightsResults`, given when the last weights result is in (or refused: the job
   * failed). Null until started.
   */
  controls: ReturnType<typeof runControlsPhase> | null = null;
  /** Subjects of control tasks queued for this job before a restart, dropped before the controls start. */
  staleControls: string[] = [];
  /**
   * Results for control task ids this coordinator has not planned yet: a restarted coordinator
   * replays its predecessor's answers before it plans the same control tasks again (under the same
   * ids, with the same signed contents). Each is checked against its task once planned, and used
   * if it answers it (the task is then not run again); bounded, as anyone on NATS may send them.
   */
  private readonly held = new Map<number, { data: Uint8Array; headers: MsgHdrs | undefined }[]>();
  private heldBytes = 0;
  private readonly firstControlId: number;
  private weightsIn!: (results: ItemResult[]) => void;
  private weightsRefused!: (err: Error) => void;
  readonly weightsResults = new Promise<ItemResult[]>((resolve, reject) => { this.weightsIn = resolve; this.weightsRefused = reject; });
  /** Every weights result is in (the controls' tasks from now on are the job's phase). */
  weightsOver = false;
  /** What the job is doing while it runs (JobStatus.phase), and its control tasks so far. */
  phase: 'weights' | 'controls' | 'report' = 'weights';
  controlsTotal = 0;
  controlsDone = 0;
  messages: ConsumerMessages | null = null;
  closed = false;
  private writes: Promise<void> = Promise.resolve();
  private notifyTimer: NodeJS.Timeout | null = null;

  constructor(readonly record: JobRecord, readonly prepared: PreparedComparison, private readonly store: JobStore, private readonly log: (line: string) => void, private readonly key: ClusterKey) {
    // Awaited by the controls phase, if it started; a job that ends first refuses it unheard.
    this.weightsResults.catch(() => {});
    this.tasks = new Map(prepared.plan.tasks.map((t) => [t.id, t]));
    this.nextControlId = prepared.plan.tasks.reduce((next, t) => Math.max(next, t.id + 1), 0);
    this.firstControlId = this.nextControlId;
  }

  /** The MAC of a task of this job (null for an id it has not planned); encoding is deterministic, so it is the same on submit and on resume. */
  macOf(taskId: number): string | null {
    const known = this.taskMacs.get(taskId);
    if (known !== undefined) return known;
    const task = this.tasks.get(taskId);
    if (!task) return null;
    const mac = taskMac(this.key, this.envelope(task));
    this.taskMacs.set(taskId, mac);
    return mac;
  }

  /** Records the MAC a task was signed with as it is published. */
  signedAs(taskId: number, mac: string): void {
    this.taskMacs.set(taskId, mac);
  }

  envelope(task: Task) {
    return { jobId: this.record.jobId, task, hash: this.record.options.hash, kernel: this.record.options.kernel };
  }

  /** KV writes of one job happen one after another, in the order they were asked for; resolves to whether this one was stored. `changes` are written over the record without changing it in memory. */
  persist(changes: Partial<JobRecord> = {}): Promise<boolean> {
    const snapshot = { ...this.record, ...changes };
    const write = this.writes.then(() => this.store.put(snapshot)).then(() => true, (err) => {
      this.log(`job ${this.record.jobId}: could not store its state: ${(err as Error).message}`);
      return false;
    });
    this.writes = write.then(() => {});
    return write;
  }

  /** Records a task's outcome (replacing an earlier one) and updates the progress counters. */
  recordOutcome(outcome: TaskOutcome): void {
    const previous = this.outcomes.get(outcome.taskId);
    const r = this.record;
    if (previous) {
      if (previous.error === null) r.tasksDone--;
      else r.tasksFailed--;
    } else {
      r.bytesDone += this.tasks.get(outcome.taskId)?.bytes ?? 0;
    }
    if (outcome.error === null) r.tasksDone++;
    else r.tasksFailed++;
    this.outcomes.set(outcome.taskId, outcome);
    r.updatedAtMs = Date.now();
  }

  /**
   * Keeps a result's read log, checked (coordinator/src/read-logs.ts). Each delivery that answered
   * counts (a redelivered task's two runs both fetched their bytes); the same delivery seen twice
   * (a replay) once; at most MAX_LOGS_PER_TASK per task. A failed delivery's log (one retried, or
   * the task's failure) is checked the same way and counts its fetches, not its ranges used
   * (fetchesOnly): at most MAX_FAILED_LOGS_PER_TASK of them. What the checks drop is noted;
   * returns the lines about this log, if any, for the coordinator's own log; `dropped` hears
   * what went, by reason.
   */
  keepReadLog(outcome: TaskOutcome, dropped?: (reason: ReadLogDropReason, n: number) => void): string[] {
    if (!outcome.readLog) return [];
    const phase = this.tasks.has(outcome.taskId) ? 'weights' : this.controlIds.has(outcome.taskId) ? 'controls' : null;
    if (phase === null) return [];
    const key = `${outcome.taskId}/${outcome.attempt}/${outcome.worker}`;
    if (this.readLogs.has(key)) return [];
    const seen = this.readLogsSeen;
    seen.received++;
    const lines: string[] = [];
    const note = (line: string) => {
      const full = `task ${outcome.taskId} (worker ${outcome.worker.slice(0, 80)}): ${line}`;
      lines.push(full);
      if (seen.notes.length < MAX_READ_LOG_NOTES) seen.notes.push(full);
    };
    const failed = outcome.error !== null || outcome.retrying === true;
    const perTask = `${outcome.taskId}/${failed ? 'failed' : 'answer'}`;
    const max = failed ? MAX_FAILED_LOGS_PER_TASK : MAX_LOGS_PER_TASK;
    const kept = this.readLogsPerTask.get(perTask) ?? 0;
    if (kept >= max) {
      seen.dropped++;
      dropped?.('over-limit', 1);
      note(`a read log past the ${max} kept for one task${failed ? '\'s failed deliveries' : ''}: refused`);
      return lines;
    }
    this.remoteFiles ??= new Map([this.prepared.a, this.prepared.b].flatMap((ck) => (isRemoteCheckpoint(ck) ? ck.remote.files.map((f) => [f.url, f.size] as [string, number]) : [])));
    const checked = readLogOfResult(outcome.readLog, this.remoteFiles);
    seen.dropped += checked.dropped;
    for (const [reason, n] of Object.entries(checked.droppedBy)) dropped?.(reason as ReadLogDropReason, n);
    for (const line of checked.notes) note(line);
    if (failed) seen.failedDeliveries++;
    this.readLogsPerTask.set(perTask, kept + 1);
    this.readLogs.set(key, { phase, log: failed ? fetchesOnly(checked.log) : checked.log });
    return lines;
  }

  notify(): void {
    const terminal = TERMINAL_STATES.includes(this.record.state);
    if (!terminal && this.notifyTimer) return;
    if (this.notifyTimer) clearTimeout(this.notifyTimer);
    const send = () => {
      this.notifyTimer = null;
      const s = this.status();
      for (const listener of this.listeners) listener(s, terminal);
      if (terminal) this.listeners.clear();
    };
    if (terminal) send();
    else this.notifyTimer = setTimeout(send, NOTIFY_MS);
  }

  /** The status with what only a running job has: its phase and control tasks. */
  status(): JobStatus {
    const s = toJobStatus(this.record);
    if (TERMINAL_STATES.includes(this.record.state)) return s;
    return { ...s, phase: this.record.state === 'RUNNING' ? this.phase : '', controlsTotal: this.controlsTotal, controlsDone: this.controlsDone };
  }

  /** Keeps a result for a control task id not planned yet; false where it is no such id or the bounds are reached. */
  hold(taskId: number, data: Uint8Array, headers: MsgHdrs | undefined): boolean {
    if (!Number.isSafeInteger(taskId) || taskId < Math.max(this.firstControlId, this.nextControlId) || taskId >= this.firstControlId + MAX_CONTROL_IDS) return false;
    const kept = this.held.get(taskId) ?? [];
    if (kept.length >= MAX_HELD_PER_TASK || (kept.length === 0 && this.held.size >= MAX_HELD_TASKS) || this.heldBytes + data.length > MAX_HELD_BYTES) return false;
    kept.push({ data, headers });
    this.held.set(taskId, kept);
    this.heldBytes += data.length;
    return true;
  }

  /** The results held for a control task now planned (each still to be checked against it). */
  takeHeld(taskId: number): { data: Uint8Array; headers: MsgHdrs | undefined }[] {
    const kept = this.held.get(taskId) ?? [];
    this.held.delete(taskId);
    for (const k of kept) this.heldBytes -= k.data.length;
    return kept;
  }

  /** The weights pass is over: its results for the controls phase (which then shows as the job's phase while its tasks run). */
  weightsDone(results: ItemResult[]): void {
    this.weightsOver = true;
    if (this.controlsDone < this.controlsTotal) this.phase = 'controls';
    this.weightsIn(results);
  }

  /** The job ends without its weights results (failed, cancelled): the controls stop. */
  weightsFailed(err: Error): void {
    this.weightsRefused(err);
    this.controlsAbort.abort();
  }

  stopFollowing(): void {
    this.closed = true;
    this.held.clear();
    this.heldBytes = 0;
    this.weightsRefused(new Error('the job was stopped'));
    this.controlsAbort.abort();
    this.messages?.stop();
    this.messages = null;
    if (this.notifyTimer && !TERMINAL_STATES.includes(this.record.state)) {
      clearTimeout(this.notifyTimer);
      this.notifyTimer = null;
    }
  }
}

export interface JobManagerOptions {
  nc: NatsConnection;
  /** Signs the tasks, checks the results (and, through the store, the records). */
  key: ClusterKey;
  /** Called for every message or record rejected as not the cluster's own, or unusable (metrics). */
  onUntrusted?: (kind: UntrustedKind, reason: UntrustedReason) => void;
  /** Called with the entries of workers' read logs the checks dropped, by reason (metrics). */
  onReadLogDropped?: (reason: ReadLogDropReason, n: number) => void;
  topology: Topology;
  store: JobStore;
  roots: ModelRoots;
  /** Settings for http(s) models, or null when URLs are refused. */
  remote?: HttpReadOptions | null;
  workers: WorkerRegistry;
  log: (line: string) => void;
  /** Called on every state change, and for every job found at start (metrics). */
  onChange?: (record: JobRecord) => void;
  /** Admission control (coordinator/src/admission.ts): jobs with tasks on the queue at once (default 1: a job's control tasks would otherwise queue behind the next job's weights), plannings at once (default 2), report builds at once (default 1). */
  maxRunningJobs?: number;
  maxPlanning?: number;
  maxReportBuilds?: number;
  /** Called for every task outcome merged (metrics); `attempt` is the delivery that produced it. */
  onTask?: (failed: boolean, bytes: number, attempt: number) => void;
  /** Called when a job was deleted (metrics). */
  onDeleted?: (jobId: string) => void;
  /** Called for every task published to the work queue (metrics). */
  onDispatch?: (tasks: number) => void;
  /** Called when a report was built and stored, or failed to be (metrics). */
  onReportBuilt?: (seconds: number, ok: boolean) => void;
}

export class JobManager {
  private readonly active = new Map<string, ActiveJob>();
  private readonly submitting = new Map<string, Promise<{ job: JobStatus; created: boolean }>>();
  /**
   * Control tasks being published, by job: a job that ends (cancelled, failed) while its controls
   * run beside the weights pass waits for them before its queue is cleaned, so none lands after.
   */
  private readonly publishing = new Map<string, Set<Promise<unknown>>>();
  private readonly js: JetStreamClient;
  private advisories: Subscription | null = null;
  /** Refusals are logged throttled per kind and reason (each is counted in the metrics). */
  private readonly refusalLog: (kind: string, line: string) => void;
  /** Jobs, plannings and report builds admitted and waiting. */
  readonly admission: AdmissionState;

  constructor(private readonly o: JobManagerOptions) {
    this.js = jetstream(o.nc);
    this.refusalLog = throttledLog(o.log);
    this.admission = {
      jobs: new JobAdmission(o.maxRunningJobs ?? 1),
      planning: new Gate(o.maxPlanning ?? 2),
      reports: new Gate(o.maxReportBuilds ?? 1),
    };
  }

  /** Picks up every job a previous coordinator left unfinished, then listens for given-up tasks. */
  async start(): Promise<void> {
    const { records, rejected } = await this.o.store.list();
    for (const { error } of rejected) this.untrusted('job-record', error);
    for (const record of records) {
      this.o.onChange?.(record);
      if (TERMINAL_STATES.includes(record.state)) continue;
      this.o.log(`resuming job ${record.jobId} (${record.state.toLowerCase()}, ${record.tasksTotal} tasks)`);
      let prepared: PreparedComparison;
      try {
        prepared = await prepareComparison(record.pathA, record.pathB, { ...planOptions(record.options), remote: this.o.remote ?? undefined });
      } catch (err) {
        await this.fail(record, `could not plan it again on resume: ${(err as Error).message}`);
        continue;
      }
      if (prepared.plan.tasks.length !== record.tasksTotal || prepared.plan.totalBytes !== record.bytesTotal) {
        await this.fail(record, `the checkpoints changed since the job was planned (${record.tasksTotal} tasks of ${record.bytesTotal} bytes then, ${prepared.plan.tasks.length} of ${prepared.plan.totalBytes} now)`);
        continue;
      }
      await this.activate(record, prepared, true);
    }
    this.advisories = this.o.nc.subscribe(MAX_DELIVERIES_ADVISORY, {
      callback: (err, msg) => {
        if (err) return;
        let advisory: unknown;
        try {
          advisory = msg.json();
        } catch (e) {
          this.untrusted('advisory', new UntrustedDataError('max-deliveries advisory', 'malformed', `not JSON (${(e as Error).message})`));
          return;
        }
        void this.onGivenUp(advisory && typeof advisory === 'object' ? advisory : {});
      },
    });
  }

  async close(): Promise<void> {
    this.advisories?.unsubscribe();
    for (const job of this.active.values()) job.stopFollowing();
    this.active.clear();
    await Promise.allSettled(this.submitting.values());
  }

  // ---- Submit ----

  submit(request: SubmitRequest): Promise<{ job: JobStatus; created: boolean }> {
    const jobId = request.jobId;
    checkJobId(jobId);
    // Concurrent submits of one id share one attempt.
    const pending = this.submitting.get(jobId);
    if (pending) return pending;
    const attempt = this.submitOnce(request).finally(() => this.submitting.delete(jobId));
    this.submitting.set(jobId, attempt);
    return attempt;
  }

  private async submitOnce(request: SubmitRequest): Promise<{ job: JobStatus; created: boolean }> {
    const { jobId, modelA, modelB } = request;
    const options = parseOptions(request);
    const existing = await this.stored(jobId);
    if (existing) return this.existing(existing, modelA, modelB, options);

    const pathA = this.modelPath(modelA, 'model_a');
    const pathB = this.modelPath(modelB, 'model_b');
    // Every file the coordinator itself may open (config, index, tokenizer files), not only the shards.
    for (const path of [pathA, pathB]) if (!isRemoteSource(path)) this.o.roots.checkFolderFiles(path);
    const prepared = await this.admission.planning.run(() => prepareComparison(pathA, pathB, { ...planOptions(options), remote: this.o.remote ?? undefined }));
    // Local shards must stay under the roots through symlinks; URLs were allowed above.
    this.o.roots.checkFiles([...prepared.a.shards, ...prepared.b.shards].filter((f) => !isRemoteSource(f)));

    const now = Date.now();
    const record: JobRecord = {
      jobId, modelA, modelB, pathA, pathB, options, state: 'QUEUED', error: '',
      tasksTotal: prepared.plan.tasks.length, bytesTotal: prepared.plan.totalBytes, tasksDone: 0, tasksFailed: 0, bytesDone: 0,
      createdAtMs: now, updatedAtMs: now, finishedAtMs: null, reportChunks: 0,
    };
    if (!(await this.o.store.create(record))) {
      // Another coordinator created it between our look and our write.
      return this.existing((await this.stored(jobId))!, modelA, modelB, options);
    }
    this.o.log(`job ${jobId}: ${record.tasksTotal} tasks, ${record.bytesTotal} bytes (${pathA} vs ${pathB})`);
    this.o.onChange?.(record);
    await this.activate(record, prepared);
    return { job: this.active.get(jobId)?.status() ?? toJobStatus(record), created: true };
  }

  private existing(record: JobRecord, modelA: string, modelB: string, options: JobOptions): { job: JobStatus; created: boolean } {
    if (!sameRequest(record, modelA, modelB, options)) {
      throw new RpcError(status.ALREADY_EXISTS, `job ${record.jobId} exists with other models or options (${record.modelA} vs ${record.modelB}); choose a new job id`);
    }
    return { job: this.active.get(record.jobId)?.status() ?? toJobStatus(record), created: false };
  }

  // ---- Running a job ----

  /** `resumed`: found unfinished at start, so it may have tasks in flight and goes on whatever the admission limit. */
  private async activate(record: JobRecord, prepared: PreparedComparison, resumed = false): Promise<void> {
    // Progress is counted afresh from the results (a resumed record holds the figures of its last write).
    Object.assign(record, { tasksDone: 0, tasksFailed: 0, bytesDone: 0 });
    const job = new ActiveJob(record, prepared, this.o.store, this.o.log, this.o.key);
    this.active.set(record.jobId, job);
    if (job.tasks.size === 0) {
      await this.finish(job);
      return;
    }
    const run = async () => {
      if (job.closed) return;
      // What is still queued (or held by a worker) must be read before the results: a task missing
      // from both was lost or never published (a coordinator that died while dispatching).
      const queued = await this.queuedTasks(record.jobId);
      // Control tasks an earlier coordinator queued for this job (it restarted): this one plans its
      // own under the same ids, and drops the old copies before it publishes (else they run twice).
      const weights = new Set([...job.tasks.keys()].map((id) => taskSubject(record.jobId, id)));
      job.staleControls = [...queued].filter((subject) => !weights.has(subject));
      await this.follow(job);
      if (job.closed) return;
      // The controls' first tasks go on the queue ahead of the weights pass's: the hidden alignment
      // is the longest control and the aligned cells wait on it, so a worker takes it at once and
      // the cells can start when the weights are in (as the local executor runs them).
      this.startControls(job);
      // Their planning and the weights tasks' signing are each ~0.1 s at 19k tensors: the event
      // loop (Watch, heartbeats, scrapes) is served between them.
      await nextTurn();
      if (job.closed) return;
      try {
        await this.dispatchMissing(job, queued);
      } catch (err) {
        this.retryDispatch(job, err);
      }
    };
    // A new job waits its turn before anything is set up for it (no results consumer, no tasks),
    // so waiting jobs cost NATS and the coordinator nothing.
    const turn = this.admission.jobs.enter(record.jobId, resumed);
    if (!turn) return run();
    this.o.log(`job ${record.jobId}: queued behind ${this.admission.jobs.running} running job(s) and ${this.admission.jobs.ahead(record.jobId)} waiting`);
    const start = (): void => {
      run().catch((err) => {
        if (job.closed) return;
        this.o.log(`job ${record.jobId}: could not start following it (${(err as Error).message}); retrying in 2 s`);
        job.messages?.stop();
        setTimeout(start, 2_000);
      });
    };
    void turn.then(start);
  }

  private async queuedTasks(jobId: string): Promise<Set<string>> {
    const info = await retryOnTimeout(() => this.o.topology.jsm.streams.info(TASKS_STREAM, { subjects_filter: jobTasksFilter(jobId) }));
    return new Set(Object.keys(info.state.subjects ?? {}));
  }

  /** Publishes the tasks that have neither a result nor a message in the queue. */
  private async dispatchMissing(job: ActiveJob, queued: Set<string>): Promise<void> {
    const { jobId } = job.record;
    const missing = [...job.tasks.values()].filter((t) => !job.outcomes.has(t.id) && !queued.has(taskSubject(jobId, t.id)));
    if (missing.length < job.tasks.size) this.o.log(`job ${jobId}: ${job.outcomes.size} results on record, ${queued.size} tasks queued, ${missing.length} to publish`);
    await this.dispatch(job, missing);
  }

  /**
   * Publishing failed part-way (NATS went away): the job stays accepted and its missing tasks are
   * published once JetStream answers again. A task published twice only costs a second run.
   */
  private retryDispatch(job: ActiveJob, err: unknown): void {
    if (job.closed) return;
    this.o.log(`job ${job.record.jobId}: could not publish its tasks (${(err as Error).message}); retrying in 2 s`);
    setTimeout(() => {
      if (job.closed) return;
      this.queuedTasks(job.record.jobId)
        .then((queued) => this.dispatchMissing(job, queued))
        .catch((e) => this.retryDispatch(job, e));
    }, 2_000);
  }

  /** Replays the job's results from the start of the stream, then keeps following new ones. */
  private async follow(job: ActiveJob): Promise<void> {
    const subject = resultSubject(job.record.jobId);
    const last = await retryOnTimeout(() => this.o.topology.jsm.streams.getMessage(RESULTS_STREAM, { last_by_subj: subject }));
    const consumer = await this.js.consumers.get(RESULTS_STREAM, { filter_subjects: subject });
    // Short pulls: after a NATS restart the ordered consumer notices the missing heartbeats
    // (half the expiry) and recreates itself within seconds, not the default 30.
    const messages = await consumer.consume({ expires: 5_000 });
    job.messages = messages;
    let caughtUp!: () => void;
    const replayed = new Promise<void>((resolve) => { caughtUp = resolve; });
    if (!last) caughtUp();
    void (async () => {
      try {
        for await (const m of messages) {
          let outcome: TaskOutcome | null = null;
          let asked: number | null = null;
          try {
            // Only results bound to a task this job published, signed with the cluster key.
            outcome = openResult(this.o.key, m.data, m.headers, (jobId, taskId) => {
              if (jobId !== job.record.jobId) return null;
              asked = taskId;
              return job.macOf(taskId);
            });
          } catch (err) {
            // An answer to a control task planned again after a restart, but not yet: kept to be checked then.
            const later = err instanceof UntrustedDataError && err.reason === 'foreign' && asked !== null && job.macOf(asked) === null && job.hold(asked, m.data, m.headers);
            if (later) { /* held */ } else if (err instanceof UntrustedDataError) this.untrusted('result', err, job.record.jobId);
            else this.o.log(`job ${job.record.jobId}: ignored a result: ${(err as Error).message}`);
          }
          if (outcome) {
            // Each line is throttled per kind (a worker flooding bad logs is not logged line by line).
            for (const line of job.keepReadLog(outcome, this.o.onReadLogDropped)) this.refusalLog('read-log', `job ${job.record.jobId}: read log of ${line}`);
            // A failed delivery that went back on the queue sent only its log: not the task's outcome.
            const waiter = outcome.retrying ? undefined : job.controlWaiters.get(outcome.taskId);
            if (waiter) waiter(outcome);
            else if (!outcome.retrying) this.onOutcome(job, outcome);
          }
          if (last && m.seq >= last.seq) caughtUp();
        }
      } catch (err) {
        if (!job.closed) this.o.log(`job ${job.record.jobId}: results stream ended: ${(err as Error).message}`);
      }
      caughtUp();
    })();
    await replayed;
  }

  private onOutcome(job: ActiveJob, outcome: TaskOutcome): void {
    if (job.closed || outcome.jobId !== job.record.jobId || !job.tasks.has(outcome.taskId)) return;
    if (!preferOutcome(job.outcomes.get(outcome.taskId), outcome)) return;
    job.recordOutcome(outcome);
    this.o.onTask?.(outcome.error !== null, job.tasks.get(outcome.taskId)!.bytes, outcome.attempt);
    if (outcome.error !== null) this.o.log(`job ${job.record.jobId}: task ${outcome.taskId} failed: ${outcome.error}`);
    if (job.record.state === 'QUEUED') {
      job.record.state = 'RUNNING';
      void job.persist();
      this.o.onChange?.(job.record);
    }
    job.notify();
    if (job.outcomes.size === job.tasks.size) void this.finish(job);
  }

  /** Largest tasks first, as the local executor orders them: the tail is then made of small ones. */
  private async dispatch(job: ActiveJob, tasks: Task[]): Promise<void> {
    const ordered = [...tasks].sort((x, y) => y.bytes - x.bytes || x.id - y.id);
    const { jobId } = job.record;
    // Message ids let JetStream drop the copy a retried publish may add; they differ from one
    // dispatch to the next (so a task republished on resume is not taken for a duplicate) and
    // cannot be guessed (so no one can publish first under the id and have the real task dropped).
    const round = randomBytes(8).toString('hex');
    let next = 0;
    // Signing is ~2 ms a task at 19k tensors: the publishers, 64 at once, let the event loop in
    // on the budget the thread's other paced work (the controls' planning) shares (threadTurns).
    const signing = threadTurns;
    const publishOne = async () => {
      while (next < ordered.length && !job.closed) {
        while (signing.due()) await signing.yield();
        if (next >= ordered.length || job.closed) return;
        const task = ordered[next++]!;
        const { data, headers, mac } = signTask(this.o.key, job.envelope(task));
        job.signedAs(task.id, mac);
        await retryOnTimeout(() => this.js.publish(taskSubject(jobId, task.id), data, { msgID: `${jobId}.${task.id}.${round}`, headers }));
        this.o.onDispatch?.(1);
      }
    };
    await Promise.all(Array.from({ length: Math.min(PUBLISH_CONCURRENCY, ordered.length) }, publishOne));
  }

  /** Whether a held result answers control task `taskId` (signed for it, successful): it is then its answer. */
  private answeredBefore(job: ActiveJob, taskId: number, mac: string): boolean {
    const { jobId } = job.record;
    for (const held of job.takeHeld(taskId)) {
      try {
        const outcome = openResult(this.o.key, held.data, held.headers, (j, id) => (j === jobId && id === taskId ? mac : null));
        if (outcome.retrying || outcome.error !== null) continue;
        for (const line of job.keepReadLog(outcome, this.o.onReadLogDropped)) this.refusalLog('read-log', `job ${jobId}: read log of ${line}`);
        job.controlWaiters.get(taskId)?.(outcome);
        return true;
      } catch (err) {
        if (err instanceof UntrustedDataError) this.untrusted('result', err, jobId);
        else throw err;
      }
    }
    return false;
  }

  /** The job's controls phase, started once (beside the weights pass, or at its end when the results were all in already). */
  private startControls(job: ActiveJob): NonNullable<ActiveJob['controls']> {
    if (!job.controls) {
      const { jobId, options } = job.record;
      const stale = job.staleControls;
      job.controls = (async () => {
        if (stale.length) {
          this.o.log(`job ${jobId}: dropping ${stale.length} control task(s) queued before the restart`);
          await this.dropQueuedTasks(jobId, stale).catch((err) => this.o.log(`job ${jobId}: could not drop them: ${(err as Error).message}`));
        }
        return runControlsPhase(job.prepared, job.weightsResults, { seed: options.seed, sample: options.sample, executor: this.controlExecutor(job) });
      })();
      // Awaited by finish(); a job that ends before it does must not leave the rejection unhandled.
      job.controls.catch(() => {});
    }
    return job.controls;
  }

  /**
   * Runs control tasks through the work queue: signed like the weights pass's tasks (a control
   * task carries its spec as JSON), answered by whichever workers pull them, each answer checked
   * by kind before it is used. A task that failed answers `{ok: false}`: its control is reported
   * unavailable, the job goes on. Cancelling the job fails the tasks still awaited.
   */
  private controlExecutor(job: ActiveJob): ControlExecutor {
    const { jobId } = job.record;
    return {
      run: async (controlTasks) => {
        const signal = job.controlsAbort.signal;
        const entries = controlTasks.map((control) => {
          const id = job.nextControlId++;
          const envelope: TaskEnvelope = { jobId, task: { id, label: `control: ${control.label}`, bytes: 0, items: [] }, hash: 'none', kernel: 'auto', control: JSON.stringify(control) };
          const signed = signTask(this.o.key, envelope);
          job.signedAs(id, signed.mac);
          job.controlIds.add(id);
          const answer = new Promise<TaskOutcome>((resolve, reject) => {
            if (signal.aborted) reject(new Error('the job was cancelled'));
            signal.addEventListener('abort', () => reject(new Error('the job was cancelled')), { once: true });
            job.controlWaiters.set(id, (outcome) => {
              job.controlWaiters.delete(id);
              job.controlWorkers.add(outcome.worker);
              job.controlsDone++;
              job.notify();
              this.o.onTask?.(outcome.error !== null, 0, outcome.attempt);
              resolve(outcome);
            });
          });
          answer.catch(() => {});
          return { id, control, signed, answer };
        });
        // Beside the weights pass, the job's phase stays the weights' until they are in.
        if (job.weightsOver) job.phase = 'controls';
        job.controlsTotal += entries.length;
        // Answers a predecessor got before it restarted: a task one of them answers is not run again.
        const toPublish = entries.filter((e) => !this.answeredBefore(job, e.id, e.signed.mac));
        job.notify();
        const round = randomBytes(8).toString('hex');
        let next = 0;
        const publishOne = async () => {
          while (next < toPublish.length && !signal.aborted) {
            const e = toPublish[next++]!;
            await retryOnTimeout(() => this.js.publish(taskSubject(jobId, e.id), e.signed.data, { msgID: `${jobId}.${e.id}.${round}`, headers: e.signed.headers }));
            this.o.onDispatch?.(1);
          }
        };
        const published = Promise.all(Array.from({ length: Math.min(PUBLISH_CONCURRENCY, toPublish.length) }, publishOne));
        const inFlight = this.publishing.get(jobId) ?? new Set();
        this.publishing.set(jobId, inFlight);
        inFlight.add(published);
        try {
          await published;
        } finally {
          inFlight.delete(published);
          if (inFlight.size === 0 && this.publishing.get(jobId) === inFlight) this.publishing.delete(jobId);
        }
        // Each answer is decoded (gunzipped and checked) as it arrives, in its own turn of the event
        // loop, rather than all of a batch's in one turn at its end.
        return Promise.all(entries.map((e) => e.answer.then((outcome): ControlOutcome => {
          if (outcome.error !== null) return { ok: false, error: outcome.error };
          if (!outcome.controlResult) return { ok: false, error: `worker ${outcome.worker} sent no answer` };
          try {
            return { ok: true, value: decodeControlValue(e.control.part.kind, outcome.controlResult), seconds: outcome.seconds };
          } catch (err) {
            this.o.log(`job ${jobId}: control task ${e.id} from worker ${outcome.worker}: ${(err as Error).message}`);
            return { ok: false, error: (err as Error).message };
          }
        })));
      },
    };
  }

  private async finish(job: ActiveJob): Promise<void> {
    if (job.closed) return;
    job.closed = true;
    const { record, prepared } = job;
    const before = { state: record.state, error: record.error };
    // Cancel may land while the controls run or the report is stored.
    const cancelled = () => (record.state as JobStateName) === 'CANCELLED';
    const release = await this.admission.reports.acquire();
    const buildStarted = performance.now();
    try {
      const uncompared = mostlyUncompared(prepared.plan, job.outcomes);
      if (uncompared) {
        const failure = new JobFailedError(uncompared);
        job.weightsFailed(failure);
        throw failure;
      }
      const results = mergeOutcomes(prepared.plan, job.outcomes);
      const kernel = kernelOf(prepared.plan, job.outcomes) ?? await resolveKernel(record.options.kernel);
      const samples = new Array(prepared.matched.length).fill(null);
      for (const task of prepared.plan.tasks) for (const item of task.items) samples[item.index] = item.sample;
      // The controls (layer alignment, expert matching, shared-token rows, the aligned tests) are a
      // second phase of tasks on the same work queue: workers read the tensors (remote models: the
      // ranges, over HTTP, held to the version planned from), this coordinator plans the tasks and
      // combines their small answers. Its first tasks started with the job (startControls); the
      // rest are planned now, from the weights results.
      const controlsPhase = this.startControls(job);
      job.weightsDone(results);
      job.notify();
      const weightsMeta = {
        kernel,
        hashAlgorithm: record.options.hash,
        samples,
        confidence: record.options.confidence ?? 0.95,
        sampling: record.options.sample
          ? { fraction: record.options.sample, confidence: record.options.confidence ?? 0.95, seed: record.options.seed ?? 1, targetHalfwidth: null }
          : null,
      };
      // Built while the control tasks run, in steps (0.1-0.2 s at 19k tensors a side): Watch,
      // heartbeats and scrapes are served between them.
      const weights = await buildWeightsSectionYielding(prepared.matched, results, weightsMeta);
      const phase = await controlsPhase;
      const controls = phase.controls;
      // The workers that ran the job's tasks, of either phase (one may have run controls only).
      const workers = new Set([...[...job.outcomes.values()].map((o) => o.worker), ...job.controlWorkers]);
      const threads = [...workers].reduce((n, w) => n + (this.o.workers.threadsOf(w) ?? 1), 0);
      // Every task of both phases is in: the next job's tasks may go on the queue while this report
      // is built (leaving earlier would queue them ahead of this job's control tasks).
      this.admission.jobs.leave(record.jobId);
      if (cancelled()) return;
      job.phase = 'report';
      job.notify();
      // Remote models: what the workers fetched, from the logs their results carried (both phases).
      const remote = isRemoteCheckpoint(prepared.a) || isRemoteCheckpoint(prepared.b);
      const logs = [...job.readLogs.values()];
      await nextTurn();
      if (cancelled()) return;
      const report = assembleReport(prepared, results, {
        controls,
        ...(remote ? {
          readLogs: logs.filter((l) => l.phase === 'weights').map((l) => l.log),
          controlReadLogs: logs.filter((l) => l.phase === 'controls').map((l) => l.log),
        } : {}),
        ...weightsMeta,
        weights,
        run: {
          threads: Math.max(1, threads),
          reader: 'pread',
          startedAt: new Date(record.createdAtMs).toISOString(),
          durationSeconds: (Date.now() - record.createdAtMs) / 1000,
          ...phase.run,
          ...(remote ? { readLogs: { ...job.readLogsSeen, notes: [...job.readLogsSeen.notes] } } : {}),
        },
      });
      // Stored unindented: half the bytes to seal, store, fetch and send at 19k tensors (41 -> 21 MB);
      // clients parse it, and write their files indented. Written out in steps
      // (core/src/report/json-steps.ts): at once, JSON.stringify and the UTF-8 encoding held the
      // event loop ~0.1 s each there.
      const bytes = await runStepsPaced(jsonBytesSteps(report, '\n'));
      if (cancelled()) return;
      const stored = await this.o.store.putReport(record.jobId, bytes);
      record.reportChunks = stored.chunks;
      record.reportSha256 = stored.sha256;
      if (cancelled()) return;
      record.state = 'DONE';
      this.o.onReportBuilt?.((performance.now() - buildStarted) / 1000, true);
    } catch (err) {
      // Cancelled while its controls ran: cancel() has recorded the end already.
      if (cancelled()) return;
      if (!(err instanceof JobFailedError)) this.o.onReportBuilt?.((performance.now() - buildStarted) / 1000, false);
      record.state = 'FAILED';
      record.error = err instanceof JobFailedError ? err.message : `could not build the report: ${(err as Error).message}`;
    } finally {
      this.admission.jobs.leave(record.jobId);
      release();
    }
    // The end is the last change: clients measure a job's duration to it, report build included.
    record.finishedAtMs = record.updatedAtMs = Date.now();
    if (!(await this.storeEnd(job, before))) return;
    job.stopFollowing();
    job.notify();
    this.active.delete(record.jobId);
    this.o.onChange?.(record);
    this.o.log(`job ${record.jobId} ${record.state.toLowerCase()}: ${record.tasksDone} tasks done, ${record.tasksFailed} failed${record.error ? ` (${record.error})` : ''}`);
    // Results are purged only once the end is on record: otherwise a restarted coordinator
    // would find the job unfinished and its results gone.
    await this.cleanUp(record.jobId);
  }

  /**
   * Stores the job's end, retrying while the store refuses it. Until it is stored the job is
   * reported as its record stands (not ended, every task in): watchers are not told it ended and
   * its results are kept, so a coordinator restarted meanwhile finishes it again. False when the
   * job was cancelled or the coordinator closed meanwhile.
   */
  private async storeEnd(job: ActiveJob, before: Pick<JobRecord, 'state' | 'error'>): Promise<boolean> {
    const { record } = job;
    const end = { state: record.state, error: record.error, finishedAtMs: record.finishedAtMs };
    Object.assign(record, before, { finishedAtMs: null });
    for (let waitMs = 2_000; ; waitMs = Math.min(2 * waitMs, 30_000)) {
      if (await job.persist(end)) {
        // A cancel that landed during the write was written after it: the cancel stands.
        if (TERMINAL_STATES.includes(record.state)) return false;
        Object.assign(record, end);
        return true;
      }
      this.o.log(`job ${record.jobId}: its results are kept, since its end could not be stored; retrying in ${waitMs / 1000} s (a restarted coordinator finishes it again)`);
      await new Promise((resolve) => setTimeout(resolve, waitMs).unref());
      if (this.active.get(record.jobId) !== job || TERMINAL_STATES.includes(record.state)) return false;
    }
  }

  /** The job has ended: its queued tasks and its results are no longer needed. */
  private async cleanUp(jobId: string): Promise<void> {
    const { jsm } = this.o.topology;
    // Publishes stop once the job's controls are aborted; the ones under way land first.
    await Promise.allSettled([...(this.publishing.get(jobId) ?? [])]);
    await Promise.all([
      this.dropQueuedTasks(jobId),
      jsm.streams.purge(RESULTS_STREAM, { filter: resultSubject(jobId) }),
    ]).catch((err) => this.o.log(`job ${jobId}: could not remove its messages: ${(err as Error).message}`));
  }

  /**
   * Deletes the job's task messages one by one. Not a filtered purge: on a work-queue stream,
   * nats-server 2.9 moves the shared consumer past every message on a filtered purge, so the
   * other jobs' queued tasks would never be delivered (test/cluster-cancel.test.ts). `only`: just
   * these subjects of the job's.
   */
  private async dropQueuedTasks(jobId: string, only?: string[]): Promise<void> {
    const { jsm } = this.o.topology;
    const subjects = only ?? [...(await this.queuedTasks(jobId))];
    let next = 0;
    const dropOne = async () => {
      while (next < subjects.length) {
        const subject = subjects[next++]!;
        const stored = await retryOnTimeout(() => jsm.streams.getMessage(TASKS_STREAM, { last_by_subj: subject }));
        if (stored) await retryOnTimeout(() => jsm.streams.deleteMessage(TASKS_STREAM, stored.seq, false)).catch(() => {});
      }
    };
    await Promise.all(Array.from({ length: Math.min(PUBLISH_CONCURRENCY, subjects.length) }, dropOne));
  }

  private async fail(record: JobRecord, reason: string): Promise<void> {
    this.o.log(`job ${record.jobId} failed: ${reason}`);
    const now = Date.now();
    Object.assign(record, { state: 'FAILED', error: reason, finishedAtMs: now, updatedAtMs: now });
    await this.o.store.put(record);
    this.o.onChange?.(record);
    await this.cleanUp(record.jobId);
  }

  /**
   * JetStream gave up on a task after max_deliver deliveries without an ack (each worker that took
   * it died or went silent). Record it as failed on the results stream, where a restarted
   * coordinator will find it too, and drop the message from the queue.
   */
  private async onGivenUp(advisory: { stream?: unknown; stream_seq?: unknown; deliveries?: unknown }): Promise<void> {
    try {
      // The advisory is untrusted input too: only a positive sequence number of the task stream.
      const seq = advisory.stream_seq;
      if (advisory.stream !== TASKS_STREAM || typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq <= 0) return;
      const { jsm } = this.o.topology;
      const stored = await jsm.streams.getMessage(TASKS_STREAM, { seq });
      if (!stored) return;
      // Only a task this cluster published (the advisory names a sequence; the message must verify).
      const { envelope: { jobId, task } } = openTask(this.o.key, stored.subject, stored.data, stored.header, taskSubject);
      const job = this.active.get(jobId);
      const mac = job?.macOf(task.id) ?? null;
      if (job && mac !== null && !job.outcomes.has(task.id)) {
        const deliveries = Math.max(1, Math.floor(Number(advisory.deliveries) || 0));
        const outcome: TaskOutcome = {
          jobId, taskId: task.id, results: [], worker: 'coordinator', seconds: 0, kernel: '', attempt: deliveries,
          error: `delivered ${deliveries} time${deliveries === 1 ? '' : 's'} without a result (its workers died or stopped responding)`,
        };
        const signed = signResult(this.o.key, outcome, mac);
        await retryOnTimeout(() => this.js.publish(resultSubject(jobId), signed.data, { msgID: resultMessageId(outcome, signed), headers: signed.headers }));
      }
      await jsm.streams.deleteMessage(TASKS_STREAM, seq, false);
    } catch (err) {
      if (err instanceof UntrustedDataError) this.untrusted('advisory', err);
      else this.o.log(`could not handle a max-deliveries advisory: ${(err as Error).message}`);
    }
  }

  // ---- Queries and cancel ----

  private async record(jobId: string): Promise<JobRecord> {
    checkJobId(jobId);
    const live = this.active.get(jobId)?.record;
    if (live) return live;
    const stored = await this.stored(jobId);
    if (!stored) throw new RpcError(status.NOT_FOUND, `no job ${JSON.stringify(jobId)}`);
    return stored;
  }

  /** The stored record; a record that does not verify is counted and reaches the client as DATA_LOSS. */
  private async stored(jobId: string): Promise<JobRecord | null> {
    try {
      return await this.o.store.get(jobId);
    } catch (err) {
      if (err instanceof UntrustedDataError) this.untrusted('job-record', err);
      throw err;
    }
  }

  /** Logs and counts a message or record that is not the cluster's own; it is never used. */
  private untrusted(kind: UntrustedKind, err: UntrustedDataError, jobId?: string): void {
    this.refusalLog(`${kind}/${err.reason}`, `${jobId ? `job ${jobId}: ` : ''}rejected ${err.reason} ${kind}: ${err.message}`);
    this.o.onUntrusted?.(kind, err.reason);
  }

  async status(jobId: string): Promise<JobStatus> {
    return toJobStatus(await this.record(jobId));
  }

  /** Every job; one whose stored record does not verify is listed as failed, saying why (never with its claimed contents). */
  async list(): Promise<JobStatus[]> {
    const { records, rejected } = await this.o.store.list();
    for (const { error } of rejected) this.untrusted('job-record', error);
    const listed = records
      .map((r) => this.active.get(r.jobId)?.record ?? r)
      .sort((x, y) => x.createdAtMs - y.createdAtMs || x.jobId.localeCompare(y.jobId))
      .map(toJobStatus);
    const refused = rejected.sort((x, y) => x.jobId.localeCompare(y.jobId)).map(({ jobId, error }) => rejectedStatus(jobId, error));
    return [...listed, ...refused];
  }

  /** The job's report as its stored JSON bytes. */
  async report(jobId: string): Promise<Buffer> {
    const record = await this.record(jobId);
    if (record.state !== 'DONE') {
      const why = record.state === 'FAILED' ? `failed: ${record.error}`
        : record.state === 'CANCELLED' ? 'was cancelled'
        : `is ${record.state.toLowerCase()} (${record.tasksDone + record.tasksFailed} of ${record.tasksTotal} tasks)`;
      throw new RpcError(status.FAILED_PRECONDITION, `job ${jobId} has no report: it ${why}`);
    }
    try {
      return await this.o.store.getReport(jobId, record.reportChunks, record.reportSha256);
    } catch (err) {
      if (err instanceof UntrustedDataError) this.untrusted('report', err);
      throw err;
    }
  }

  /** Cancels a queued or running job: its queued tasks are purged, workers skip any left in flight. */
  async cancel(jobId: string): Promise<JobStatus> {
    const record = await this.record(jobId);
    if (TERMINAL_STATES.includes(record.state)) return toJobStatus(record);
    const job = this.active.get(jobId);
    record.state = 'CANCELLED';
    record.finishedAtMs = record.updatedAtMs = Date.now();
    this.admission.jobs.leave(jobId);
    if (job) {
      job.stopFollowing();
      await job.persist();
      job.notify();
      this.active.delete(jobId);
    } else {
      await this.o.store.put(record);
    }
    this.o.onChange?.(record);
    this.o.log(`job ${jobId} cancelled`);
    await this.cleanUp(jobId);
    return toJobStatus(record);
  }

  /**
   * Removes a job: cancelled first if it still runs, then its queued tasks, results, report and
   * record. A job whose stored record was refused can be deleted too (that is how it is cleaned up).
   */
  async delete(jobId: string): Promise<JobStatus> {
    let last: JobStatus;
    try {
      last = await this.cancel(jobId);
    } catch (err) {
      if (!(err instanceof UntrustedDataError)) throw err;
      last = rejectedStatus(jobId, err);
    }
    await this.cleanUp(jobId);
    await this.o.store.delete(jobId);
    this.o.onDeleted?.(jobId);
    this.o.log(`job ${jobId} deleted`);
    return last;
  }

  /**
   * Sends the job's status now and on every change until it ends; returns the unsubscribe.
   * `end` is called after the terminal status.
   */
  async watch(jobId: string, send: (s: JobStatus) => void, end: () => void): Promise<() => void> {
    const job = this.active.get(jobId);
    if (!job) {
      const record = await this.record(jobId);
      send(toJobStatus(record));
      end();
      return () => {};
    }
    const listener: Listener = (s, terminal) => {
      send(s);
      if (terminal) end();
    };
    job.listeners.add(listener);
    send(job.status());
    return () => job.listeners.delete(listener);
  }

  /** A local folder under the roots, or a URL when this coordinator accepts them. */
  private modelPath(path: string, field: string): string {
    if (!isRemoteSource(path)) return this.o.roots.resolveFolder(path, field);
    if (!this.o.remote) throw new RpcError(status.PERMISSION_DENIED, `${field}: ${path}: this coordinator does not read model URLs (start it with --allow-urls)`);
    return path;
  }

  activeJobs(): number {
    return this.active.size;
  }
}

/** A job whose stored record was rejected, as `jobs` shows it: failed, and why. */
function rejectedStatus(jobId: string, error: UntrustedDataError): JobStatus {
  return {
    jobId, state: JobState.JOB_STATE_FAILED, modelA: '', modelB: '', tasksTotal: 0, tasksDone: 0, tasksFailed: 0,
    bytesTotal: 0, bytesDone: 0, createdAtMs: 0, updatedAtMs: 0, phase: '', controlsTotal: 0, controlsDone: 0,
    error: `its stored record was rejected (${error.reason}): ${error.message}`,
  };
}

/** Job ids are KV keys and subject tokens: anything else ('*', '>', '../x', '') is refused before any look-up. */
function checkJobId(jobId: string): void {
  if (!JOB_ID_PATTERN.test(jobId)) {
    throw new RpcError(status.INVALID_ARGUMENT, `job_id ${JSON.stringify(jobId)} is not valid: use 1-128 letters, digits, '-' or '_' (a UUID works)`);
  }
}

/** The same plan on submit and on resume: sampling is part of it. */
function planOptions(options: JobOptions): { targetTaskBytes?: number; sample?: number; seed?: number } {
  return { targetTaskBytes: options.targetTaskBytes ?? undefined, sample: options.sample ?? undefined, seed: options.seed ?? 1 };
}

function parseOptions(request: SubmitRequest): JobOptions {
  const hash = (request.options?.hash || 'xxh3-128') as HashAlgorithm;
  if (!HASH_ALGORITHMS.includes(hash)) throw new RpcError(status.INVALID_ARGUMENT, `options.hash must be one of ${HASH_ALGORITHMS.join(', ')}, got '${hash}'`);
  const kernel = (request.options?.kernel || 'auto') as KernelChoice;
  if (!KERNEL_CHOICES.includes(kernel)) throw new RpcError(status.INVALID_ARGUMENT, `options.kernel must be one of ${KERNEL_CHOICES.join(', ')}, got '${kernel}'`);
  const target = request.options?.targetTaskBytes ?? 0;
  const sample = request.options?.sample ?? 0;
  if (!(sample >= 0 && sample <= 1)) throw new RpcError(status.INVALID_ARGUMENT, `options.sample must be in [0, 1], got ${sample}`);
  const confidence = request.options?.confidence || 0.95;
  if (!(confidence >= 0.5 && confidence < 1)) throw new RpcError(status.INVALID_ARGUMENT, `options.confidence must be in [0.5, 1), got ${confidence}`);
  return {
    hash, kernel, targetTaskBytes: target > 0 ? target : null,
    sample: sample > 0 && sample < 1 ? sample : null, seed: request.options?.seed || 1, confidence,
  };
}

