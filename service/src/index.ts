/**
 * What the cluster's long-running processes (the coordinator and the workers) share: the metrics
 * endpoint, the model roots they read under, the event-loop delay histogram. The one entry of
 * this folder: the coordinator and the worker import it, never a file beside it
 * (test/package-entries.test.ts).
 */
export { serveMetrics, type MetricsEndpoint } from './metrics-endpoint.ts';
export { ModelRoots, PathRefusedError } from './model-roots.ts';
export { registerEventLoopDelay, type EventLoopDelay } from './event-loop-delay.ts';
