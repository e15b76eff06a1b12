/**
 * A real nats-server with JetStream for integration tests: loopback only, a random free port, its
 * store in a temporary folder. `restart()` brings it back on the same port and store (JetStream
 * state survives); `stop()` ends it. Every server started here is also killed when the test
 * process exits, so no test leaves one behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { tempDir } from './tmpdir.ts';

export const NATS_SERVER_BINARY = ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server'].find((p) => existsSync(p)) ?? null;

export interface NatsServer {
  /** nats://127.0.0.1:PORT */
  url: string;
  port: number;
  storeDir: string;
  /** Stops the server (SIGTERM, then SIGKILL after 5 s); resolves when it has exited. */
  stop(): Promise<void>;
  /** Stops it if running and starts it again on the same port with the same store. */
  restart(): Promise<void>;
}

export interface NatsServerOptions {
  /** Require this user and password from clients. */
  user?: string;
  pass?: string;
  /** A nats-server configuration (authorization, tls, cluster, ...), written to a file and passed with -c. */
  config?: string;
  /** The server's name (default lineage-test); servers of one NATS cluster need their own. */
  name?: string;
}

const running = new Set<ChildProcess>();
process.once('exit', () => { for (const child of running) child.kill('SIGKILL'); });

/** Starts a nats-server with JetStream; throws when the binary is missing (tests skip on NATS_SERVER_BINARY === null). */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  if (!NATS_SERVER_BINARY) throw new Error('nats-server is not installed (Debian package nats-server)');
  const storeDir = join(tempDir('lineage-nats-'), 'jetstream');
  let child: ChildProcess | null = null;
  let port = -1;

  const launch = async () => {
    const args = ['-js', '-sd', storeDir, '-a', '127.0.0.1', '-p', String(port), '-n', options.name ?? 'lineage-test'];
    if (options.config !== undefined) {
      const file = join(storeDir, '..', 'nats.conf');
      writeFileSync(file, options.config);
      args.push('-c', file);
    }
    if (options.user !== undefined) args.push('--user', options.user, '--pass', options.pass ?? '');
    const proc = spawn(NATS_SERVER_BINARY, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    running.add(proc);
    proc.once('exit', () => running.delete(proc));
    port = await new Promise<number>((resolve, reject) => {
      let log = '';
      let listening = -1;
      const timer = setTimeout(() => fail(new Error(`nats-server did not become ready in 60 s:\n${log}`)), 60_000);
      const fail = (err: Error) => { clearTimeout(timer); proc.kill('SIGKILL'); reject(err); };
      proc.stderr!.setEncoding('utf8');
      proc.stderr!.on('data', (chunk: string) => {
        if (log.length < 64_000) log += chunk;
        const m = /Listening for client connections on [\d.]+:(\d+)/.exec(log);
        if (m) listening = Number(m[1]);
        if (listening > 0 && log.includes('Server is ready')) {
          clearTimeout(timer);
          proc.stderr!.removeAllListeners('data');
          proc.stderr!.resume();
          resolve(listening);
        }
      });
      proc.once('exit', (code) => fail(new Error(`nats-server exited with ${code} before it was ready:\n${log}`)));
    });
    child = proc;
  };

  const stop = async () => {
    const proc = child;
    child = null;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => proc.kill('SIGKILL'), 5_000);
      proc.once('exit', () => { clearTimeout(force); resolve(); });
      proc.kill('SIGTERM');
    });
  };

  await launch();
  return {
    get url() { return `nats://127.0.0.1:${port}`; },
    get port() { return port; },
    storeDir,
    stop,
    restart: async () => { await stop(); await launch(); },
  };
}

/** A nats-server with JetStream and a client connected to it, both stopped when the test ends. */
export async function natsServerAndClient(t: { teardown(fn: () => unknown): void }): Promise<{ nats: NatsServer; nc: NatsConnection }> {
  const nats = await startNatsServer();
  t.teardown(() => nats.stop());
  const nc = await connect({ servers: nats.url });
  t.teardown(() => nc.close());
  return { nats, nc };
}
