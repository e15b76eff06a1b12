/**
 * A nats-server, a coordinator over it (models under `root`) and a gRPC client, all stopped at the
 * test's end; `jsm()` opens a JetStream manager of its own for looking at streams.
 */
import type { ExecutionContext } from 'ava';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { startCoordinator, type CoordinatorOptions } from '../../coordinator/src/index.ts';
import { decodeTaskResult, type TaskOutcome } from '../../proto/convert.ts';
import { COORDINATOR, Rpc, TOKEN } from './cluster.ts';
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
