/** The gRPC Jobs service: every call checks the token, then hands over to the job manager. */
import type { Metadata, sendUnaryData, ServerUnaryCall, ServerWritableStream } from '@grpc/grpc-js';
import type { JobsServer, JobStatus, WatchRequest } from '../../proto/lineage/v1/lineage.ts';
import type { JobManager } from './jobs.ts';
import { toServiceError } from './rpc-error.ts';

function unary<Req, Res>(checkToken: (m: Metadata) => void, handle: (request: Req) => Promise<Res>) {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    (async () => {
      checkToken(call.metadata);
      return handle(call.request);
    })().then(
      (response) => callback(null, response),
      (err) => callback(toServiceError(err)),
    );
  };
}

export function jobsService(jobs: JobManager, checkToken: (m: Metadata) => void): JobsServer {
  return {
    submit: unary(checkToken, (r) => jobs.submit(r)),
    getReport: unary(checkToken, async (r) => ({ reportJson: await jobs.report(r.jobId) })),
    cancel: unary(checkToken, async (r) => ({ job: await jobs.cancel(r.jobId) })),
    listJobs: unary(checkToken, async () => ({ jobs: await jobs.list() })),
    delete: unary(checkToken, async (r) => ({ job: await jobs.delete(r.jobId) })),
    watch: (call: ServerWritableStream<WatchRequest, JobStatus>) => {
      let unsubscribe: (() => void) | null = null;
      let ended = false;
      const end = () => {
        if (ended) return;
        ended = true;
        unsubscribe?.();
        call.end();
      };
      call.on('cancelled', () => {
        ended = true;
        unsubscribe?.();
      });
      (async () => {
        checkToken(call.metadata);
        unsubscribe = await jobs.watch(call.request.jobId, (s) => { if (!ended) call.write(s); }, end);
        if (ended) unsubscribe();
      })().catch((err) => {
        if (ended) return;
        ended = true;
        // grpc-js turns an 'error' event on a server stream into the call's status.
        call.emit('error', toServiceError(err));
      });
    },
  };
}
