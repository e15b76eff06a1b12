/**
 * A system error while opening or reading a local file (ENOENT, EIO, ESTALE, ...), as a
 * ReadFailedError naming the file and the error code: retryable, and not bad input, since nothing
 * was found wrong in the bytes.
 */
import { ReadFailedError } from '../errors.ts';

export function readFailed(file: string, what: 'open' | 'read' | 'map', err: unknown): ReadFailedError {
  const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  return new ReadFailedError(file, `cannot ${what}: ${code}`, { cause: err });
}
