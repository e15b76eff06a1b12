/** The gRPC Jobs service: every call checks the token, then hands over to the job manager. */
import type { Metadata, sendUnaryData, ServerUnaryCall, ServerWritableStream } from '@grpc/grpc-js';
import type { GetReportRequest, JobsServer, JobStatus, ReportPiece, WatchRequest } from '../../proto/lineage/v1/lineage.ts';
import type { JobManager } from './jobs.ts';
import { toServiceError } from './rpc-error.ts';

/** The largest piece of a report ReadReport sends (as its proto says). */
export const REPORT_PIECE_BYTES = 1024 * 1024;

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
    // The stored bytes as they are: decoded and encoded back, ~21 MB held the event loop ~0.1 s.
    getReport: unary(checkToken, async (r) => ({ reportJson: await jobs.report(r.jobId) })),
    // The same bytes in pieces, each written once the stream has room for it: serialising and
    // framing one ~21 MB message cost three copies of it in one turn of the event loop.
    readReport: (call: ServerWritableStream<GetReportRequest, ReportPiece>) => {
      (async () => {
        checkToken(call.metadata);
        const bytes = await jobs.report(call.request.jobId);
        for (let at = 0; at < bytes.length; at += REPORT_PIECE_BYTES) {
          if (call.cancelled) return;
          if (!call.write({ data: bytes.subarray(at, at + REPORT_PIECE_BYTES) })) await roomOrGone(call);
        }
        if (!call.cancelled) call.end();
      })().catch((err) => {
        if (!call.cancelled) call.emit('error', toServiceError(err));
      });
    },
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

/** Once a stream that refused a write drains, or its client is gone (it will not drain then). */
function roomOrGone(call: ServerWritableStream<unknown, unknown>): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      call.off('drain', done);
      call.off('cancelled', done);
      resolve();
    };
    call.on('drain', done);
    call.on('cancelled', done);
  });
}
