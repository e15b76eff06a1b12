/**
 * Flat, typed errors (in the manner of nats.js and Temporal's SDK): every failure a user can
 * cause names the file and the reason, and says whether retrying could help.
 *
 * The command line maps `BadInputError` (and `UsageError`) to exit status 2 and everything
 * else to 1.
 */

export type ErrorCode =
  | 'BAD_INPUT'
  | 'USAGE'
  | 'NOT_FOUND'
  | 'UNSUPPORTED'
  | 'READ_FAILED'
  | 'INTERNAL';

export class LineageError extends Error {
  readonly code: ErrorCode;
  /** True when the same operation may succeed later (I/O hiccup, server restart). */
  readonly retryable: boolean;
  constructor(code: ErrorCode, message: string, options: { retryable?: boolean; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

/** Input that cannot be used as given: a file that is missing, truncated, lying or malformed. */
export class BadInputError extends LineageError {
  /** The file (or folder, or URL) at fault. */
  readonly file: string;
  /** What is wrong with it, in one line. */
  readonly reason: string;
  constructor(file: string, reason: string, options: { cause?: unknown } = {}) {
    super('BAD_INPUT', `${file}: ${reason}`, options);
    this.file = file;
    this.reason = reason;
  }
}

/**
 * Bytes that could not be had (EIO, ENOENT, a timeout, a server that kept failing): nothing is
 * known to be wrong with the file's format, so this is not bad input. Retryable: another attempt,
 * or another worker with another mount, may read them. Format faults found in the bytes stay
 * BadInputError.
 */
export class ReadFailedError extends LineageError {
  /** The file (or URL) that could not be read. */
  readonly file: string;
  /** Why, in one line (the system error code where there is one). */
  readonly reason: string;
  constructor(file: string, reason: string, options: { cause?: unknown } = {}) {
    super('READ_FAILED', `${file}: ${reason}`, { ...options, retryable: true });
    this.file = file;
    this.reason = reason;
  }
}

/** A command line that cannot be understood. */
export class UsageError extends LineageError {
  constructor(message: string) {
    super('USAGE', message);
  }
}

/** True for errors the user caused with the input or the command line (exit status 2). */
export function isBadInput(err: unknown): err is BadInputError | UsageError {
  return err instanceof BadInputError || err instanceof UsageError;
}
