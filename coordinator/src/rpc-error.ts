/** An error with the gRPC status it should reach the client with. */
import { status } from '@grpc/grpc-js';
import { isBadInput } from '../../core/src/errors.ts';
import { UntrustedDataError } from '../../proto/signed.ts';
import { PathRefusedError } from '../../service/src/index.ts';

export class RpcError extends Error {
  constructor(readonly code: status, message: string) {
    super(message);
    this.name = 'RpcError';
  }
}

/** The status a failure reaches the client with: bad input is the caller's, the rest is ours. */
export function toServiceError(err: unknown): { code: status; details: string } {
  if (err instanceof RpcError) return { code: err.code, details: err.message };
  if (isBadInput(err)) return { code: status.INVALID_ARGUMENT, details: err.message };
  if (err instanceof PathRefusedError) return { code: err.kind === 'outside' ? status.PERMISSION_DENIED : status.INVALID_ARGUMENT, details: err.message };
  // A stored record or report that does not verify: said as such, never served.
  if (err instanceof UntrustedDataError) return { code: status.DATA_LOSS, details: `refused: ${err.message}` };
  if (process.env.LINEAGE_DEBUG) console.error(err);
  return { code: status.INTERNAL, details: `internal error: ${(err as Error)?.message ?? String(err)}` };
}
