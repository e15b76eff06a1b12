/**
 * Where tensor bytes come from. Every read names an absolute byte range of one file; the
 * implementations differ in how they fetch it (pread into a reused buffer, a mapped window, an
 * HTTP Range request) but all fill the caller's buffer, which for the WASM kernel lies in the
 * kernel's own memory.
 */
export type ReaderKind = 'pread' | 'mmap';

export interface RangeReader {
  readonly kind: ReaderKind | string;
  /**
   * Fills `target` with bytes [offset, offset + target.length) of `file`. Throws BadInputError
   * for a fault in the file itself (it ends early), ReadFailedError when the bytes could not be
   * had (open or read refused, a server that kept failing): that one is retryable elsewhere.
   */
  read(file: string, offset: number, target: Uint8Array): Promise<void>;
  /** The same, blocking this thread: cheaper per call when every core is busy computing anyway. */
  readSync?(file: string, offset: number, target: Uint8Array): void;
  /** Releases file handles and mappings. */
  close(): void;
}
