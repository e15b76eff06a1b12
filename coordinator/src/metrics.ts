/**
 * Prometheus metrics of the coordinator (jobs by state, tasks and bytes finished, live workers),
 * and the small HTTP endpoint that serves a registry (the worker uses it too). Each process part
 * has its own registry, so several coordinators or workers can share a process (tests).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { JobStateName } from '../../proto/jetstream.ts';
import type { WorkerRegistry } from './workers.ts';

export interface MetricsEndpoint {
  /** HOST:PORT of the endpoint (GET /metrics). */
  address: string;
  close(): Promise<void>;
}

export async function serveMetrics(registry: Registry, port: number, host = '0.0.0.0'): Promise<MetricsEndpoint> {
  const bindHost = host.replace(/^\[(.*)\]$/, '$1');
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '/').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: metrics are at /metrics\n');
      return;
    }
    registry.metrics().then(
      (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
      (err) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${(err as Error).message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, bindHost, () => resolve());
  });
  const bound = server.address() as AddressInfo;
  return {
    address: `${host}:${bound.port}`,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

export class CoordinatorMetrics {
  readonly registry = new Registry();
  private readonly states = new Map<string, JobStateName>();
  private readonly tasks: Counter<'outcome'>;
  private readonly bytes: Counter;

  constructor(workers: WorkerRegistry) {
    collectDefaultMetrics({ register: this.registry, prefix: 'lineage_coordinator_' });
    const states = this.states;
    new Gauge({
      name: 'lineage_jobs', help: 'Jobs known to this coordinator, by state', labelNames: ['state'], registers: [this.registry],
      collect() {
        const counts: Record<JobStateName, number> = { QUEUED: 0, RUNNING: 0, DONE: 0, FAILED: 0, CANCELLED: 0 };
        for (const s of states.values()) counts[s]++;
        for (const [state, n] of Object.entries(counts)) this.set({ state: state.toLowerCase() }, n);
      },
    });
    new Gauge({
      name: 'lineage_workers', help: 'Workers heard from in the last 30 s', registers: [this.registry],
      collect() { this.set(workers.alive().length); },
    });
    new Gauge({
      name: 'lineage_worker_threads', help: 'Threads declared by the workers heard from in the last 30 s', registers: [this.registry],
      collect() { this.set(workers.alive().reduce((n, w) => n + w.threads, 0)); },
    });
    this.tasks = new Counter({ name: 'lineage_tasks_total', help: 'Task results merged, by outcome', labelNames: ['outcome'], registers: [this.registry] });
    this.bytes = new Counter({ name: 'lineage_task_bytes_total', help: 'Checkpoint bytes covered by merged task results', registers: [this.registry] });
  }

  jobState(jobId: string, state: JobStateName): void {
    this.states.set(jobId, state);
  }

  taskMerged(failed: boolean, bytes: number): void {
    this.tasks.inc({ outcome: failed ? 'failed' : 'done' });
    this.bytes.inc(bytes);
  }
}
