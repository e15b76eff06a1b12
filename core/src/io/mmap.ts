/**
 * Reads through memory-mapped windows of the file and copies into the caller's buffer (which for
 * the WASM kernel lies in the kernel's memory, so the mapping cannot be handed over as is).
 *
 * Uses mmap-io as patched by scripts/patch-mmap-io.mjs: upstream truncates sizes and offsets to
 * 32 bits (wrong bytes above 4 GiB), and releases a mapping only when its Buffer is collected, so
 * streaming a 5 GB shard would keep every window resident. The patch adds `unmap`, and this
 * reader keeps at most `maxWindows` windows of `windowBytes` each mapped: memory stays bounded by
 * their product however much is streamed.
 *
 * With 16 MiB windows it streams a cached file about as fast as pread (5-8 GB/s on this 2-core
 * VM; bench/readers.ts), but pays page faults and an unmap per window and one more failure mode,
 * so it is the alternative, not the default. A file truncated by someone else while mapped
 * raises SIGBUS; shards are written once, so that is not guarded against.
 */
import { closeSync, fstatSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import { BadInputError, LineageError } from '../errors.ts';
import { readFailed } from './read-failed.ts';
import type { RangeReader } from './reader.ts';

/** The part of the (patched) mmap-io module this reader uses. */
interface MmapIo {
  readonly PROT_READ: number;
  readonly MAP_SHARED: number;
  readonly PAGESIZE: number;
  /** Patch level stamped by scripts/patch-mmap-io.mjs; absent on an upstream build. */
  readonly LINEAGE_PATCH?: number;
  map(size: number, protection: number, flags: number, fd: number, offset?: number, advise?: number): Buffer;
  unmap?(buffer: Buffer): void;
}

const REQUIRED_PATCH_LEVEL = 1;
const REBUILD_HINT = 'rebuild it with `node scripts/patch-mmap-io.mjs`';

let module_: { ok: true; mmap: MmapIo } | { ok: false; reason: string } | undefined;

function loadMmapIo(): { ok: true; mmap: MmapIo } | { ok: false; reason: string } {
  if (module_ !== undefined) return module_;
  let mmap: MmapIo;
  try {
    mmap = createRequire(import.meta.url)('mmap-io') as MmapIo;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const detail = (err as Error).message.split('\n')[0];
    if (code === 'MODULE_NOT_FOUND' && /'mmap-io'/.test(detail)) {
      module_ = { ok: false, reason: 'the optional mmap-io package is not installed' };
    } else if (code === 'MODULE_NOT_FOUND' && /build\/Release/.test(detail)) {
      module_ = { ok: false, reason: `mmap-io's native module was not built (the install-time build failed or was skipped); ${REBUILD_HINT}` };
    } else {
      module_ = { ok: false, reason: `mmap-io's native module cannot be loaded (${detail}); ${REBUILD_HINT}` };
    }
    return module_;
  }
  if (mmap.LINEAGE_PATCH === undefined || typeof mmap.unmap !== 'function') {
    module_ = { ok: false, reason: `mmap-io is the unpatched upstream build, which truncates offsets and sizes to 32 bits; ${REBUILD_HINT}` };
  } else if (mmap.LINEAGE_PATCH !== REQUIRED_PATCH_LEVEL) {
    module_ = { ok: false, reason: `mmap-io carries patch level ${mmap.LINEAGE_PATCH}, expected ${REQUIRED_PATCH_LEVEL}; ${REBUILD_HINT}` };
  } else {
    module_ = { ok: true, mmap };
  }
  return module_;
}

/** Whether the mmap reader can be used here, and if not, why. */
export function mmapAvailable(): { ok: boolean; reason?: string } {
  const loaded = loadMmapIo();
  return loaded.ok ? { ok: true } : { ok: false, reason: loaded.reason };
}

export interface MmapReaderOptions {
  /** Bytes per mapped window, a multiple of the page size. */
  windowBytes?: number;
  /** Windows kept mapped at once; two let a read straddle a window edge without remapping. */
  maxWindows?: number;
}

/** Bounded like pread's descriptors: tasks touch a few shards at a time. */
const MAX_OPEN = 16;
/**
 * Streaming a cached 1 GiB file here: 8 to 16 MiB windows ran as fast as pread (~8 GB/s),
 * 64 MiB ones ~30% slower, 4 MiB ones a little slower.
 */
const DEFAULT_WINDOW_BYTES = 16 * 1024 * 1024;
const DEFAULT_MAX_WINDOWS = 2;

interface OpenFile {
  fd: number;
  size: number;
}

interface Window {
  file: string;
  start: number;
  bytes: Buffer;
}

export class MmapReader implements RangeReader {
  readonly kind = 'mmap';
  readonly windowBytes: number;
  readonly maxWindows: number;
  private readonly mmap: MmapIo;
  private readonly files = new Map<string, OpenFile>();
  /** Most recently used last. */
  private windows: Window[] = [];

  constructor(options: MmapReaderOptions = {}) {
    const loaded = loadMmapIo();
    if (!loaded.ok) throw new LineageError('UNSUPPORTED', `mmap reader unavailable: ${loaded.reason}`);
    this.mmap = loaded.mmap;
    this.windowBytes = options.windowBytes ?? DEFAULT_WINDOW_BYTES;
    this.maxWindows = options.maxWindows ?? DEFAULT_MAX_WINDOWS;
    if (!Number.isSafeInteger(this.windowBytes) || this.windowBytes <= 0 || this.windowBytes % this.mmap.PAGESIZE !== 0) {
      throw new RangeError(`windowBytes must be a positive multiple of the page size (${this.mmap.PAGESIZE}), got ${this.windowBytes}`);
    }
    if (!Number.isSafeInteger(this.maxWindows) || this.maxWindows < 1) {
      throw new RangeError(`maxWindows must be a positive integer, got ${this.maxWindows}`);
    }
  }

  async read(file: string, offset: number, target: Uint8Array): Promise<void> {
    this.readSync(file, offset, target);
  }

  readSync(file: string, offset: number, target: Uint8Array): void {
    if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`offset must be a non-negative safe integer, got ${offset}`);
    const handle = this.open(file);
    const end = offset + target.length;
    if (target.length > 0 && end > handle.size) {
      throw new BadInputError(file, `truncated: wanted bytes [${offset}, ${end}) but the file ends at ${handle.size}`);
    }
    let done = 0;
    while (done < target.length) {
      const position = offset + done;
      const window = this.windowAt(file, handle, position);
      const from = position - window.start;
      const count = Math.min(target.length - done, window.bytes.length - from);
      target.set(window.bytes.subarray(from, from + count), done);
      done += count;
    }
  }

  /** The mapped window holding byte `position`, mapping it (and unmapping the oldest) if needed. */
  private windowAt(file: string, handle: OpenFile, position: number): Window {
    const index = this.windows.findIndex((w) => w.file === file && position >= w.start && position < w.start + w.bytes.length);
    if (index >= 0) {
      const window = this.windows[index];
      if (index !== this.windows.length - 1) {
        this.windows.splice(index, 1);
        this.windows.push(window);
      }
      return window;
    }
    // Windows sit on a fixed grid so that a sequential stream maps each region once.
    const start = Math.floor(position / this.windowBytes) * this.windowBytes;
    const length = Math.min(this.windowBytes, handle.size - start);
    if (this.windows.length >= this.maxWindows) this.unmap(this.windows.shift()!);
    let bytes: Buffer;
    try {
      // No advice or MAP_POPULATE: neither streamed a cached file measurably faster here, and
      // populating would fault in a whole window for one small read.
      bytes = this.mmap.map(length, this.mmap.PROT_READ, this.mmap.MAP_SHARED, handle.fd, start);
    } catch (err) {
      throw readFailed(file, 'map', err);
    }
    const window = { file, start, bytes };
    this.windows.push(window);
    return window;
  }

  private unmap(window: Window): void {
    this.mmap.unmap!(window.bytes);
  }

  private open(file: string): OpenFile {
    let handle = this.files.get(file);
    if (handle !== undefined) {
      this.files.delete(file);
      this.files.set(file, handle);
      return handle;
    }
    if (this.files.size >= MAX_OPEN) {
      // A mapping outlives its descriptor, so the file's windows may stay.
      const [oldest, old] = this.files.entries().next().value as [string, OpenFile];
      closeSync(old.fd);
      this.files.delete(oldest);
    }
    let fd: number;
    try {
      fd = openSync(file, 'r');
    } catch (err) {
      throw readFailed(file, 'open', err);
    }
    const stat = fstatSync(fd);
    if (!stat.isFile()) {
      closeSync(fd);
      throw new BadInputError(file, 'not a regular file, so it cannot be mapped');
    }
    handle = { fd, size: stat.size };
    this.files.set(file, handle);
    return handle;
  }

  close(): void {
    for (const window of this.windows) this.unmap(window);
    this.windows = [];
    for (const handle of this.files.values()) closeSync(handle.fd);
    this.files.clear();
  }
}
