/**
 * The thread behind BlockingHttpReader (http-blocking.ts): it owns the HTTP readers (connections,
 * pins, retries, read logs) and answers each request on the port it was given, then wakes the
 * caller, which is blocked in Atomics.wait. Every request is answered, failures included: a
 * caller waits for nothing else.
 */
import { workerData, type MessagePort } from 'node:worker_threads';
import { errorToMessage } from '../exec/thread-protocol.ts';
import { HttpRangeReader, type HttpReadOptions } from './http.ts';
import type { BlockingRequest } from './http-blocking.ts';

const { port, flag } = workerData as { port: MessagePort; flag: Int32Array };
const readers = new Map<number, { reader: HttpRangeReader; scope: string }>();

/**
 * Spans fetched lately, shared by this thread's readers of one scope (a job's): the controls read
 * the same bands of a tensor in several tasks (profiles, then cells), and a remote byte is worth
 * fetching once. Keyed by the pinned file name, so a span is only ever served for the version it
 * was fetched from; the fetch (with its SHA-256) is in the log of the reader that fetched it, and a
 * reader served from here logs the range as used, so each log's coverage is whole.
 */
const CACHE_BYTES = 128 * 1024 * 1024;
const cache: { scope: string; file: string; offset: number; bytes: Uint8Array }[] = [];
let cached = 0;

function fromCache(scope: string, file: string, offset: number, target: Uint8Array): boolean {
  const i = cache.findIndex((c) => c.scope === scope && c.file === file && c.offset <= offset && offset + target.length <= c.offset + c.bytes.length);
  if (i < 0) return false;
  const hit = cache[i]!;
  target.set(hit.bytes.subarray(offset - hit.offset, offset - hit.offset + target.length));
  cache.splice(i, 1);
  cache.push(hit);
  return true;
}

function keep(scope: string, file: string, offset: number, bytes: Uint8Array): void {
  if (bytes.length > CACHE_BYTES / 4) return;
  cache.push({ scope, file, offset, bytes: bytes.slice() });
  cached += bytes.length;
  while (cached > CACHE_BYTES) cached -= cache.shift()!.bytes.length;
}

async function readThrough({ reader, scope }: { reader: HttpRangeReader; scope: string }, file: string, offset: number, target: Uint8Array): Promise<void> {
  if (fromCache(scope, file, offset, target)) {
    reader.servedElsewhere(file, offset, target.length);
    return;
  }
  await reader.read(file, offset, target);
  keep(scope, file, offset, target);
}

function answer(message: unknown, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
}

port.on('message', async (m: BlockingRequest) => {
  try {
    switch (m.type) {
      case 'open':
        readers.set(m.reader, { reader: new HttpRangeReader(m.options as HttpReadOptions), scope: m.options.spanScope ?? m.options.logDir ?? '' });
        answer({ id: m.id, ok: true });
        break;
      case 'read': {
        const reader = readers.get(m.reader);
        if (!reader) throw new Error(`blocking HTTP reader ${m.reader} is not open`);
        const bytes = new Uint8Array(m.ranges.reduce((n, r) => n + r.length, 0));
        const parts: Promise<void>[] = [];
        let at = 0;
        for (const r of m.ranges) {
          parts.push(readThrough(reader, m.file, r.offset, bytes.subarray(at, at + r.length)));
          at += r.length;
        }
        // Every part settles before the answer: none writes into a buffer already handed back.
        const settled = await Promise.allSettled(parts);
        const failed = settled.find((x): x is PromiseRejectedResult => x.status === 'rejected');
        if (failed) throw failed.reason;
        answer({ id: m.id, ok: true, bytes }, [bytes.buffer]);
        break;
      }
      case 'close':
        // Closing writes the reader's log to its logDir, before the caller goes on to read it.
        readers.get(m.reader)?.reader.close();
        readers.delete(m.reader);
        answer({ id: m.id, ok: true });
        break;
    }
  } catch (err) {
    answer({ id: m.id, ok: false, error: errorToMessage(m.id, err) });
  }
});
