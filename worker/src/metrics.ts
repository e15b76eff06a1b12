/**
 * Prometheus metrics of a worker: tasks by outcome, their duration, bytes read and compared,
 * capacity (threads, GPU) and heartbeats. Same conventions as the coordinator's
 * (coordinator/src/metrics.ts): `_total` counters, base units, small fixed label sets.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ItemResult } from '../../core/src/exec/index.ts';
import type { KernelName } from '../../core/src/kernels/index.ts';
import { sampledElements, type Task } from '../../core/src/plan/index.ts';
import type { UntrustedReason } from '../../proto/signed.ts';

export type TaskOutcomeLabel = 'done' | 'failed' | 'retried' | 'skipped' | 'handed-back';
const OUTCOMES: TaskOutcomeLabel[] = ['done', 'failed', 'retried', 'skipped', 'handed-back'];
const KERNELS: KernelName[] = ['wasm-simd', 'js', 'gpu.js'];

/** From a small tensor on a fast disk to a large expert block read over the network. */
const TASK_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];

export class WorkerMetrics {
  readonly registry = new Registry();
  readonly tasks: Counter<'outcome'>;
  /** From taking a task off the queue to acknowledging it (read, compute, publish). */
  readonly seconds: Histogram;
  /** Time a thread spent streaming a task's tensors through the kernel (reads overlap compute there). */
  readonly kernelSeconds: Histogram<'kernel'>;
  readonly readBytes: Counter;
  readonly comparedBytes: Counter;
  readonly redeliveries: Counter;
  readonly running: Gauge;
  /** Tasks whose files could not be read here (ENOENT, EIO, a timeout): handed back for another worker. */
  readonly readErrors: Counter;
  private readonly heartbeats: Counter;
  private readonly lastHeartbeat: Gauge;
  private readonly untrustedCounter: Counter<'kind' | 'reason'>;

  constructor(threads: number, kernel: KernelName) {
    collectDefaultMetrics({ register: this.registry, prefix: 'lineage_worker_' });
    const registers = [this.registry];
    this.tasks = new Counter({ name: 'lineage_worker_tasks_total', help: 'Tasks handled, by outcome', labelNames: ['outcome'], registers });
    for (const outcome of OUTCOMES) this.tasks.inc({ outcome }, 0);
    this.seconds = new Histogram({
      name: 'lineage_worker_task_duration_seconds', help: 'Time from taking a task off the queue to acknowledging it, for tasks that finished (done or failed)',
      buckets: TASK_BUCKETS, registers,
    });
    this.kernelSeconds = new Histogram({
      name: 'lineage_worker_kernel_duration_seconds', help: 'Time a thread spent streaming one task\'s tensors through the kernel (reads overlapped with compute), by kernel',
      labelNames: ['kernel'], buckets: TASK_BUCKETS, registers,
    });
    for (const k of KERNELS) this.kernelSeconds.zero({ kernel: k });
    this.readBytes = new Counter({ name: 'lineage_worker_read_bytes_total', help: 'Checkpoint bytes read by finished tasks (both models)', registers });
    this.comparedBytes = new Counter({ name: 'lineage_worker_compared_bytes_total', help: 'Checkpoint bytes compared element by element by finished tasks (both models; hash-only tensors excluded)', registers });
    this.redeliveries = new Counter({ name: 'lineage_worker_task_redeliveries_total', help: 'Tasks received that had been delivered before (to this or another worker)', registers });
    this.running = new Gauge({ name: 'lineage_worker_tasks_running', help: 'Tasks running now', registers });
    new Gauge({ name: 'lineage_worker_threads', help: 'Tasks this worker runs at once', registers }).set(threads);
    new Gauge({ name: 'lineage_worker_gpu', help: '1 when this worker runs the GPU kernel by default, else 0', registers }).set(kernel === 'gpu.js' ? 1 : 0);
    const info = new Gauge({ name: 'lineage_worker_info', help: 'Always 1; the kernel this worker uses for jobs that leave the choice to it', labelNames: ['kernel'], registers });
    info.set({ kernel }, 1);
    this.heartbeats = new Counter({ name: 'lineage_worker_heartbeats_total', help: 'Heartbeats published', registers });
    this.lastHeartbeat = new Gauge({ name: 'lineage_worker_last_heartbeat_timestamp_seconds', help: 'When the last heartbeat was published', registers });
    this.readErrors = new Counter({
      name: 'lineage_worker_read_errors_total', help: 'Task attempts that failed because their tensor files could not be read here (open or read refused, timeouts); the task is retried, on another worker if one can', registers,
    });
    this.untrustedCounter = new Counter({
      name: 'lineage_worker_untrusted_messages_total', help: 'Task messages and job records rejected (unsigned, MAC that does not verify, malformed), by kind and reason',
      labelNames: ['kind', 'reason'], registers,
    });
    for (const kind of ['task', 'job-record']) for (const reason of ['unsigned', 'tampered', 'malformed', 'foreign']) this.untrustedCounter.inc({ kind, reason }, 0);
  }

  untrusted(kind: 'task' | 'job-record', reason: UntrustedReason): void {
    this.untrustedCounter.inc({ kind, reason });
  }

  count(outcome: TaskOutcomeLabel): void {
    this.tasks.inc({ outcome });
  }

  heartbeat(): void {
    this.heartbeats.inc();
    this.lastHeartbeat.set(Date.now() / 1000);
  }

  /** A task that ran to the end: its bytes read, and the bytes of the items compared without error. */
  finished(task: Task, results: ItemResult[]): void {
    this.readBytes.inc(task.bytes);
    this.comparedBytes.inc(comparedBytes(task, results));
  }
}

/** Bytes of the items compared element by element (the sampled share in sampled mode). */
export function comparedBytes(task: Task, results: ItemResult[]): number {
  const ok = new Set(results.filter((r) => r.moments !== null && r.error === null).map((r) => r.index));
  let bytes = 0;
  for (const item of task.items) {
    if (!item.compare || !item.a || !item.b || !ok.has(item.index)) continue;
    const share = item.sample ? sampledElements(item.sample) / (item.sample.rows * item.sample.cols) : 1;
    bytes += Math.round(share * (item.a.byteLength + item.b.byteLength));
  }
  return bytes;
}
