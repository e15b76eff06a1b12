/**
 * Range readers: pread (the default, fastest for streaming) and mmap (mapped windows copied into
 * the caller's buffer). Both fill the caller's buffer and name the file in the error when a read
 * cannot be served: BadInputError for a file that ends early, ReadFailedError when the system
 * refused the open or the read.
 */
import { UsageError } from '../errors.ts';
import { MmapReader } from './mmap.ts';
import { PreadReader } from './pread.ts';
import type { RangeReader, ReaderKind } from './reader.ts';

export type { RangeReader, ReaderKind } from './reader.ts';
export { PreadReader } from './pread.ts';
export { MmapReader, mmapAvailable, type MmapReaderOptions } from './mmap.ts';
export type { HttpReadOptions } from './http.ts';
export type { UrlStats } from './http-client.ts';
// The read logs of remote models (what was fetched, with SHA-256s), and their form in a task result.
export { mergeRanges, mergeReadLogs, readLogsIn, type FetchedRun, type ReadLog } from './read-log.ts';
export { decodeReadLog, encodeReadLog } from './read-log-wire.ts';

/**
 * A reader of the given kind. 'mmap' throws a LineageError with code UNSUPPORTED, giving the
 * reason, where the patched mmap-io module is not built (see `mmapAvailable`).
 */
export function createReader(kind: ReaderKind): RangeReader {
  switch (kind) {
    case 'pread':
      return new PreadReader();
    case 'mmap':
      return new MmapReader();
    default:
      throw new UsageError(`unknown reader '${kind as string}': expected pread or mmap`);
  }
}
