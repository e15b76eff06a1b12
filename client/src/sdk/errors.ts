/**
 * The errors of the cluster client: one flat class per thing a caller handles differently,
 * mapped from gRPC status codes, all `LineageError`s so the command line reports them as it
 * reports every other failure. `InvalidArgumentError` is a `BadInputError` (exit status 2):
 * the coordinator refused what the user gave it (a path outside the model roots, a missing
 * model folder, a malformed option), and says which path.
 *
 * Every class carries `grpcStatus` (the gRPC status name), the precise cause; `code` is the
 * nearest of the project-wide codes.
 */
import { status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { BadInputError, LineageError } from '../../../core/src/errors.ts';

export type GrpcStatusName = keyof typeof GrpcStatus;

function statusName(code: number): GrpcStatusName {
  const entry = Object.entries(GrpcStatus).find(([, value]) => value === code);
  return (entry?.[0] ?? 'UNKNOWN') as GrpcStatusName;
}

/** The job id names no job on this coordinator. */
export class JobNotFoundError extends LineageError {
  readonly grpcStatus = 'NOT_FOUND' as const;
  constructor(readonly jobId: string, detail?: string) {
    super('NOT_FOUND', `job ${jobId} not found${detail && !detail.includes(jobId) ? ` (${detail})` : ''}`);
  }
}

/** The coordinator wants a token and got none, or a wrong one. */
export class UnauthenticatedError extends LineageError {
  readonly grpcStatus = 'UNAUTHENTICATED' as const;
  constructor(detail: string, readonly address: string) {
    super('INTERNAL', `coordinator ${address} refused the token: ${detail} (set --token or LINEAGE_TOKEN)`);
  }
}

/** The token is valid but does not allow this. */
export class PermissionDeniedError extends LineageError {
  readonly grpcStatus = 'PERMISSION_DENIED' as const;
  constructor(detail: string) {
    super('INTERNAL', `permission denied: ${detail}`);
  }
}

/**
 * The request was refused as given. The coordinator's message reads "<path>: <reason>";
 * `file` is that path (or `subject`, what the request was about, when the message names none).
 */
export class InvalidArgumentError extends BadInputError {
  readonly grpcStatus: GrpcStatusName;
  constructor(detail: string, subject: string, grpcStatus: GrpcStatusName = 'INVALID_ARGUMENT') {
    const split = /^(.+?): (.+)$/s.exec(detail);
    super(split ? split[1]! : subject, split ? split[2]! : detail);
    this.grpcStatus = grpcStatus;
  }
}

/** The coordinator cannot be reached (down, restarting, wrong address). Retrying may help. */
export class UnavailableError extends LineageError {
  readonly grpcStatus = 'UNAVAILABLE' as const;
  constructor(detail: string, readonly address: string, options: { attempts?: number; cause?: unknown } = {}) {
    const tries = options.attempts && options.attempts > 1 ? ` after ${options.attempts} attempts` : '';
    // grpc-js ends its message with an empty "Resolution note: " when name resolution had nothing to say.
    const said = detail.replace(/\s*Resolution note:\s*$/, '');
    super('INTERNAL', `coordinator ${address} is unreachable${tries}: ${said}`, { retryable: true, cause: options.cause });
  }
}

/** The call ran past its deadline. Retrying may help. */
export class DeadlineExceededError extends LineageError {
  readonly grpcStatus = 'DEADLINE_EXCEEDED' as const;
  constructor(detail: string, readonly address: string) {
    super('INTERNAL', `coordinator ${address} did not answer in time: ${detail}`, { retryable: true });
  }
}

/** The job is not in a state that allows this (e.g. its report before it is done). */
export class FailedPreconditionError extends LineageError {
  readonly grpcStatus = 'FAILED_PRECONDITION' as const;
  constructor(detail: string) {
    super('INTERNAL', detail);
  }
}

/** A job with this id exists with other parameters: an id names one comparison only. */
export class JobConflictError extends LineageError {
  readonly grpcStatus = 'ALREADY_EXISTS' as const;
  constructor(readonly jobId: string, detail: string) {
    super('INTERNAL', `job ${jobId} already exists: ${detail}`);
  }
}

/** The coordinator does not offer this call (an older or newer version). */
export class UnsupportedError extends LineageError {
  readonly grpcStatus = 'UNIMPLEMENTED' as const;
  constructor(detail: string) {
    super('UNSUPPORTED', `the coordinator does not support this: ${detail}`);
  }
}

/** Stored data (a job record, a report) whose MAC did not verify: someone altered it; it was not served. */
export class TamperedDataError extends LineageError {
  readonly grpcStatus = 'DATA_LOSS' as const;
  constructor(detail: string) {
    super('INTERNAL', `the coordinator ${detail.replace(/^refused: /, 'refused stored data that does not verify: ')}`);
  }
}

/** Anything else the coordinator reported; `grpcStatus` says which. */
export class CoordinatorError extends LineageError {
  constructor(readonly grpcStatus: GrpcStatusName, detail: string, options: { retryable?: boolean } = {}) {
    super('INTERNAL', `coordinator error (${grpcStatus}): ${detail}`, options);
  }
}

/** A job that ended without a report: it failed or was cancelled. */
export class JobFailedError extends LineageError {
  constructor(readonly jobId: string, readonly state: 'failed' | 'cancelled', detail: string) {
    super('INTERNAL', `job ${jobId} ${state}${detail ? `: ${detail}` : ''}`);
  }
}

export type ClusterError =
  | JobNotFoundError | UnauthenticatedError | PermissionDeniedError | InvalidArgumentError | UnavailableError
  | DeadlineExceededError | FailedPreconditionError | JobConflictError | UnsupportedError | TamperedDataError | CoordinatorError;

export function isServiceError(err: unknown): err is ServiceError {
  return err instanceof Error && typeof (err as Partial<ServiceError>).code === 'number' && 'details' in err;
}

/** What a failed call was about, so the error can name it. */
export interface CallContext {
  /** The coordinator's address. */
  address: string;
  /** The job the call was about, if any. */
  jobId?: string;
  /** What the request named, for an InvalidArgument whose message names no path. */
  subject?: string;
  /** How many attempts were made (for UNAVAILABLE). */
  attempts?: number;
}

/** The typed error for a gRPC failure. */
export function fromGrpcError(err: ServiceError, context: CallContext): ClusterError {
  const detail = err.details || err.message;
  switch (err.code) {
    case GrpcStatus.NOT_FOUND:
      // On a job id, the job is unknown; on a submission, a model path names nothing.
      return context.jobId !== undefined && context.subject === undefined
        ? new JobNotFoundError(context.jobId, detail)
        : new InvalidArgumentError(detail, context.subject ?? 'request', 'NOT_FOUND');
    case GrpcStatus.UNAUTHENTICATED: return new UnauthenticatedError(detail, context.address);
    case GrpcStatus.PERMISSION_DENIED: return new PermissionDeniedError(detail);
    case GrpcStatus.INVALID_ARGUMENT:
    case GrpcStatus.OUT_OF_RANGE:
      return new InvalidArgumentError(detail, context.subject ?? context.jobId ?? 'request', statusName(err.code));
    case GrpcStatus.UNAVAILABLE: return new UnavailableError(detail, context.address, { attempts: context.attempts, cause: err });
    case GrpcStatus.DEADLINE_EXCEEDED: return new DeadlineExceededError(detail, context.address);
    case GrpcStatus.FAILED_PRECONDITION: return new FailedPreconditionError(detail);
    case GrpcStatus.ALREADY_EXISTS: return new JobConflictError(context.jobId ?? '?', detail);
    case GrpcStatus.UNIMPLEMENTED: return new UnsupportedError(detail);
    case GrpcStatus.DATA_LOSS: return new TamperedDataError(detail);
    case GrpcStatus.RESOURCE_EXHAUSTED:
    case GrpcStatus.ABORTED:
      return new CoordinatorError(statusName(err.code), detail, { retryable: true });
    default: return new CoordinatorError(statusName(err.code), detail);
  }
}
