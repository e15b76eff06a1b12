/**
 * `lineage coordinator` and `lineage worker` as processes: they start, serve a job, stop cleanly
 * (exit 0) on SIGTERM, and refuse bad command lines with exit status 2 and one clear line.
 */
import test from 'ava';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { synthesize } from '../core/src/synth/synth.ts';
import { JobState } from '../proto/lineage/v1/lineage.ts';
import { CLUSTER_KEY, Rpc, TOKEN, waitFor } from './helpers/cluster.ts';
import { startNatsServer } from './helpers/nats-server.ts';
import { NATS_MISSING, unless } from './helpers/skip.ts';
import { tempDir } from './helpers/tmpdir.ts';

const BIN = fileURLToPath(new URL('../client/bin/lineage.js', import.meta.url));

function service(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { log: '', child };
  child.stdout!.setEncoding('utf8').on('data', (s: string) => { out.log += s; });
  child.stderr!.setEncoding('utf8').on('data', (s: string) => { out.log += s; });
  return out;
}

const exited = (child: ChildProcess) => new Promise<number | null>((resolve) => {
  if (child.exitCode !== null) resolve(child.exitCode);
  else child.once('exit', (code) => resolve(code));
});

unless(NATS_MISSING)('coordinator and worker processes run a job and stop on SIGTERM', async (t) => {
  t.timeout(90_000);
  const root = tempDir();
  const base = join(root, 'base');
  synthesize('base', { out: base, shape: { layers: 2 } });
  const nats = await startNatsServer();
  t.teardown(() => nats.stop());

  // The token and the cluster key from the environment, as a deployment would pass them.
  const coordinator = service(['coordinator', '--nats', nats.url, '--listen', '127.0.0.1:0', '--model-root', root], { LINEAGE_TOKEN: TOKEN, LINEAGE_CLUSTER_KEY: CLUSTER_KEY });
  t.teardown(() => { coordinator.child.kill('SIGKILL'); });
  const address = await waitFor('the coordinator to listen', () => /listening on (\S+);/.exec(coordinator.log)?.[1], 30_000);
  const keyFile = join(root, 'cluster.key');
  writeFileSync(keyFile, `${CLUSTER_KEY}\n`);
  const worker = service(['worker', '--nats', nats.url, '--threads', '1', '--id', 'cli-worker', '--cluster-key', keyFile, '--model-root', root]);
  t.teardown(() => { worker.child.kill('SIGKILL'); });
  await waitFor('the worker to be ready', () => /worker cli-worker ready/.test(worker.log), 30_000);

  const rpc = new Rpc(address);
  t.teardown(() => rpc.close());
  await rpc.submit({ jobId: 'cli', modelA: base, modelB: base });
  t.is((await rpc.watch('cli')).at(-1)!.state, JobState.JOB_STATE_DONE);
  // The processes' own log lines may arrive after the Watch stream has ended: wait for them.
  t.truthy(await waitFor('the worker to log a finished task', () => /finished task cli\/\d+/.test(worker.log) || null, 15_000));
  t.truthy(await waitFor('the coordinator to log the job done', () => /job cli done/.test(coordinator.log) || null, 15_000));

  worker.child.kill('SIGTERM');
  coordinator.child.kill('SIGTERM');
  t.is(await exited(worker.child), 0, worker.log);
  t.is(await exited(coordinator.child), 0, coordinator.log);
});

test('bad command lines: exit status 2 and one line saying what is wrong; no NATS: exit 1', (t) => {
  const run = (args: string[], env: Record<string, string | undefined> = {}) =>
    spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, LINEAGE_TOKEN: undefined, ...env } as NodeJS.ProcessEnv, timeout: 60_000 });
  let r = run(['worker']);
  t.is(r.status, 2);
  t.regex(r.stderr, /lineage worker: --nats URL is required/);
  r = run(['worker', '--nats', 'nats://127.0.0.1:1', '--threads', 'many']);
  t.is(r.status, 2);
  t.regex(r.stderr, /--threads must be an integer/);
  r = run(['coordinator', '--nats', 'nats://127.0.0.1:1']);
  t.is(r.status, 2);
  t.regex(r.stderr, /needs a token/);
  r = run(['coordinator', '--nats', 'nats://127.0.0.1:1', '--token', 't', '--model-root', '/no/such/root']);
  t.is(r.status, 2);
  t.regex(r.stderr, /model root \/no\/such\/root does not exist/);
  r = run(['coordinator', '--nats', 'nats://127.0.0.1:1', '--token', 't', '--tls-cert', '/tmp/cert.pem']);
  t.is(r.status, 2);
  t.regex(r.stderr, /TLS needs both --tls-cert and --tls-key/);
  // No cluster key, a short one, or two ways into NATS: refused before anything starts.
  r = run(['worker', '--nats', 'nats://127.0.0.1:1'], { LINEAGE_CLUSTER_KEY: undefined });
  t.is(r.status, 2);
  t.regex(r.stderr, /^lineage worker: the worker needs a cluster key .*--cluster-key FILE or the LINEAGE_CLUSTER_KEY environment variable/);
  r = run(['coordinator', '--nats', 'nats://127.0.0.1:1', '--token', 't'], { LINEAGE_CLUSTER_KEY: 'short' });
  t.is(r.status, 2);
  t.regex(r.stderr, /LINEAGE_CLUSTER_KEY: the cluster key has 5 bytes; at least 32 are needed/);
  r = run(['worker', '--nats', 'nats://127.0.0.1:1', '--insecure', '--nats-user', 'u', '--nats-token', 'x']);
  t.is(r.status, 2);
  t.regex(r.stderr, /give one of --nats-user\/--nats-pass, --nats-token, not several/);
  // Not a bad command line, but a service that is not there: exit 1, said plainly.
  r = run(['worker', '--nats', 'nats://127.0.0.1:1', '--insecure']);
  t.is(r.status, 1);
  t.regex(r.stderr, /^lineage worker: cannot connect to NATS at nats:\/\/127\.0\.0\.1:1: /m);
  r = run(['coordinator', '--help']);
  t.is(r.status, 0);
  t.regex(r.stdout, /--model-root DIR/);
});
