/**
 * For cluster tests: plain promises over the generated gRPC client (what any client would do,
 * without the SDK), and small waits. Every process or server a test starts is stopped in
 * `t.teardown`.
 */
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { tmpdir } from 'node:os';
import {
  CompareOptions, JobsClient, JobState, type CancelRequest, type CancelResponse, type DeleteRequest, type DeleteResponse, type GetReportRequest, type GetReportResponse, type JobStatus, type ReportPiece, type ListJobsResponse, type SubmitRequest, type SubmitResponse,
} from '../../proto/lineage/v1/lineage.ts';

export const TOKEN = 'test-token-7f3a';

/** The cluster key of every test cluster (tasks, results and stored records are signed with it). */
export const CLUSTER_KEY = 'test-cluster-key-0123456789abcdef0123456789abcdef';
/** What a test coordinator is started with besides its own options. */
export const COORDINATOR = { clusterKey: CLUSTER_KEY } as const;
/**
 * What a test worker is started with: the key, and the system's temporary folder as its model
 * root (tests write their models in folders under it, test/helpers/tmpdir.ts).
 */
export const WORKER: { clusterKey: string; modelRoots: string[] } = { clusterKey: CLUSTER_KEY, modelRoots: [tmpdir()] };

export function metadata(token: string | null = TOKEN): Metadata {
  const md = new Metadata();
  if (token !== null) md.set('authorization', `Bearer ${token}`);
  return md;
}

export class Rpc {
  readonly client: JobsClient;
  constructor(address: string, readonly token: string | null = TOKEN) {
    this.client = new JobsClient(address, credentials.createInsecure());
  }

  private unary<Req, Res>(method: (req: Req, md: Metadata, cb: (e: ServiceError | null, r: Res) => void) => unknown, request: Req): Promise<Res> {
    return new Promise<Res>((resolve, reject) => method.call(this.client, request, metadata(this.token), (err: ServiceError | null, res: Res) => (err ? reject(err) : resolve(res))));
  }

  submit(request: Omit<Partial<SubmitRequest>, 'options'> & { jobId: string; modelA: string; modelB: string; options?: Partial<CompareOptions> }): Promise<SubmitResponse> {
    const { options, ...rest } = request;
    return this.unary<SubmitRequest, SubmitResponse>(this.client.submit, { ...rest, options: options ? CompareOptions.fromPartial(options) : undefined });
  }

  async report(jobId: string): Promise<unknown> {
    const r = await this.unary<GetReportRequest, GetReportResponse>(this.client.getReport, { jobId });
    return JSON.parse(Buffer.from(r.reportJson).toString('utf8'));
  }

  /** The report's bytes as ReadReport streams them, and the size of each piece. */
  readReport(jobId: string): Promise<{ bytes: Buffer; pieces: number[] }> {
    const stream = this.client.readReport({ jobId }, metadata(this.token));
    const pieces: Buffer[] = [];
    return new Promise((resolve, reject) => {
      stream.on('data', (p: ReportPiece) => pieces.push(Buffer.from(p.data)));
      stream.on('error', reject);
      stream.on('end', () => resolve({ bytes: Buffer.concat(pieces), pieces: pieces.map((p) => p.length) }));
    });
  }

  async cancel(jobId: string): Promise<JobStatus> {
    return (await this.unary<CancelRequest, CancelResponse>(this.client.cancel, { jobId })).job!;
  }

  async delete(jobId: string): Promise<JobStatus> {
    return (await this.unary<DeleteRequest, DeleteResponse>(this.client.delete, { jobId })).job!;
  }

  async list(): Promise<JobStatus[]> {
    return (await this.unary<object, ListJobsResponse>(this.client.listJobs, {})).jobs;
  }

  /** Every status the Watch stream sends, until the server ends it. */
  watch(jobId: string, onStatus?: (s: JobStatus) => void): Promise<JobStatus[]> {
    const seen: JobStatus[] = [];
    const stream = this.client.watch({ jobId }, metadata(this.token));
    return new Promise((resolve, reject) => {
      stream.on('data', (s: JobStatus) => { seen.push(s); onStatus?.(s); });
      stream.on('error', reject);
      stream.on('end', () => resolve(seen));
    });
  }

  close(): void {
    this.client.close();
  }
}

/** The gRPC status code a call failed with (or 'resolved'). */
export async function codeOf(p: Promise<unknown>): Promise<{ code: number | 'resolved'; details: string }> {
  try {
    await p;
    return { code: 'resolved', details: '' };
  } catch (err) {
    return { code: (err as ServiceError).code, details: (err as ServiceError).details };
  }
}

export const TERMINAL = [JobState.JOB_STATE_DONE, JobState.JOB_STATE_FAILED, JobState.JOB_STATE_CANCELLED];

export async function waitFor<T>(what: string, probe: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs = 20_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
