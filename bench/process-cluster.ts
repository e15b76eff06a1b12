/**
 * A cluster of processes for benches, as deployed: a nats-server, `lineage coordinator` (metrics on
 * a free port) and `lineage worker`s of one thread each, all signing with a fresh cluster key, run
 * from the build where it is current (bench/built.ts; `fromBuild` says so). `stop()` ends them all
 * (SIGTERM, then waits).
 */
import { randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, type LineageClient } from '../client/src/sdk/index.ts';
import { startNatsServer } from '../test/helpers/nats-server.ts';

import { cliEntry } from './built.ts';

const TOKEN = 'bench-token';

export interface Service {
  child: ChildProcess;
  log(): string;
}

export interface ProcessCluster {
  coordinator: Service;
  workers: Service[];
  /** HOST:PORT of the coordinator's metrics. */
  metricsAddress: string;
  client: LineageClient;
  /** The processes run the build (else the sources through tsx, slower). */
  fromBuild: boolean;
  stop(): Promise<void>;
}

export async function until<T>(what: string, probe: () => T | null | undefined, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startProcessCluster(root: string, workers: number, coordinatorArgs: string[] = []): Promise<ProcessCluster> {
  const key = randomBytes(32).toString('hex');
  const { entry, fromBuild } = cliEntry();
  const service = (args: string[]): Service => {
    const child = spawn(process.execPath, [entry, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LINEAGE_TOKEN: TOKEN, LINEAGE_CLUSTER_KEY: key } });
    let log = '';
    child.stderr!.setEncoding('utf8').on('data', (s: string) => { log += s; });
    return { child, log: () => log };
  };
  const nats = await startNatsServer();
  const coordinator = service(['coordinator', '--nats', nats.url, '--listen', '127.0.0.1:0', '--model-root', root, '--metrics-port', '0', ...coordinatorArgs]);
  const started = Array.from({ length: workers }, () => service(['worker', '--nats', nats.url, '--threads', '1', '--model-root', root]));
  let client: LineageClient | null = null;
  const stop = async () => {
    await client?.close();
    for (const p of [coordinator, ...started]) p.child.kill('SIGTERM');
    await Promise.all([coordinator, ...started].map((p) => new Promise((r) => (p.child.exitCode !== null ? r(null) : p.child.once('exit', r)))));
    await nats.stop();
  };
  try {
    const address = await until('the coordinator', () => /listening on (\S+?);/.exec(coordinator.log())?.[1]);
    const metricsAddress = /metrics on http:\/\/(\S+?)\/metrics/.exec(coordinator.log())![1]!;
    await until('the workers', () => started.every((w) => / ready: /.test(w.log())));
    client = await connect({ address, token: TOKEN });
    return { coordinator, workers: started, metricsAddress, client, stop, fromBuild };
  } catch (err) {
    await stop();
    throw err;
  }
}
