/**
 * `lineage submit|watch|report|jobs|cancel` and `lineage compare --coordinator` as a user runs
 * them, against a real cluster started here (nats-server, coordinator, worker). The commands
 * run as child processes, asynchronously: the coordinator lives in this process and must keep
 * answering while they run.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { synthesize } from '../core/src/synth/synth.ts';
import { startCoordinator } from '../coordinator/src/index.ts';
import { startWorker } from '../worker/src/index.ts';
import { startNatsServer } from './helpers/nats-server.ts';
import { NATS_MISSING } from './helpers/skip.ts';
import { tempDir } from './helpers/tmpdir.ts';
import { COORDINATOR, WORKER } from './helpers/cluster.ts';
import { connect as connectNats } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { REPORTS_BUCKET } from '../proto/jetstream.ts';

const BIN = fileURLToPath(new URL('../client/bin/lineage.js', import.meta.url));
const TOKEN = 'cli-cluster-test-token';

interface Run { status: number | null; stdout: string; stderr: string }

let address = '';
let idleAddress = '';
let natsUrl = '';
/** Runs `lineage ...` against the test coordinator (its address and token from the environment). */
function lineage(args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, LINEAGE_COORDINATOR: address, LINEAGE_TOKEN: TOKEN, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
    child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 40_000);
    child.once('error', reject);
    child.once('close', (status) => { clearTimeout(timer); resolve({ status, stdout, stderr }); });
  });
}

const root = tempDir();
const models = join(root, 'models');
const base = join(models, 'base');
const derived = join(models, 'derived');
const stops: Array<() => Promise<void>> = [];
/** A test whose job stalls fails after this long, not at ava's 5 min limit. */
const STALL_MS = 45_000;

if (NATS_MISSING) test.skip(`lineage cluster commands (skipped: ${NATS_MISSING})`, () => {});
else {
  test.before(async () => {
    mkdirSync(models);
    synthesize('base', { out: base, shape: { layout: 'moe', layers: 2, experts: 4 } });
    synthesize('derivative', { out: derived, like: base, drift: 0.02 });
    const nats = await startNatsServer();
    stops.push(() => nats.stop());
    const coordinator = await startCoordinator({ ...COORDINATOR, nats: nats.url, listen: '127.0.0.1:0', token: TOKEN, modelRoots: [models] });
    stops.unshift(() => coordinator.close());
    const worker = await startWorker({ ...WORKER, nats: nats.url, threads: 2 });
    stops.unshift(() => worker.stop());
    address = coordinator.address;
    natsUrl = nats.url;
    // A second cluster with no worker: its jobs stay queued until cancelled.
    const idleNats = await startNatsServer();
    stops.push(() => idleNats.stop());
    const idle = await startCoordinator({ ...COORDINATOR, nats: idleNats.url, listen: '127.0.0.1:0', token: TOKEN, modelRoots: [models] });
    stops.unshift(() => idle.close());
    idleAddress = idle.address;
  });

  test.after.always(async () => {
    for (const stop of stops) await stop().catch(() => {});
  });

  test('compare --coordinator writes the same weights as local compare, and the same summary', async (t) => {
    t.timeout(STALL_MS);
    const clusterJson = join(root, 'cluster.json');
    const localJson = join(root, 'local.json');
    const [cluster, local] = await Promise.all([
      lineage(['compare', base, derived, '--coordinator', address, '--json', clusterJson]),
      lineage(['compare', base, derived, '--json', localJson, '--threads', '1'], { LINEAGE_COORDINATOR: undefined }),
    ]);
    t.is(cluster.status, 0, cluster.stderr);
    t.is(local.status, 0, local.stderr);
    const a = JSON.parse(readFileSync(clusterJson, 'utf8'));
    const b = JSON.parse(readFileSync(localJson, 'utf8'));
    t.deepEqual(a.weights, b.weights);
    t.regex(cluster.stdout, /weights: \d+ pair\(s\) compared/);
    // The summary is the local one but for the run line (duration, threads).
    const body = (s: string) => s.split('\n').filter((l) => !l.startsWith('done in ') && !/^[AB]: /.test(l)).join('\n');
    t.is(body(cluster.stdout), body(local.stdout));
    t.regex(cluster.stderr, /^job [0-9a-f-]{36} on 127\.0\.0\.1:\d+$/m);
  });

  test('submit prints the job id; watch, report, jobs and cancel follow it', async (t) => {
    t.timeout(STALL_MS);
    const submitted = await lineage(['submit', base, derived, '--job-id', 'cli-job-1']);
    t.is(submitted.status, 0, submitted.stderr);
    t.is(submitted.stdout, 'cli-job-1\n');

    const watched = await lineage(['watch', 'cli-job-1', '--quiet']);
    t.is(watched.status, 0, watched.stderr);
    t.regex(watched.stdout, /^job cli-job-1: done \(\d+\/\d+ task\(s\), [\d.]+\/[\d.]+ GB in [\d.]+ s\)\n$/);
    t.is(watched.stderr, '');

    const reportJson = join(root, 'cli-job-1.json');
    const reported = await lineage(['report', 'cli-job-1', '--json', reportJson]);
    t.is(reported.status, 0, reported.stderr);
    t.regex(reported.stdout, /weights: \d+ pair\(s\) compared/);
    t.true(JSON.parse(readFileSync(reportJson, 'utf8')).weights.tensors.length > 0);

    const again = await lineage(['submit', base, derived, '--job-id', 'cli-job-1']);
    t.is(again.status, 0);
    t.is(again.stdout, 'cli-job-1\n');
    t.regex(again.stderr, /already existed \(done\)/);

    const jobs = await lineage(['jobs']);
    t.is(jobs.status, 0, jobs.stderr);
    t.regex(jobs.stdout, /^JOB\s+STATE/);
    t.regex(jobs.stdout, /^cli-job-1\s+done\s/m);

    const cancelled = await lineage(['cancel', 'cli-job-1']);
    t.is(cancelled.status, 0, cancelled.stderr);
    t.regex(cancelled.stdout, /^job cli-job-1: done /, 'a finished job keeps its state');
  });

  test('submit --wait --json follows the job and writes its report', async (t) => {
    t.timeout(STALL_MS);
    const json = join(root, 'waited.json');
    const r = await lineage(['submit', base, base, '--wait', '--json', json, '--hash', 'sha256']);
    t.is(r.status, 0, r.stderr);
    const id = r.stdout.trim();
    t.regex(id, /^[0-9a-f-]{36}$/);
    t.regex(r.stderr, new RegExp(`job ${id}: done`));
    const report = JSON.parse(readFileSync(json, 'utf8'));
    t.is(report.weights.hashAlgorithm, 'sha256');
    t.is(report.weights.summary.identical, report.weights.tensors.length);
  });

  test('exit status 2 for bad input and usage, one line naming the file', async (t) => {
    t.timeout(STALL_MS);
    const missing = join(models, 'nope');
    const r = await lineage(['submit', base, missing]);
    t.is(r.status, 2);
    t.is(r.stderr, `lineage submit: ${missing}: no such folder\n`);

    const viaCompare = await lineage(['compare', missing, base, '--coordinator', address, '--quiet']);
    t.is(viaCompare.status, 2);
    t.regex(viaCompare.stderr, new RegExp(`^lineage compare: ${missing}: no such folder\n$`));

    const noCoordinator = await lineage(['jobs'], { LINEAGE_COORDINATOR: undefined });
    t.is(noCoordinator.status, 2);
    t.regex(noCoordinator.stderr, /no coordinator: give --coordinator HOST:PORT or set LINEAGE_COORDINATOR/);

    const localOnly = await lineage(['compare', base, derived, '--coordinator', address, '--threads', '2']);
    t.is(localOnly.status, 2);
    t.regex(localOnly.stderr, /--threads applies to local mode only/);

    t.is((await lineage(['watch'])).status, 2);
    t.is((await lineage(['submit', base, derived, '--hash', 'md5'])).status, 2);
  });

  test('exit status 1, said plainly: unknown job, wrong token, path outside the roots, coordinator unreachable', async (t) => {
    t.timeout(STALL_MS);
    const unknown = await lineage(['watch', 'no-such-job']);
    t.is(unknown.status, 1);
    t.is(unknown.stderr, 'lineage watch: job no-such-job not found\n');

    const badToken = await lineage(['jobs', '--token', 'wrong']);
    t.is(badToken.status, 1);
    t.regex(badToken.stderr, /^lineage jobs: coordinator 127\.0\.0\.1:\d+ refused the token: invalid token/);

    const outside = await lineage(['submit', base, root]);
    t.is(outside.status, 1);
    t.regex(outside.stderr, /permission denied: .*outside the model roots/);

    // A port that was just free: nothing listens there.
    const probe = new Server();
    const port = await new Promise<number>((resolve, reject) =>
      probe.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
    await new Promise<void>((resolve) => probe.tryShutdown(() => resolve()));
    const down = await lineage(['jobs', '--coordinator', `127.0.0.1:${port}`]);
    t.is(down.status, 1);
    t.is(down.stderr, `lineage jobs: coordinator 127.0.0.1:${port} is unreachable: no connection within 5.0 s\n`);
  });

  test('a cancelled job: watch exits 1 with the final state, report exits 1 saying why', async (t) => {
    t.timeout(STALL_MS);
    // On the cluster without workers the job is still queued when it is cancelled.
    const idle = ['--coordinator', idleAddress];
    const submitted = await lineage(['submit', base, derived, '--job-id', 'cli-cancel-1', ...idle]);
    t.is(submitted.status, 0, submitted.stderr);
    const cancelled = await lineage(['cancel', 'cli-cancel-1', ...idle]);
    t.is(cancelled.status, 0, cancelled.stderr);
    t.regex(cancelled.stdout, /^job cli-cancel-1: cancelled /);
    const watched = await lineage(['watch', 'cli-cancel-1', '--quiet', ...idle]);
    t.is(watched.status, 1);
    t.regex(watched.stdout, /^job cli-cancel-1: cancelled /);
    const reported = await lineage(['report', 'cli-cancel-1', ...idle]);
    t.is(reported.status, 1);
    t.regex(reported.stderr, /^lineage report: job cli-cancel-1 has no report: .*cancel/);
  });

  // Serial: it runs before the others, which keeps the machine's load (child processes) down.
  test.serial('a report altered in NATS: report exits 1 saying it was refused, prints no verdict; delete removes the job', async (t) => {
    t.timeout(STALL_MS);
    const submitted = await lineage(['submit', base, base, '--job-id', 'cli-tampered', '--wait', '--quiet']);
    t.is(submitted.status, 0, submitted.stderr);
    // Someone on NATS without the cluster key rewrites the verdict in the stored report.
    const nc = await connectNats({ servers: natsUrl });
    t.teardown(() => nc.close());
    const reports = await new Kvm(nc).open(REPORTS_BUCKET);
    const chunk = Buffer.from((await reports.get('cli-tampered.0'))!.value).toString('utf8');
    await reports.put('cli-tampered.0', chunk.replaceAll('"derived"', '"independent"'));
    const reported = await lineage(['report', 'cli-tampered', '--json', join(root, 'tampered.json')]);
    t.is(reported.status, 1);
    t.regex(reported.stderr, /^lineage report: the coordinator refused stored data that does not verify: report of job cli-tampered, chunk 0 of 1: its MAC does not verify/);
    t.is(reported.stdout, '', 'no verdict is printed');
    const deleted = await lineage(['delete', 'cli-tampered']);
    t.is(deleted.status, 0, deleted.stderr);
    t.regex(deleted.stdout, /^job cli-tampered deleted \(it was done\)/);
    const gone = await lineage(['report', 'cli-tampered']);
    t.is(gone.status, 1);
    t.regex(gone.stderr, /no job "cli-tampered"|not found/i);
    t.notRegex((await lineage(['jobs'])).stdout, /cli-tampered/);
  });
}
