/**
 * A task's read log as it travels with the task's result (TaskResult.read_log): gzip-compressed
 * JSON, bounded on both sides. A worker never sends more than MAX_READ_LOG_WIRE_BYTES (NATS has a
 * message size limit, and a result must get through): past it the runs are left out and the log
 * says so (`omitted`), keeping the served ranges (the coverage), which merge small. A receiver
 * refuses a bigger message, or one that inflates past MAX_READ_LOG_JSON_BYTES, before parsing it.
 * What a decoded log holds is still untrusted: the coordinator checks it field by field
 * (coordinator/src/read-logs.ts).
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import type { ReadLog } from './read-log.ts';

/** Largest compressed log a result carries (a log is runs of ranges: a task's is a few KB). */
export const MAX_READ_LOG_WIRE_BYTES = 256 * 1024;
/** Largest JSON a log may inflate to. */
export const MAX_READ_LOG_JSON_BYTES = 8 * 1024 * 1024;

export interface WireReadLog {
  log: ReadLog;
  /** Why part of the log was left out by the sender (null: the log is whole). */
  omitted: string | null;
}

const pack = (w: WireReadLog) => gzipSync(Buffer.from(JSON.stringify(w)));

/**
 * The log ready to send: whole when it fits in `limit` bytes (at most MAX_READ_LOG_WIRE_BYTES: a
 * worker passes what its result message leaves), else without its runs, else without anything
 * but the reason.
 */
export function encodeReadLog(log: ReadLog, limit = MAX_READ_LOG_WIRE_BYTES): Uint8Array {
  const max = Math.min(limit, MAX_READ_LOG_WIRE_BYTES);
  const whole = pack({ log, omitted: null });
  if (whole.length <= max) return whole;
  const reason = `${log.runs.length} fetched runs (${whole.length} bytes compressed) exceed the ${max}-byte limit of this task's read log`;
  const withoutRuns = pack({ log: { ...log, runs: [] }, omitted: `runs left out: ${reason}` });
  if (withoutRuns.length <= max) return withoutRuns;
  return pack({ log: { runs: [], served: {}, stats: {}, changes: [], failures: [] }, omitted: `whole log left out: ${reason}, and its served ranges too` });
}

/** The sent value, parsed but NOT checked (plain JSON of unknown shape); throws on a message past the limits. */
export function decodeReadLog(bytes: Uint8Array): unknown {
  if (bytes.length > MAX_READ_LOG_WIRE_BYTES) throw new Error(`read log of ${bytes.length} bytes compressed, over the ${MAX_READ_LOG_WIRE_BYTES}-byte limit`);
  let json: Buffer;
  try {
    json = gunzipSync(bytes, { maxOutputLength: MAX_READ_LOG_JSON_BYTES });
  } catch (err) {
    throw new Error(`read log does not inflate within ${MAX_READ_LOG_JSON_BYTES} bytes: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(json.toString('utf8')) as unknown;
  } catch (err) {
    throw new Error(`read log is not JSON: ${(err as Error).message}`);
  }
}
