/**
 * The readers of code that reads synchronously (the controls, core/src/align and
 * core/src/controls): pread for local files, blocking HTTP Range reads for http(s) files
 * (remote models, http-blocking.ts), chosen per file so one reader serves a comparison of a
 * local model against a remote one.
 *
 * How remote files are read (token, limits, the folder read logs go to) is set for the task
 * that runs (`withRemoteReads`) rather than passed through every control's signature: a thread
 * runs one control task at a time, and each reader takes the settings current when it is made.
 */
import type { HttpReadOptions } from './http-client.ts';
import { isRemoteFile } from './http-client.ts';
import { BlockingHttpReader, blockingHttpBytesRead } from './http-blocking.ts';
import { PreadReader, preadBytesRead } from './pread.ts';
import { ReadFailedError } from '../errors.ts';

export interface BlockingReader {
  /** Fills `target` with bytes [offset, offset + target.length) of `file` (errors as RangeReader.read's). */
  readSync(file: string, offset: number, target: Uint8Array): void;
  /**
   * Several ranges of one file, back to back into `target` (which holds their lengths summed):
   * adjacent ranges are read as one, and a remote reader fetches them all at once (a few thousand
   * token rows are then a few round trips, not a few thousand).
   */
  readRangesSync(file: string, ranges: ByteRange[], target: Uint8Array): void;
  close(): void;
}

export interface ByteRange {
  offset: number;
  length: number;
}

/** Adjacent ranges merged (order kept), so each run is one read. */
export function mergeAdjacent(ranges: ByteRange[]): ByteRange[] {
  const out: ByteRange[] = [];
  for (const r of ranges) {
    const last = out[out.length - 1];
    if (last && last.offset + last.length === r.offset) last.length += r.length;
    else out.push({ ...r });
  }
  return out;
}

let remoteOptions: HttpReadOptions | null = null;

/** Runs `work` with remote files read under `options` (null: URLs are refused, as a worker without --allow-urls does). */
export async function withRemoteReads<T>(options: HttpReadOptions | null, work: () => Promise<T> | T): Promise<T> {
  const before = remoteOptions;
  remoteOptions = options;
  try {
    return await work();
  } finally {
    remoteOptions = before;
  }
}

/** The remote read settings of the task running on this thread (null outside one, or for local models). */
export function remoteReadSettings(): HttpReadOptions | null {
  return remoteOptions;
}

/** Tensor bytes this thread's blocking readers (local and remote) have read so far. */
export function blockingBytesRead(): number {
  return preadBytesRead() + blockingHttpBytesRead();
}

class RoutingBlockingReader implements BlockingReader {
  private readonly local = new PreadReader();
  private remote: BlockingHttpReader | null = null;

  constructor(private readonly options: HttpReadOptions | null) {}

  readSync(file: string, offset: number, target: Uint8Array): void {
    if (!isRemoteFile(file)) return this.local.readSync(file, offset, target);
    this.remoteReader(file).readSync(file, offset, target);
  }

  readRangesSync(file: string, ranges: ByteRange[], target: Uint8Array): void {
    // The remote reader merges near ranges itself (into spans, gaps included).
    if (isRemoteFile(file)) return this.remoteReader(file).readRangesSync(file, ranges, target);
    let at = 0;
    for (const r of mergeAdjacent(ranges)) {
      this.local.readSync(file, r.offset, target.subarray(at, at + r.length));
      at += r.length;
    }
  }

  private remoteReader(file: string): BlockingHttpReader {
    if (!this.options) throw new ReadFailedError(file, 'a remote file, and this task was given no settings to read remote files');
    return (this.remote ??= new BlockingHttpReader(this.options));
  }

  close(): void {
    this.local.close();
    this.remote?.close();
  }
}

/** A reader for the files of one piece of work; close it when done (remote readers then write their logs). */
export function blockingReader(): BlockingReader {
  return new RoutingBlockingReader(remoteOptions);
}
