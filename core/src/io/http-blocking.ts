/**
 * Blocking reads of http(s) files, for code that reads synchronously (the controls: matchings
 * that read a band, compute, read the next). The HTTP work (Range requests, pins, retries, the
 * SHA-256 read log) stays in HttpRangeReader, run on a helper thread; the caller posts a request
 * and sleeps in Atomics.wait until the helper has posted the answer, then takes it with
 * receiveMessageOnPort. One helper per calling thread, started on the first remote read and
 * unref'd so that it never keeps a process alive.
 *
 * The calling thread cannot serve anything while it waits: a process must not read this way from
 * an HTTP server running on its own event loop (the local executor runs remote controls on its
 * pool threads for that reason).
 */
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { errorFromMessage, type ThreadErrorMessage } from '../exec/thread-protocol.ts';
import { ReadFailedError } from '../errors.ts';
import type { HttpReadOptions } from './http-client.ts';

export type BlockingRequest =
  | { type: 'open'; id: number; reader: number; options: HttpReadOptions }
  | { type: 'read'; id: number; reader: number; file: string; ranges: { offset: number; length: number }[] }
  | { type: 'close'; id: number; reader: number };

type Answer = { id: number; ok: true; bytes?: Uint8Array } | { id: number; ok: false; error: ThreadErrorMessage };

/** A request gets no answer in this long only if the helper died: HttpClient's own timeouts and retries end well before. */
const GIVE_UP_MS = 30 * 60 * 1000;
/** Ranges of one batch at most this far apart are fetched as one span. */
const SPAN_GAP_BYTES = 256 * 1024;

interface Helper {
  worker: Worker;
  port: MessagePort;
  flag: Int32Array;
  nextId: number;
  nextReader: number;
}

let helper: Helper | null = null;
let remoteBytes = 0;

/** Bytes this thread's blocking HTTP readers have read so far. */
export function blockingHttpBytesRead(): number {
  return remoteBytes;
}

function helperThread(): Helper {
  if (helper) return helper;
  const { port1, port2 } = new MessageChannel();
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(new URL('./http-thread.mjs', import.meta.url), { workerData: { port: port2, flag }, transferList: [port2] });
  worker.unref();
  // A helper that dies leaves its caller to the give-up wait; the next reader starts a new one.
  worker.on('exit', () => { if (helper?.worker === worker) helper = null; });
  return (helper = { worker, port: port1, flag, nextId: 1, nextReader: 1 });
}

/** Posts a request and blocks until its answer. */
function call(h: Helper, request: BlockingRequest): Answer {
  Atomics.store(h.flag, 0, 0);
  h.port.postMessage(request);
  const started = Date.now();
  for (;;) {
    const got = receiveMessageOnPort(h.port) as { message: Answer } | undefined;
    if (got) {
      if (got.message.id !== request.id) continue; // an answer to a request given up on earlier
      if (!got.message.ok) throw errorFromMessage(got.message.error);
      return got.message;
    }
    if (Date.now() - started > GIVE_UP_MS) throw new ReadFailedError(request.type === 'read' ? request.file : 'http', `no answer from the HTTP reader thread in ${GIVE_UP_MS / 60000} min`);
    Atomics.wait(h.flag, 0, 0, 1000);
    Atomics.store(h.flag, 0, 0);
  }
}

export class BlockingHttpReader {
  readonly kind = 'http';
  private readonly id: number;
  private readonly h: Helper;
  private closed = false;

  constructor(options: HttpReadOptions = {}) {
    this.h = helperThread();
    this.id = this.h.nextReader++;
    call(this.h, { type: 'open', id: this.h.nextId++, reader: this.id, options });
  }

  readSync(file: string, offset: number, target: Uint8Array): void {
    this.readRangesSync(file, [{ offset, length: target.length }], target);
  }

  /** The ranges back to back into `target`, fetched concurrently by the helper (HttpClient bounds the requests in flight). */
  readRangesSync(file: string, ranges: { offset: number; length: number }[], target: Uint8Array): void {
    if (target.length === 0) return;
    // Ranges close together are fetched as one span: a request costs a round trip, which at hub
    // latencies is worth far more than the gap's bytes (what was fetched and what was used are
    // both in the read log).
    const spans: { offset: number; length: number; parts: { at: number; from: number; length: number }[] }[] = [];
    let at = 0;
    for (const r of ranges) {
      const last = spans[spans.length - 1];
      const gap = last ? r.offset - (last.offset + last.length) : -1;
      if (last && gap >= 0 && gap <= SPAN_GAP_BYTES) {
        last.parts.push({ at, from: r.offset - last.offset, length: r.length });
        last.length = r.offset + r.length - last.offset;
      } else {
        spans.push({ offset: r.offset, length: r.length, parts: [{ at, from: 0, length: r.length }] });
      }
      at += r.length;
    }
    const wanted = spans.reduce((n, x) => n + x.length, 0);
    const answer = call(this.h, { type: 'read', id: this.h.nextId++, reader: this.id, file, ranges: spans.map(({ offset, length }) => ({ offset, length })) });
    const bytes = answer.ok ? answer.bytes : undefined;
    if (!bytes || bytes.length !== wanted) throw new ReadFailedError(file, `the HTTP reader thread answered ${bytes?.length ?? 0} bytes for ${wanted}`);
    let from = 0;
    for (const span of spans) {
      for (const p of span.parts) target.set(bytes.subarray(from + p.from, from + p.from + p.length), p.at);
      from += span.length;
    }
    remoteBytes += bytes.length;
  }

  /** Closes the helper's reader, which writes its read log (with `logDir`) before this returns. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    call(this.h, { type: 'close', id: this.h.nextId++, reader: this.id });
  }
}
