/**
 * How late the event loop runs, as a Prometheus histogram: perf_hooks.monitorEventLoopDelay
 * samples the loop every 10 ms (a free loop gives samples near 0; a loop blocked for 2 s, say by
 * a report built on the main thread, one sample near 2 s). At each scrape the samples gathered
 * since the last one move into the histogram, so `histogram_quantile(0.99, rate(NAME_bucket[5m]))`
 * is the p99 over any window, whoever scrapes.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { Histogram, type Registry } from 'prom-client';

/** Sampling interval; monitorEventLoopDelay's values include it, and it is taken off each. */
const RESOLUTION_MS = 10;
/** From a loop that keeps up (< 10 ms) to one stalled for seconds; 50 ms is the responsiveness goal. */
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface EventLoopDelay {
  /** Stops sampling (a closed coordinator in a process that goes on). */
  close(): void;
}

export function registerEventLoopDelay(registry: Registry, name: string, help: string): EventLoopDelay {
  const sampler = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  sampler.enable();
  new Histogram({ name, help, buckets: BUCKETS, registers: [registry], collect() { drainInto(sampler, this); } });
  return { close: () => sampler.disable() };
}

/**
 * Moves the sampler's samples into `histogram` and resets it. The sampler reports its samples as
 * percentile steps (the value at percentile p is that of the sample ranked ceil(p·n/100)); each
 * sample is observed at the value of the step that ends at or above its rank (exact at the steps,
 * an upper bound between them, which are dense in the tail), less the sampling interval.
 */
export function drainInto(sampler: IntervalHistogram, histogram: Pick<Histogram, 'observe'>): void {
  const n = sampler.count;
  if (n === 0) return;
  const steps = [...sampler.percentiles].sort(([p], [q]) => p - q);
  let observed = 0;
  for (const [percentile, nanoseconds] of steps) {
    const upTo = Math.min(n, Math.ceil((percentile / 100) * n - 1e-9));
    const seconds = Math.max(0, nanoseconds / 1e9 - RESOLUTION_MS / 1e3);
    for (; observed < upTo; observed++) histogram.observe(seconds);
  }
  sampler.reset();
}
