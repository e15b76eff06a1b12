/** The lineage cluster SDK: connect to a coordinator, submit comparisons, follow them, read reports. */
export { connect, LineageClient } from './client.ts';
export type { ConnectOptions, SubmitInput, SubmitOptions, SubmitResult, TlsOptions } from './client.ts';
export { isTerminal } from './job.ts';
export type { JobInfo, JobStateName } from './job.ts';
export {
  CoordinatorError, DeadlineExceededError, FailedPreconditionError, InvalidArgumentError, JobConflictError,
  JobFailedError, JobNotFoundError, PermissionDeniedError, TamperedDataError, UnauthenticatedError, UnavailableError, UnsupportedError,
} from './errors.ts';
export type { ClusterError, GrpcStatusName } from './errors.ts';
export type { RetryPolicy } from './retry.ts';
export type { ComparisonReport } from '../../../core/src/compare/index.ts';
