/**
 * One RangeReader for plans that mix local and remote files: http(s):// names go to the HTTP
 * reader, everything else to the local one (pread or mmap). It has no readSync, so the task loop
 * always overlaps reads with computing, which remote reads need.
 */
import { HttpRangeReader, isRemoteFile, type HttpReadOptions } from './http.ts';
import type { ReadLog } from './read-log.ts';
import type { RangeReader } from './reader.ts';

export class RoutingReader implements RangeReader {
  readonly kind: string;
  private http: HttpRangeReader | null = null;

  constructor(private readonly local: RangeReader, private readonly httpOptions: HttpReadOptions = {}) {
    this.kind = `${local.kind}+http`;
  }

  read(file: string, offset: number, target: Uint8Array): Promise<void> {
    return isRemoteFile(file) ? this.remote().read(file, offset, target) : this.local.read(file, offset, target);
  }

  /** The remote reads since the last drain (empty when none were made). */
  drainLog(): ReadLog | null {
    return this.http?.drainLog() ?? null;
  }

  /** See HttpRangeReader.forgetFetched. */
  forgetFetched(): void {
    this.http?.forgetFetched();
  }

  close(): void {
    this.local.close();
    this.http?.close();
  }

  private remote(): HttpRangeReader {
    return (this.http ??= new HttpRangeReader(this.httpOptions));
  }
}
