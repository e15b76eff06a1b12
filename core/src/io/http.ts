/**
 * A RangeReader for http(s):// files: each read is one Range request (several in parallel for
 * long reads), whole small tensors lying next to each other are fetched together, and every
 * fetched byte is hashed (SHA-256) and logged with the ranges the analysis used.
 *
 * A file is named by its URL, optionally with a pin in the fragment
 * (`URL#lineage-size=N&lineage-etag=E`, written when the checkpoint was opened; fragments are
 * never sent over HTTP). The pin travels inside the plan's TensorRefs, so any executor (threads
 * here, cluster workers) holds the file to the version whose header was checked, and a file that
 * changes during the job fails its tensors with a note instead of mixing two versions.
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { checkHeaderLength, parseSafetensorsHeader, type SafetensorsEntry, type SafetensorsHeader } from '../checkpoint/safetensors.ts';
import { BadInputError, ReadFailedError } from '../errors.ts';
import { HttpClient, RemoteContentChangedError, type HttpReadOptions, type RemotePin } from './http-client.ts';
import { ReadRecorder, type ReadLog } from './read-log.ts';
import type { RangeReader } from './reader.ts';

export { HttpClient, RemoteContentChangedError, isRemoteFile, type HttpReadOptions, type RemotePin } from './http-client.ts';
export type { ReadLog, FetchedRun } from './read-log.ts';

/** A pin held by reference, so that parallel parts of one read agree on the version they saw first. */
export interface PinHolder {
  current: RemotePin | null;
}

/** The file name a TensorRef carries for a pinned remote file. */
export function pinnedFile(url: string, pin: RemotePin): string {
  const etag = pin.etag === null ? '' : `&lineage-etag=${encodeURIComponent(pin.etag)}`;
  return `${url}#lineage-size=${pin.size}${etag}`;
}

/** The URL to request and the pin, if the name carries one. */
export function splitPinnedFile(file: string): { url: string; pin: RemotePin | null } {
  const at = file.indexOf('#');
  if (at < 0) return { url: file, pin: null };
  const url = file.slice(0, at);
  const params = new URLSearchParams(file.slice(at + 1));
  const size = Number(params.get('lineage-size'));
  if (!params.has('lineage-size') || !Number.isSafeInteger(size)) return { url, pin: null };
  return { url, pin: { size, etag: params.get('lineage-etag') } };
}

/** First bytes asked for when opening a shard: the length and, nearly always, the whole header. */
const HEADER_PROBE_BYTES = 64 * 1024;

/**
 * Reads and checks a remote safetensors header with one or two Range requests, exactly as a
 * local one is checked. `fetched` is told of every byte received (for the read log).
 */
export async function readRemoteSafetensorsHeader(
  client: HttpClient, url: string, pin: PinHolder, fetched?: (start: number, bytes: Uint8Array) => void,
): Promise<{ header: SafetensorsHeader; commit: string | null }> {
  const probe = new Uint8Array(HEADER_PROBE_BYTES);
  const first = await client.range(url, 0, probe, { pin, allowShort: true });
  fetched?.(0, probe.subarray(0, first.received));
  if (first.size < 8) throw new BadInputError(url, `truncated: ${first.size} bytes, shorter than the 8-byte header length`);
  const length = checkHeaderLength(url, first.size, probe.subarray(0, 8));
  let json: Uint8Array;
  if (8 + length <= first.received) {
    json = probe.subarray(8, 8 + length);
  } else {
    const whole = new Uint8Array(8 + length);
    whole.set(probe.subarray(0, first.received));
    const rest = whole.subarray(first.received);
    await client.range(url, first.received, rest, { pin });
    fetched?.(first.received, rest);
    json = whole.subarray(8);
  }
  const text = Buffer.from(json.buffer, json.byteOffset, json.byteLength).toString('utf8');
  return { header: parseSafetensorsHeader(url, first.size, 8 + length, text), commit: first.commit };
}

/** `model.layers.3.` for `model.layers.3.mlp.up_proj.weight`: the layer a tensor belongs to, or null outside layers. */
function layerOf(name: string): string | null {
  return /^(.*?\.\d+\.)/.exec(name)?.[1] ?? null;
}

/** Coalesced blocks kept for the reads that follow (small tensors of the same layer). */
const MAX_BLOCKS = 4;

export class HttpRangeReader implements RangeReader {
  readonly kind = 'http';
  private readonly client: HttpClient;
  private readonly recorder = new ReadRecorder();
  private readonly pins = new Map<string, PinHolder>();
  private readonly layouts = new Map<string, Promise<SafetensorsEntry[] | null>>();
  /** Per URL, the tensors (indexes in file order) this reader has read or fetched ahead: never fetched ahead again. */
  private readonly touched = new Map<string, Set<number>>();
  private blocks: { url: string; start: number; bytes: Uint8Array }[] = [];
  private readonly partBytes: number;
  private readonly coalesceBytes: number;

  constructor(private readonly options: HttpReadOptions = {}) {
    this.client = new HttpClient(options);
    this.partBytes = Math.max(64 * 1024, options.partBytes ?? 4 * 1024 * 1024);
    this.coalesceBytes = options.coalesceBytes ?? 1024 * 1024;
  }

  async read(file: string, offset: number, target: Uint8Array): Promise<void> {
    const { url, pin } = splitPinnedFile(file);
    if (target.length === 0) return;
    const holder = this.pinOf(url, pin);
    try {
      if (!this.fromBlock(url, offset, target)) {
        const end = this.coalesceBytes > 0 && target.length < this.coalesceBytes ? await this.coalescedEnd(url, holder, offset, target.length) : offset + target.length;
        if (end > offset + target.length) {
          const block = new Uint8Array(end - offset);
          await this.fetchInto(url, holder, offset, block);
          this.blocks.push({ url, start: offset, bytes: block });
          if (this.blocks.length > MAX_BLOCKS) this.blocks.shift();
          target.set(block.subarray(0, target.length));
        } else {
          await this.fetchInto(url, holder, offset, target);
        }
      }
      this.recorder.servedRange(url, offset, offset + target.length);
    } catch (err) {
      if (err instanceof RemoteContentChangedError) this.recorder.changed(url, err.reason);
      else if (err instanceof BadInputError || err instanceof ReadFailedError) this.recorder.failed(url, err.reason);
      throw err;
    }
  }

  /** Bytes [offset, offset + length) of `file` were handed to this reader's caller from bytes another reader fetched (a helper thread's kept spans). */
  servedElsewhere(file: string, offset: number, length: number): void {
    if (length > 0) this.recorder.servedRange(splitPinnedFile(file).url, offset, offset + length);
  }

  /** Forgets the blocks fetched ahead (and which tensors were): a worker's reader starting on another job's tasks, whose log must hold every byte that job used. */
  forgetFetched(): void {
    this.blocks = [];
    this.touched.clear();
  }

  /** The log since the last drain (runs closed, counters reset): a worker sends it back with its task's results. */
  drainLog(): ReadLog {
    const stats = Object.fromEntries(this.client.stats);
    this.client.stats.clear();
    return this.recorder.drain(stats);
  }

  /** Closes connections; with `logDir`, first writes the log there (how executor threads hand it back). */
  close(): void {
    if (this.options.logDir) {
      const log = this.drainLog();
      // A reader served only from a helper's kept spans fetched nothing, yet used bytes: its log counts too.
      if (log.runs.length > 0 || Object.keys(log.served).length > 0 || Object.keys(log.stats).length > 0 || log.changes.length > 0 || log.failures.length > 0) {
        writeFileSync(join(this.options.logDir, `${process.pid}-${threadId}-${randomUUID()}.json`), JSON.stringify(log));
      }
    }
    this.blocks = [];
    this.client.close();
  }

  private pinOf(url: string, pin: RemotePin | null): PinHolder {
    let holder = this.pins.get(url);
    if (!holder) this.pins.set(url, (holder = { current: pin }));
    return holder;
  }

  private fromBlock(url: string, offset: number, target: Uint8Array): boolean {
    const block = this.blocks.find((b) => b.url === url && b.start <= offset && offset + target.length <= b.start + b.bytes.length);
    if (!block) return false;
    target.set(block.bytes.subarray(offset - block.start, offset - block.start + target.length));
    return true;
  }

  /**
   * Fetches [offset, offset + target.length), in parallel parts when long, and logs the bytes in
   * file order. All parts settle before it returns or throws, so no late part writes into a
   * buffer the caller has already reused.
   */
  private async fetchInto(url: string, holder: PinHolder, offset: number, target: Uint8Array): Promise<void> {
    if (target.length <= this.partBytes) {
      await this.client.range(url, offset, target, { pin: holder });
    } else {
      const parts: Promise<unknown>[] = [];
      for (let at = 0; at < target.length; at += this.partBytes) {
        parts.push(this.client.range(url, offset + at, target.subarray(at, Math.min(at + this.partBytes, target.length)), { pin: holder }));
      }
      const settled = await Promise.allSettled(parts);
      const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
      if (failed) throw failed.reason;
    }
    this.recorder.fetched(url, offset, target);
  }

  /**
   * Where a read of a whole small tensor may extend to: through the small tensors right after it
   * in the file that belong to the same layer and that this reader has not touched yet, up to
   * `coalesceBytes`. Tasks are cut by layer, so those are read next by this reader (another
   * layer's may be read by another thread and would be fetched twice; a touched one was read
   * already). Only whole tensors coalesce, so partial (sampled) reads fetch exactly what they ask.
   */
  private async coalescedEnd(url: string, holder: PinHolder, offset: number, length: number): Promise<number> {
    if (!/\.safetensors$/i.test(new URL(url).pathname)) return offset + length;
    const entries = await this.layout(url, holder);
    if (!entries) return offset + length;
    // The last tensor starting at or before the read: the one it falls in.
    let lo = 0;
    let hi = entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (entries[mid]!.offset <= offset) lo = mid + 1;
      else hi = mid;
    }
    const at = lo - 1;
    const first = entries[at];
    let touched = this.touched.get(url);
    if (!touched) this.touched.set(url, (touched = new Set()));
    if (first) touched.add(at);
    if (!first || first.offset !== offset || first.byteLength !== length) return offset + length;
    const layer = layerOf(first.name);
    if (layer === null) return offset + length;
    let end = offset + length;
    for (let j = at + 1; j < entries.length; j++) {
      const e = entries[j]!;
      if (e.offset !== end || e.byteLength >= this.coalesceBytes || e.offset + e.byteLength - offset > this.coalesceBytes) break;
      if (layerOf(e.name) !== layer || touched.has(j)) break;
      touched.add(j);
      end = e.offset + e.byteLength;
    }
    return end;
  }

  /** The tensors of a shard in file order, from its header (fetched once per reader); null if it cannot be had. */
  private layout(url: string, holder: PinHolder): Promise<SafetensorsEntry[] | null> {
    let layout = this.layouts.get(url);
    if (!layout) {
      layout = readRemoteSafetensorsHeader(this.client, url, holder, (start, bytes) => this.recorder.fetched(url, start, bytes))
        .then(({ header }) => [...header.tensors].sort((x, y) => x.offset - y.offset), () => null);
      this.layouts.set(url, layout);
    }
    return layout;
  }
}
