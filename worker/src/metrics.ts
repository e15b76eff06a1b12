/** Prometheus metrics of a worker: tasks by outcome, their duration and bytes, tasks running. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type TaskOutcomeLabel = 'done' | 'failed' | 'retried' | 'skipped' | 'handed-back';

export class WorkerMetrics {
  readonly registry = new Registry();
  readonly tasks: Counter<'outcome'>;
  readonly seconds: Histogram;
  readonly bytes: Counter;
  readonly running: Gauge;

  constructor(threads: number) {
    collectDefaultMetrics({ register: this.registry, prefix: 'lineage_worker_' });
    this.tasks = new Counter({ name: 'lineage_worker_tasks_total', help: 'Tasks handled, by outcome', labelNames: ['outcome'], registers: [this.registry] });
    this.seconds = new Histogram({
      name: 'lineage_worker_task_seconds', help: 'Time to run one task', registers: [this.registry],
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300],
    });
    this.bytes = new Counter({ name: 'lineage_worker_task_bytes_total', help: 'Checkpoint bytes read by finished tasks', registers: [this.registry] });
    this.running = new Gauge({ name: 'lineage_worker_tasks_running', help: 'Tasks running now', registers: [this.registry] });
    new Gauge({ name: 'lineage_worker_threads', help: 'Tasks this worker runs at once', registers: [this.registry] }).set(threads);
  }

  count(outcome: TaskOutcomeLabel): void {
    this.tasks.inc({ outcome });
  }
}
