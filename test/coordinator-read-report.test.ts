/**
 * The coordinator's ReadReport handler on real gRPC (loopback), with the stored bytes of a report
 * of several MiB given by a stand-in for the job manager: pieces of at most 1 MiB, in order, whole;
 * a client that cancels mid-stream ends its call, and the server goes on serving; an error before
 * the first piece is the call's status. (The real job manager behind it: cluster-report,
 * security-hostile, failures-cluster.)
 */
import test from 'ava';
import { credentials, Server, ServerCredentials, status, type Metadata } from '@grpc/grpc-js';
import { JobsClient, JobsService, type ReportPiece } from '../proto/lineage/v1/lineage.ts';
import { jobsService, REPORT_PIECE_BYTES } from '../coordinator/src/server.ts';
import { RpcError } from '../coordinator/src/rpc-error.ts';
import type { JobManager } from '../coordinator/src/jobs.ts';
import { codeOf, Rpc } from './helpers/cluster.ts';

// ~6 MiB of JSON with multi-byte characters, so pieces end inside characters.
const stored = Buffer.from(JSON.stringify({ tensors: Array.from({ length: 80_000 }, (_, i) => ({ name: `model.layers.${i}.mlp.experts.${i % 128}.down_proj.weight`, note: 'é ✓' })) }) + '\n');
const reads: string[] = [];

const jobs = {
  async report(jobId: string): Promise<Buffer> {
    reads.push(jobId);
    if (jobId !== 'big') throw new RpcError(status.NOT_FOUND, `no job ${jobId}`);
    return stored;
  },
} as unknown as JobManager;

let server: Server;
let address: string;

test.before(async () => {
  server = new Server();
  server.addService(JobsService, jobsService(jobs, (_m: Metadata) => {}));
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  address = `127.0.0.1:${port}`;
});

test.after.always(() => server.forceShutdown());

test('a report of several MiB comes in pieces of at most 1 MiB, in order and whole', async (t) => {
  t.true(stored.length > 5 * REPORT_PIECE_BYTES);
  const rpc = new Rpc(address);
  t.teardown(() => rpc.close());
  const { bytes, pieces } = await rpc.readReport('big');
  t.true(bytes.equals(stored));
  t.is(pieces.length, Math.ceil(stored.length / REPORT_PIECE_BYTES));
  t.true(pieces.every((n) => n > 0 && n <= REPORT_PIECE_BYTES), pieces.join(', '));
});

test('a job that has no report is the call\'s status, before any piece', async (t) => {
  const rpc = new Rpc(address);
  t.teardown(() => rpc.close());
  const { code, details } = await codeOf(rpc.readReport('missing'));
  t.is(code, status.NOT_FOUND);
  t.regex(details, /no job missing/);
});

test('a client that cancels after the first piece ends its call CANCELLED; the server goes on serving', async (t) => {
  const client = new JobsClient(address, credentials.createInsecure(), { 'grpc.max_receive_message_length': 4 * REPORT_PIECE_BYTES });
  t.teardown(() => client.close());
  const call = client.readReport({ jobId: 'big' });
  const first = await new Promise<ReportPiece>((resolve) => call.once('data', resolve));
  t.true(first.data.length > 0 && first.data.length <= REPORT_PIECE_BYTES);
  const ended = new Promise<{ code: number }>((resolve) => call.on('status', resolve));
  call.on('error', () => {});
  call.cancel();
  t.is((await ended).code, status.CANCELLED);
  const rpc = new Rpc(address);
  t.teardown(() => rpc.close());
  t.true((await rpc.readReport('big')).bytes.equals(stored));
});
