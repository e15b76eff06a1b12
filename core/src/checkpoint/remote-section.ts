/**
 * The `remote` part of `models.a` / `models.b` in a report: where the model came from (URLs,
 * the pinned revision, each file's ETag and length), every byte fetched in contiguous runs with
 * their SHA-256, which bytes of which tensor the analysis read (coverage), and any content change
 * or failure met on the way.
 */
import { splitPinnedFile } from '../io/http.ts';
import { mergeReadLogs, mergeRanges, type FetchedRun, type ReadLog } from '../io/read-log.ts';
import type { RemoteCheckpoint, RemoteFileInfo, RemoteRevision } from './remote.ts';

export interface TensorCoverage {
  name: string;
  /** The URL of the shard that holds it. */
  file: string;
  byteLength: number;
  /** [start, end) byte ranges of the tensor (relative to its first byte) that were read. */
  read: [number, number][];
}

export interface RemoteSection {
  source: string;
  layout: 'folder' | 'files';
  revision: RemoteRevision;
  files: RemoteFileInfo[];
  /** Bytes received over the network: headers, small files and tensor ranges (every run below). */
  bytesFetched: number;
  requests: number;
  retries: number;
  /** Every byte fetched, as contiguous runs of one file with the SHA-256 of the run. */
  reads: FetchedRun[];
  coverage: {
    tensorBytes: number;
    bytesRead: number;
    /** bytesRead / tensorBytes; null for a model without tensor bytes. */
    fraction: number | null;
    tensorsWhole: number;
    tensorsPartial: number;
    tensorsUnread: number;
    tensors: TensorCoverage[];
  };
  /**
   * What each phase read of the tensors (both are in `coverage` and `reads`): the weights pass
   * (a sampled run reads a fraction), and the controls (matchings and their nulls, which read
   * some layers' tensors whole). On a cluster both come from the logs workers send back with
   * their results (a task run twice counts its bytes read once, its fetched bytes twice); null for
   * the controls only where no controls' logs were gathered.
   */
  phases: { weights: PhaseCoverage; controls: PhaseCoverage | null };
  /** Files whose content changed during the job: their tensors carry a note and were not compared. */
  changes: { url: string; reason: string }[];
  /** Reads that failed for other reasons (after retries): their tensors carry a note. */
  failures: { url: string; reason: string }[];
}

export interface PhaseCoverage {
  /** Tensor bytes the phase's readers used (distinct bytes). */
  bytesRead: number;
  /** bytesRead / the model's tensor bytes; null for a model without tensor bytes. */
  fraction: number | null;
  /** Bytes the phase's readers fetched (a byte fetched twice counts twice; headers for coalescing included). */
  bytesFetched: number;
}

/** The section for one model from the logs of every reader that ran the job (and the opening): the weights pass's, then the controls'. */
export function remoteSection(ck: RemoteCheckpoint, jobLogs: ReadLog[], controlLogs: ReadLog[] | null = null): RemoteSection {
  const urls = new Set(ck.remote.files.map((f) => f.url));
  const log = mergeReadLogs([ck.remote.openLog, ...[...jobLogs, ...(controlLogs ?? [])].map((l) => onlyUrls(l, urls))]);
  const tensorsRead = (served: Record<string, [number, number][]>): TensorCoverage[] => ck.tensors.map((t) => {
    const { url } = splitPinnedFile(t.file);
    return { name: t.name, file: url, byteLength: t.byteLength, read: intersect(served[url] ?? [], t.offset, t.offset + t.byteLength) };
  });
  const counted = (t: TensorCoverage) => t.read.reduce((x, [a, b]) => x + b - a, 0);
  const phase = (logs: ReadLog[]): PhaseCoverage => {
    const mine = logs.map((l) => onlyUrls(l, urls));
    const read = tensorsRead(mergeReadLogs(mine).served).reduce((s, t) => s + counted(t), 0);
    const fetched = mine.reduce((s, l) => s + l.runs.reduce((x, r) => x + r.end - r.start, 0), 0);
    return { bytesRead: read, fraction: ck.totalBytes > 0 ? read / ck.totalBytes : null, bytesFetched: fetched };
  };
  const tensors = tensorsRead(log.served);
  const bytesRead = tensors.reduce((s, t) => s + counted(t), 0);
  const stats = Object.values(log.stats);
  return {
    source: ck.remote.source,
    layout: ck.remote.layout,
    revision: ck.remote.revision,
    files: ck.remote.files,
    bytesFetched: log.runs.reduce((s, r) => s + r.end - r.start, 0),
    requests: stats.reduce((s, x) => s + x.requests, 0),
    retries: stats.reduce((s, x) => s + x.retries, 0),
    reads: log.runs,
    coverage: {
      tensorBytes: ck.totalBytes,
      bytesRead,
      fraction: ck.totalBytes > 0 ? bytesRead / ck.totalBytes : null,
      tensorsWhole: tensors.filter((t) => counted(t) === t.byteLength).length,
      tensorsPartial: tensors.filter((t) => counted(t) > 0 && counted(t) < t.byteLength).length,
      tensorsUnread: tensors.filter((t) => counted(t) === 0 && t.byteLength > 0).length,
      tensors,
    },
    phases: { weights: phase(jobLogs), controls: controlLogs ? phase(controlLogs) : null },
    changes: log.changes,
    failures: log.failures,
  };
}

function onlyUrls(log: ReadLog, urls: Set<string>): ReadLog {
  const keep = <T>(entries: [string, T][]) => Object.fromEntries(entries.filter(([url]) => urls.has(url)));
  return {
    runs: log.runs.filter((r) => urls.has(r.url)),
    served: keep(Object.entries(log.served)),
    stats: keep(Object.entries(log.stats)),
    changes: log.changes.filter((c) => urls.has(c.url)),
    failures: log.failures.filter((f) => urls.has(f.url)),
  };
}

/** The parts of sorted disjoint `ranges` inside [start, end), relative to start. */
function intersect(ranges: [number, number][], start: number, end: number): [number, number][] {
  const out: [number, number][] = [];
  let lo = 0;
  let hi = ranges.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ranges[mid]![1] <= start) lo = mid + 1;
    else hi = mid;
  }
  for (let i = lo; i < ranges.length && ranges[i]![0] < end; i++) {
    const [s, e] = ranges[i]!;
    out.push([Math.max(s, start) - start, Math.min(e, end) - start]);
  }
  return mergeRanges(out);
}
