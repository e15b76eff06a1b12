/**
 * The read logs workers send back with their task results (what their HTTP readers fetched from
 * a remote model), checked before the report uses them. A worker holds the cluster key but may
 * still be buggy or hostile, so a log is untrusted input: only runs and ranges of the job's own
 * pinned files, inside each file's known length, with a 64-hex SHA-256, and counters that are
 * non-negative integers are kept. Anything else is dropped and counted, never thrown: a bad log
 * costs its own evidence, not the job.
 */
import { mergeRanges, decodeReadLog, type FetchedRun, type ReadLog, type UrlStats } from '../../core/src/io/index.ts';

/** Most runs one task's log may hold (more, and its runs are dropped: a worker leaves them out itself past the size limit). */
export const MAX_LOG_RUNS = 20_000;
/** Most served ranges one task's log may hold, over all its files. */
export const MAX_LOG_RANGES = 50_000;
/** Longest reason kept for a change or failure. */
const MAX_REASON_CHARS = 1_000;
const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * Why entries were dropped, as a metric label (lineage_read_log_entries_dropped_total): a fixed
 * set. `refused`: a log that cannot be read at all (over the size limits, not gzip, not JSON, no
 * log object); `over-limit`: more entries (or logs for one task) than are kept; `foreign-url`: of a
 * URL that is not one of the job's files; `out-of-range`: a range outside its file, empty or
 * reversed; `bad-hash`: a SHA-256 that is not 64 hex digits; `malformed`: anything else of the
 * wrong shape or type.
 */
export const READ_LOG_DROP_REASONS = ['refused', 'over-limit', 'foreign-url', 'out-of-range', 'bad-hash', 'malformed'] as const;
export type ReadLogDropReason = typeof READ_LOG_DROP_REASONS[number];

/** The outcome of checking one log: what is kept, how many entries went, why (a few lines), and how many by reason. */
export interface CheckedReadLog {
  log: ReadLog;
  dropped: number;
  notes: string[];
  droppedBy: Partial<Record<ReadLogDropReason, number>>;
}

const emptyLog = (): ReadLog => ({ runs: [], served: {}, stats: {}, changes: [], failures: [] });
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
/** Own keys only, as a Map (a key named __proto__ is then just a string that is no file's URL). */
const entriesOf = (o: Record<string, unknown>) => new Map(Object.keys(o).map((k) => [k, o[k]]));

/**
 * Keeps what of `raw` (a decoded log, any shape) is about `files` (URL → length in bytes: the
 * job's remote files as planned), dropping the rest. Never throws.
 */
export function checkReadLog(raw: unknown, files: ReadonlyMap<string, number>): CheckedReadLog {
  const out = emptyLog();
  const notes: string[] = [];
  const droppedBy: CheckedReadLog['droppedBy'] = {};
  let dropped = 0;
  const drop = (n: number, why: string, reason: ReadLogDropReason) => {
    dropped += n;
    droppedBy[reason] = (droppedBy[reason] ?? 0) + n;
    if (notes.length < 8 && !notes.includes(why)) notes.push(why);
  };
  if (!isObject(raw) || !isObject(raw.log)) {
    drop(1, 'not a read log (no log object)', 'refused');
    return { log: out, dropped, notes, droppedBy };
  }
  if (raw.omitted !== null && raw.omitted !== undefined) {
    notes.push(typeof raw.omitted === 'string' ? `the worker left part out: ${raw.omitted.slice(0, MAX_REASON_CHARS)}` : 'the worker left part out');
  }
  const log = raw.log;
  const inRange = (url: string, start: unknown, end: unknown): boolean => {
    const size = files.get(url);
    return size !== undefined && isCount(start) && isCount(end) && start < end && end <= size;
  };

  if (Array.isArray(log.runs)) {
    if (log.runs.length > MAX_LOG_RUNS) drop(log.runs.length, `${log.runs.length} runs, over the ${MAX_LOG_RUNS} a task's log may hold`, 'over-limit');
    else {
      for (const r of log.runs as unknown[]) {
        if (!isObject(r) || typeof r.url !== 'string') drop(1, 'a run that is not {url, start, end, sha256}', 'malformed');
        else if (!files.has(r.url)) drop(1, 'a run of a URL that is not one of the job\'s files', 'foreign-url');
        else if (!isCount(r.start) || !isCount(r.end)) drop(1, 'a run whose start or end is not a byte offset', 'malformed');
        else if (!inRange(r.url, r.start, r.end)) drop(1, 'a run outside its file (or an empty or reversed range)', 'out-of-range');
        else if (typeof r.sha256 !== 'string' || !SHA256_HEX.test(r.sha256)) drop(1, 'a run whose sha256 is not 64 hex digits', 'bad-hash');
        else out.runs.push({ url: r.url, start: r.start as number, end: r.end as number, sha256: r.sha256 } satisfies FetchedRun);
      }
    }
  } else if (log.runs !== undefined) drop(1, 'runs is not a list', 'malformed');

  if (isObject(log.served)) {
    const served = entriesOf(log.served);
    const total = [...served.values()].reduce((n: number, v) => n + (Array.isArray(v) ? v.length : 1), 0);
    if (total > MAX_LOG_RANGES) drop(total, `${total} served ranges, over the ${MAX_LOG_RANGES} a task's log may hold`, 'over-limit');
    else {
      const kept = new Map<string, [number, number][]>();
      for (const [url, ranges] of served) {
        if (!files.has(url)) { drop(Array.isArray(ranges) ? ranges.length : 1, 'served ranges of a URL that is not one of the job\'s files', 'foreign-url'); continue; }
        if (!Array.isArray(ranges)) { drop(1, 'served ranges that are not a list', 'malformed'); continue; }
        const list: [number, number][] = [];
        for (const r of ranges as unknown[]) {
          if (!Array.isArray(r) || r.length !== 2 || !isCount(r[0]) || !isCount(r[1])) drop(1, 'a served range that is not [start, end) inside its file', 'malformed');
          else if (!inRange(url, r[0], r[1])) drop(1, 'a served range that is not [start, end) inside its file', 'out-of-range');
          else list.push([r[0], r[1]]);
        }
        if (list.length) kept.set(url, mergeRanges(list));
      }
      out.served = Object.fromEntries(kept);
    }
  } else if (log.served !== undefined) drop(1, 'served is not an object', 'malformed');

  if (isObject(log.stats)) {
    const kept = new Map<string, UrlStats>();
    for (const [url, s] of entriesOf(log.stats)) {
      if (!files.has(url)) drop(1, 'counters of a URL that is not one of the job\'s files', 'foreign-url');
      else if (!isObject(s) || !isCount(s.requests) || !isCount(s.retries) || !isCount(s.bytes)) drop(1, 'counters that are not non-negative integers', 'malformed');
      else kept.set(url, { requests: s.requests, retries: s.retries, bytes: s.bytes });
    }
    out.stats = Object.fromEntries(kept);
  } else if (log.stats !== undefined) drop(1, 'stats is not an object', 'malformed');

  for (const field of ['changes', 'failures'] as const) {
    const list = log[field];
    if (list === undefined) continue;
    if (!Array.isArray(list) || list.length > files.size) {
      drop(Array.isArray(list) ? list.length : 1, `${field} is not a list of at most one entry per file`, Array.isArray(list) ? 'over-limit' : 'malformed');
      continue;
    }
    for (const c of list as unknown[]) {
      if (isObject(c) && typeof c.url === 'string' && files.has(c.url) && typeof c.reason === 'string') out[field].push({ url: c.url, reason: c.reason.slice(0, MAX_REASON_CHARS) });
      else drop(1, `an entry of ${field} that is not {url of a job's file, reason}`, isObject(c) && typeof c.url === 'string' && !files.has(c.url) ? 'foreign-url' : 'malformed');
    }
  }
  return { log: out, dropped, notes, droppedBy };
}

/** A result's read log decoded and checked; one that cannot be decoded (too big, not gzip, not JSON) is refused whole. */
export function readLogOfResult(bytes: Uint8Array, files: ReadonlyMap<string, number>): CheckedReadLog {
  let raw: unknown;
  try {
    raw = decodeReadLog(bytes);
  } catch (err) {
    return { log: emptyLog(), dropped: 1, notes: [`refused: ${(err as Error).message}`], droppedBy: { refused: 1 } };
  }
  return checkReadLog(raw, files);
}

/**
 * What a failed delivery's log (a task retried after it, or failed for good) adds to the report:
 * its fetches (runs with their SHA-256, request and retry counts), not the ranges it used (no
 * result of that delivery is in the report, and a delivery that answers serves the same ranges),
 * nor the failures and changes it met (its failure is its task's error; the report's failures
 * are those its results rest on).
 */
export function fetchesOnly(log: ReadLog): ReadLog {
  return { runs: log.runs, served: {}, stats: log.stats, changes: [], failures: [] };
}
