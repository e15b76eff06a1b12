/**
 * What a remote reader read: every byte fetched, in contiguous runs with the SHA-256 of each run
 * (so anyone can fetch the same bytes and check them), the ranges handed to the analysis (the
 * coverage), per-URL counters, and the content changes and failures it met. Logs are plain JSON so
 * that executor threads (and cluster workers) can send them back to be merged into the report.
 */
import { createHash, type Hash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { UrlStats } from './http-client.ts';

export interface FetchedRun {
  url: string;
  /** Bytes [start, end) of the file. */
  start: number;
  end: number;
  sha256: string;
}

export interface ReadLog {
  runs: FetchedRun[];
  /** URL → merged [start, end) ranges that reads asked for (what the analysis used). */
  served: Record<string, [number, number][]>;
  stats: Record<string, UrlStats>;
  changes: { url: string; reason: string }[];
  failures: { url: string; reason: string }[];
}

export const emptyReadLog = (): ReadLog => ({ runs: [], served: {}, stats: {}, changes: [], failures: [] });

interface OpenRun {
  url: string;
  start: number;
  end: number;
  hash: Hash;
}

/** Builds a ReadLog as reads happen: fetches that continue where the last one of a file ended extend its run. */
export class ReadRecorder {
  private readonly open = new Map<string, OpenRun>();
  private readonly done: FetchedRun[] = [];
  private served = new Map<string, [number, number][]>();
  private changes = new Map<string, string>();
  private failures = new Map<string, string>();

  /** Bytes [start, start + bytes.length) of `url` arrived (call in file order within a run). */
  fetched(url: string, start: number, bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    const key = `${start}\0${url}`;
    let run = this.open.get(key);
    if (run) this.open.delete(key);
    else run = { url, start, end: start, hash: createHash('sha256') };
    run.hash.update(bytes);
    run.end += bytes.length;
    const next = `${run.end}\0${url}`;
    // Two reads of the same bytes (A and B the same file): keep the first run open, close the other.
    const clash = this.open.get(next);
    if (clash) this.close(clash);
    this.open.set(next, run);
  }

  /** The caller was handed bytes [start, end) of `url`. */
  servedRange(url: string, start: number, end: number): void {
    let list = this.served.get(url);
    if (!list) this.served.set(url, (list = []));
    const last = list[list.length - 1];
    if (last && last[1] === start) last[1] = end;
    else list.push([start, end]);
  }

  changed(url: string, reason: string): void {
    if (!this.changes.has(url)) this.changes.set(url, reason);
  }

  failed(url: string, reason: string): void {
    if (!this.failures.has(url)) this.failures.set(url, reason);
  }

  /** Everything recorded so far (runs closed), and a fresh start. */
  drain(stats: Record<string, UrlStats>): ReadLog {
    for (const run of this.open.values()) this.close(run);
    this.open.clear();
    const log: ReadLog = {
      runs: this.done.splice(0),
      served: Object.fromEntries([...this.served].map(([url, ranges]) => [url, mergeRanges(ranges)])),
      stats,
      changes: [...this.changes].map(([url, reason]) => ({ url, reason })),
      failures: [...this.failures].map(([url, reason]) => ({ url, reason })),
    };
    this.served = new Map();
    this.changes = new Map();
    this.failures = new Map();
    return log;
  }

  private close(run: OpenRun): void {
    this.open.delete(`${run.end}\0${run.url}`);
    this.done.push({ url: run.url, start: run.start, end: run.end, sha256: run.hash.digest('hex') });
  }
}

/** Sorted, disjoint [start, end) ranges covering the same bytes. */
export function mergeRanges(ranges: [number, number][]): [number, number][] {
  const sorted = ranges.filter(([s, e]) => e > s).map(([s, e]) => [s, e] as [number, number]).sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  const out: [number, number][] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
    else out.push(r);
  }
  return out;
}

/** One log from many (threads, workers, the opening): runs sorted by file and offset, counters summed. */
export function mergeReadLogs(logs: ReadLog[]): ReadLog {
  const out = emptyReadLog();
  const served = new Map<string, [number, number][]>();
  const changes = new Map<string, string>();
  const failures = new Map<string, string>();
  for (const log of logs) {
    out.runs.push(...log.runs);
    for (const [url, ranges] of Object.entries(log.served)) served.set(url, [...(served.get(url) ?? []), ...ranges]);
    for (const [url, s] of Object.entries(log.stats)) {
      const t = (out.stats[url] ??= { requests: 0, retries: 0, bytes: 0 });
      t.requests += s.requests;
      t.retries += s.retries;
      t.bytes += s.bytes;
    }
    for (const c of log.changes) if (!changes.has(c.url)) changes.set(c.url, c.reason);
    for (const f of log.failures) if (!failures.has(f.url)) failures.set(f.url, f.reason);
  }
  out.runs.sort((x, y) => (x.url < y.url ? -1 : x.url > y.url ? 1 : x.start - y.start || x.end - y.end));
  out.served = Object.fromEntries([...served].sort(([x], [y]) => (x < y ? -1 : 1)).map(([url, r]) => [url, mergeRanges(r)]));
  out.changes = [...changes].map(([url, reason]) => ({ url, reason }));
  out.failures = [...failures].map(([url, reason]) => ({ url, reason }));
  return out;
}

/** The logs executor threads wrote into `dir` as their readers closed (see HttpRangeReader.close). */
export function readLogsIn(dir: string): ReadLog[] {
  return readdirSync(dir).filter((f) => f.endsWith('.json')).sort().map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as ReadLog);
}
