/**
 * The typed client of a lineage coordinator, in the manner of Temporal's client and nats.js:
 * `connect()` checks the coordinator is there and hands back a client whose calls return plain
 * typed values and throw the flat errors of errors.ts.
 *
 *   const client = await connect({ address: 'coord:7070' });
 *   const { job } = await client.submit({ modelA: '/models/base', modelB: '/models/tuned' });
 *   for await (const status of client.watch(job.jobId)) console.log(status.state, status.tasksDone);
 *   const report = await client.report(job.jobId);
 *   await client.close();
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  credentials, Metadata, status as GrpcStatus,
  type CallOptions, type ChannelCredentials, type ClientUnaryCall, type ServiceError,
} from '@grpc/grpc-js';
import type { ComparisonReport } from '../../../core/src/compare/index.ts';
import { LineageError } from '../../../core/src/errors.ts';
import { JobsClient, type JobStatus, type ReportPiece } from '../../../proto/lineage/v1/lineage.ts';
import {
  fromGrpcError, isServiceError, JobFailedError, UnavailableError, type CallContext,
} from './errors.ts';
import { isTerminal, jobInfo, type JobInfo } from './job.ts';
import { backoffDelay, DEFAULT_RETRY, withRetry, type RetryPolicy } from './retry.ts';

export interface TlsOptions {
  /** PEM of the CA that signed the coordinator's certificate (default: the system's roots). */
  ca?: Buffer | string;
  /** Client certificate and key, for a coordinator that asks for mutual TLS. */
  cert?: Buffer | string;
  key?: Buffer | string;
}

export interface ConnectOptions {
  /** HOST:PORT of the coordinator's gRPC endpoint. */
  address: string;
  /** Sent as `authorization: Bearer <token>`; default `LINEAGE_TOKEN` from the environment. */
  token?: string;
  /** TLS to the coordinator (default: plaintext, as on a private network). */
  tls?: boolean | TlsOptions;
  /** How long `connect` waits for the coordinator (default 5 s). */
  connectTimeoutMs?: number;
  /** Deadline of each unary call (default 60 s). */
  callTimeoutMs?: number;
  /** Retries of unary calls on UNAVAILABLE (default 5 attempts, 0.2 s doubling to 3 s). */
  retry?: Partial<RetryPolicy>;
  /**
   * Reopenings of a progress stream the coordinator dropped, in a row (default 15 attempts,
   * 0.2 s doubling to 3 s: about 35 s, long enough for a coordinator to restart).
   */
  watchRetry?: Partial<RetryPolicy>;
}

export interface SubmitOptions {
  /** "xxh3-128" (default) or "sha256". */
  hash?: string;
  /** "auto" (default), "wasm-simd", "js" or "gpu.js". */
  kernel?: string;
  /** Pack tasks up to this many bytes (default: the coordinator's). */
  targetTaskBytes?: number;
  /** Sampled mode: the fraction of each large tensor to read, the seed of the draw, the intervals' confidence. */
  sample?: number;
  seed?: number;
  confidence?: number;
}

export interface SubmitInput {
  /** Model folders (or URLs), as the coordinator and its workers see them. */
  modelA: string;
  modelB: string;
  /** Chosen by the caller so a repeated submission finds the same job; a fresh UUID when absent. */
  jobId?: string;
  options?: SubmitOptions;
}

export interface SubmitResult {
  job: JobInfo;
  /** False when a job with this id already existed (the submission was a repeat). */
  created: boolean;
}

const MAX_MESSAGE_BYTES = 512 * 1024 * 1024; // a report of ~20k tensors runs to tens of MB; gRPC's default is 4 MB

type Unary<Req, Res> = (
  request: Req, metadata: Metadata, options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response: Res) => void,
) => ClientUnaryCall;

function channelCredentials(tls: ConnectOptions['tls']): ChannelCredentials {
  if (!tls) return credentials.createInsecure();
  const pem = (x: Buffer | string | undefined) => (x === undefined ? null : Buffer.from(x));
  const o = tls === true ? {} : tls;
  return credentials.createSsl(pem(o.ca), pem(o.key), pem(o.cert));
}

/** Connects to the coordinator at `options.address`; throws UnavailableError if it does not answer. */
export async function connect(options: ConnectOptions): Promise<LineageClient> {
  const client = new LineageClient(options);
  await client.ready(options.connectTimeoutMs ?? 5000);
  return client;
}

export class LineageClient {
  readonly address: string;
  private readonly grpc: JobsClient;
  private readonly token: string | undefined;
  private readonly retry: RetryPolicy;
  private readonly watchRetry: RetryPolicy;
  private readonly callTimeoutMs: number;
  private readonly tls: boolean;

  /** Use `connect()`, which also checks that the coordinator answers. */
  constructor(options: ConnectOptions) {
    this.address = options.address;
    this.token = options.token ?? (process.env.LINEAGE_TOKEN || undefined);
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.watchRetry = { ...DEFAULT_RETRY, attempts: 15, ...options.watchRetry };
    this.callTimeoutMs = options.callTimeoutMs ?? 60_000;
    this.tls = Boolean(options.tls);
    this.grpc = new JobsClient(options.address, channelCredentials(options.tls), {
      'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
      'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
    });
  }

  /** Resolves once the channel is connected; UnavailableError after `timeoutMs`. */
  ready(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.grpc.waitForReady(Date.now() + timeoutMs, (err) => {
        if (!err) return resolve();
        // gRPC says no more than "not ready"; a failed TLS handshake looks the same as no server.
        const hint = this.tls ? ' (with TLS: does the coordinator serve TLS, with a certificate for this name signed by the CA given?)' : '';
        reject(new UnavailableError(`no connection within ${(timeoutMs / 1000).toFixed(1)} s${hint}`, this.address, { cause: err }));
      });
    });
  }

  /** Submits a comparison. Repeating it with the same `jobId` returns the existing job (`created: false`). */
  async submit(input: SubmitInput): Promise<SubmitResult> {
    const jobId = input.jobId ?? randomUUID();
    const o = input.options ?? {};
    const response = await this.unary(this.grpc.submit, {
      jobId, modelA: input.modelA, modelB: input.modelB,
      options: { hash: o.hash ?? '', kernel: o.kernel ?? '', targetTaskBytes: o.targetTaskBytes ?? 0, sample: o.sample ?? 0, seed: o.seed ?? 0, confidence: o.confidence ?? 0 },
    }, { jobId, subject: `job ${jobId}` });
    if (!response.job) throw new LineageError('INTERNAL', `coordinator ${this.address} answered Submit without the job`);
    return { job: jobInfo(response.job), created: response.created };
  }

  /**
   * The job's statuses as they change, ending with its terminal one (done, failed, cancelled).
   * When the coordinator goes away mid-stream (a restart), the stream is reopened, a bounded
   * number of times in a row; leaving the loop early closes the stream.
   */
  async *watch(jobId: string): AsyncGenerator<JobInfo, void, undefined> {
    let failures = 0;
    for (;;) {
      const call = this.grpc.watch({ jobId }, this.metadata());
      // Cancelling an open stream makes it emit a CANCELLED error nobody is waiting for any more.
      call.on('error', () => {});
      let lastError: unknown = null;
      try {
        for await (const status of call as AsyncIterable<JobStatus>) {
          failures = 0;
          const info = jobInfo(status);
          yield info;
          if (isTerminal(info.state)) return;
        }
      } catch (err) {
        // UNAVAILABLE: the connection went; CANCELLED (we cancel only after leaving the loop): the
        // coordinator cut the stream as it shut down. Either way another coordinator may answer.
        if (!isServiceError(err) || (err.code !== GrpcStatus.UNAVAILABLE && err.code !== GrpcStatus.CANCELLED)) throw this.typed(err, { jobId });
        lastError = err;
      } finally {
        call.cancel();
      }
      failures++;
      if (failures >= this.watchRetry.attempts) {
        const why = lastError ? (lastError as ServiceError).details : 'the progress stream ended before the job did';
        throw new UnavailableError(why, this.address, { attempts: failures, cause: lastError ?? undefined });
      }
      await sleep(backoffDelay(this.watchRetry, failures));
    }
  }

  /** One status of the job, now. */
  async status(jobId: string): Promise<JobInfo> {
    for await (const info of this.watch(jobId)) return info;
    throw new UnavailableError('the progress stream ended without a status', this.address);
  }

  /** The report of a finished job, as `lineage compare --json` gives it. */
  async report(jobId: string): Promise<ComparisonReport> {
    const bytes = await this.reportBytes(jobId);
    try {
      return JSON.parse(bytes.toString('utf8')) as ComparisonReport;
    } catch (err) {
      throw new LineageError('INTERNAL', `coordinator ${this.address} sent a report for job ${jobId} that is not JSON: ${(err as Error).message}`);
    }
  }

  /**
   * Waits for the job to end and returns its report; `onStatus` sees every status on the way.
   * Throws JobFailedError when the job failed or was cancelled.
   */
  async result(jobId: string, onStatus?: (status: JobInfo) => void): Promise<ComparisonReport> {
    let last: JobInfo | null = null;
    for await (const status of this.watch(jobId)) {
      last = status;
      onStatus?.(status);
    }
    if (last && (last.state === 'failed' || last.state === 'cancelled')) throw new JobFailedError(jobId, last.state, last.error ?? '');
    return this.report(jobId);
  }

  /** Cancels a queued or running job; returns its status after the cancellation. */
  async cancel(jobId: string): Promise<JobInfo> {
    const response = await this.unary(this.grpc.cancel, { jobId }, { jobId });
    if (!response.job) throw new LineageError('INTERNAL', `coordinator ${this.address} answered Cancel without the job`);
    return jobInfo(response.job);
  }

  /**
   * Deletes a job: its record, report and messages (cancelling it first if it runs); returns its
   * last status. A job whose stored record the coordinator refused (tampered) is deleted too.
   */
  async delete(jobId: string): Promise<JobInfo> {
    const response = await this.unary(this.grpc.delete, { jobId }, { jobId });
    if (!response.job) throw new LineageError('INTERNAL', `coordinator ${this.address} answered Delete without the job`);
    return jobInfo(response.job);
  }

  /** Every job the coordinator knows. */
  async list(): Promise<JobInfo[]> {
    const response = await this.unary(this.grpc.listJobs, {}, {});
    return response.jobs.map(jobInfo);
  }

  async close(): Promise<void> {
    this.grpc.close();
  }

  private metadata(): Metadata {
    const metadata = new Metadata();
    if (this.token) metadata.set('authorization', `Bearer ${this.token}`);
    return metadata;
  }

  private typed(err: unknown, context: Omit<CallContext, 'address'>): unknown {
    return isServiceError(err) ? fromGrpcError(err, { ...context, address: this.address }) : err;
  }

  /**
   * The report's bytes, streamed in pieces (ReadReport), with the unary calls' deadline and
   * retries; from a coordinator that predates ReadReport, in one GetReport answer.
   */
  private async reportBytes(jobId: string): Promise<Buffer> {
    try {
      return await withRetry(
        this.retry,
        async () => {
          const call = this.grpc.readReport({ jobId }, this.metadata(), { deadline: Date.now() + this.callTimeoutMs });
          const pieces: Buffer[] = [];
          try {
            for await (const piece of call as AsyncIterable<ReportPiece>) pieces.push(Buffer.from(piece.data.buffer, piece.data.byteOffset, piece.data.byteLength));
          } finally {
            call.cancel();
          }
          return Buffer.concat(pieces);
        },
        (err) => isServiceError(err) && err.code === GrpcStatus.UNAVAILABLE,
        (err, attempts) => (unimplemented(err) ? err : this.typed(err, { jobId, attempts })),
      );
    } catch (err) {
      if (!unimplemented(err)) throw err;
    }
    const response = await this.unary(this.grpc.getReport, { jobId }, { jobId });
    return Buffer.from(response.reportJson.buffer, response.reportJson.byteOffset, response.reportJson.byteLength);
  }

  /** A unary call with the token, a deadline, and retries while the coordinator is unavailable. */
  private unary<Req, Res>(method: Unary<Req, Res>, request: Req, context: Omit<CallContext, 'address' | 'attempts'>): Promise<Res> {
    return withRetry(
      this.retry,
      () => new Promise<Res>((resolve, reject) => {
        method.call(this.grpc, request, this.metadata(), { deadline: Date.now() + this.callTimeoutMs }, (err, response) => {
          if (err) reject(err);
          else resolve(response);
        });
      }),
      (err) => isServiceError(err) && err.code === GrpcStatus.UNAVAILABLE,
      (err, attempts) => this.typed(err, { ...context, attempts }),
    );
  }
}

function unimplemented(err: unknown): boolean {
  return isServiceError(err) && err.code === GrpcStatus.UNIMPLEMENTED;
}
