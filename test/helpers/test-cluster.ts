/**
 * A nats-server, a coordinator over it (models under `root`) and a gRPC client, all stopped at the
 * test's end; `jsm()` opens a JetStream manager of its own for looking at streams.
 */
import type { ExecutionContext } from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { startCoordinator, type CoordinatorOptions } from '../../coordinator/src/index.ts';
import { decodeTaskResult, type TaskOutcome } from '../../proto/convert.ts';
import { CLUSTER_KEY, COORDINATOR, Rpc, TOKEN, waitFor } from './cluster.ts';
import { startNatsServer } from './nats-server.ts';

export async function testCluster(t: ExecutionContext, root: string, options: Partial<CoordinatorOptions> = {}) {
  const nats = await startNatsServer();
  t.teardown(() => nats.stop());
  const coordinator = await startCoordinator({ ...COORDINATOR, nats: nats.url, listen: '127.0.0.1:0', token: TOKEN, modelRoots: [root], ...options });
  t.teardown(() => coordinator.close());
  const rpc = new Rpc(coordinator.address);
  t.teardown(() => rpc.close());
  const jsm = async (): Promise<JetStreamManager> => {
    const nc = await connect({ servers: nats.url });
    t.teardown(() => nc.close());
    return jetstreamManager(nc);
  };
  return { nats, coordinator, rpc, jsm };
}

/** Every TaskResult published on the results subjects, as it is published (core NATS sees JetStream traffic). */
export async function recordResults(url: string, t: { teardown(fn: () => unknown): void }) {
  const nc = await connect({ servers: url });
  t.teardown(() => nc.close());
  const outcomes: TaskOutcome[] = [];
  nc.subscribe('lineage.results.>', { callback: (_e, m) => { outcomes.push(decodeTaskResult(m.data)); } });
  return { nc, outcomes };
}

const WORKER_PROCESS = fileURLToPath(new URL('./worker-process.ts', import.meta.url));

/**
 * A worker in its own process (the `lineage worker` command), for tests that kill one: started
 * with the test cluster's key, ready once it says so, killed at the test's end. `log()` is what it
 * has written so far (a line per task started, finished, failed).
 */
export async function workerProcess(t: { teardown(fn: () => unknown): void }, natsUrl: string, id: string, args: string[]): Promise<{ child: ChildProcess; log: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER_PROCESS, '--nats', natsUrl, '--threads', '1', '--id', id, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LINEAGE_CLUSTER_KEY: CLUSTER_KEY },
  });
  t.teardown(() => { child.kill('SIGKILL'); });
  let log = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => { log += chunk; });
  await waitFor('the worker process to be ready', () => new RegExp(`worker ${id} ready`).test(log), 60_000);
  return { child, log: () => log };
}
