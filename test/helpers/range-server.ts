/**
 * A real HTTP server on loopback that serves model folders the way a model hub does, for the
 * remote-checkpoint tests:
 *   GET /<repo>/resolve/<rev>/<file>   rev is 'main' or the repo's commit; answers carry
 *                                      X-Repo-Commit; with `redirectWeights`, *.safetensors
 *                                      redirect (302) to a second origin (a "CDN") as HF does
 *   GET /raw/<repo>/<file>             the same bytes with no revision and no commit header
 * Range requests (one range) get 206 with Content-Range, or 416 past the end; every answer has
 * an ETag that changes when a file is replaced. Faults can be injected per request: connections
 * reset before an answer or dropped mid-body, 503s, slow answers, a Range ignored. Every request
 * is recorded (path, range, status, whether it carried a bearer token), with the most in flight.
 */
import { createReadStream, statSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, normalize } from 'node:path';

export interface ServedRepo {
  folder: string;
  /** 40 hex digits. */
  commit: string;
}

export type FaultKind = 'reset' | 'drop' | '503' | 'slow' | 'ignore-range';

export interface Fault {
  kind: FaultKind;
  /** Only requests whose path matches (default: any). */
  match?: RegExp;
  /** How many requests get it (default 1). */
  times?: number;
  /** slow: delay before answering (ms). */
  delayMs?: number;
  /** drop: body bytes sent before the connection is cut (default 100). */
  afterBytes?: number;
  /** 503: Retry-After seconds to send. */
  retryAfter?: number;
}

export interface RequestRecord {
  origin: 'hub' | 'cdn';
  path: string;
  range: string | null;
  status: number;
  /** The Authorization header, as received. */
  authorization: string | null;
  fault: FaultKind | null;
}

export interface RangeServerOptions {
  repos: Record<string, ServedRepo>;
  /** Requests to the hub origin need `Authorization: Bearer <token>` (the CDN's signed URLs do not). */
  token?: string;
  /** Redirect *.safetensors to the CDN origin, as Hugging Face does for LFS files. */
  redirectWeights?: boolean;
}

export class RangeServer {
  readonly requests: RequestRecord[] = [];
  maxInFlight = 0;
  /** Called before each request is served (after its fault is chosen): tests change files here. */
  onRequest: ((record: RequestRecord) => void) | null = null;
  private inFlight = 0;
  private faults: (Fault & { left: number })[] = [];
  private readonly versions = new Map<string, number>();

  private constructor(private readonly options: RangeServerOptions, private readonly hub: Server, private readonly cdn: Server) {}

  static async start(options: RangeServerOptions): Promise<RangeServer> {
    let self: RangeServer | null = null;
    const hub = createServer((req, res) => self!.handle('hub', req, res));
    const cdn = createServer((req, res) => self!.handle('cdn', req, res));
    self = new RangeServer(options, hub, cdn);
    await Promise.all([hub, cdn].map((s) => new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))));
    return self;
  }

  get origin(): string {
    return `http://127.0.0.1:${(this.hub.address() as AddressInfo).port}`;
  }

  get cdnOrigin(): string {
    return `http://127.0.0.1:${(this.cdn.address() as AddressInfo).port}`;
  }

  folderUrl(repo: string, rev = 'main'): string {
    return `${this.origin}/${repo}/resolve/${rev}/`;
  }

  rawUrl(repo: string, file: string): string {
    return `${this.origin}/raw/${encodeURIComponent(repo)}/${file}`;
  }

  inject(fault: Fault): void {
    this.faults.push({ ...fault, left: fault.times ?? 1 });
  }

  clearFaults(): void {
    this.faults = [];
  }

  /** Replaces a served file's bytes (and so its ETag, and its length if that differs). */
  replaceFile(repo: string, file: string, bytes: Uint8Array): void {
    const path = join(this.options.repos[repo]!.folder, file);
    writeFileSync(path, bytes);
    this.versions.set(path, (this.versions.get(path) ?? 0) + 1);
  }

  /** Requests whose path ends with `suffix`. */
  requestsFor(suffix: string): RequestRecord[] {
    return this.requests.filter((r) => r.path.endsWith(suffix));
  }

  async close(): Promise<void> {
    await Promise.all([this.hub, this.cdn].map((s) => new Promise<void>((resolve) => {
      s.closeAllConnections();
      s.close(() => resolve());
    })));
  }

  private handle(origin: 'hub' | 'cdn', req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = decodeURIComponent(url.pathname);
    const record: RequestRecord = {
      origin, path, range: req.headers.range ?? null, status: 0,
      authorization: req.headers.authorization ?? null, fault: null,
    };
    this.requests.push(record);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    res.on('close', () => { this.inFlight--; });
    const fault = this.takeFault(path);
    record.fault = fault?.kind ?? null;
    this.onRequest?.(record);
    const answer = (status: number, headers: Record<string, string | number> = {}, body = '') => {
      record.status = status;
      res.writeHead(status, { 'Content-Length': Buffer.byteLength(body), ...headers });
      res.end(body);
    };
    if (fault?.kind === 'reset') {
      record.status = -1;
      req.socket.destroy();
      return;
    }
    if (fault?.kind === '503') {
      answer(503, fault.retryAfter !== undefined ? { 'Retry-After': fault.retryAfter } : {}, 'unavailable');
      return;
    }
    const serve = () => this.route(origin, path, req, res, record, answer, fault);
    if (fault?.kind === 'slow') setTimeout(() => { if (!res.destroyed) serve(); }, fault.delayMs ?? 1000);
    else serve();
  }

  private route(
    origin: 'hub' | 'cdn', path: string, req: IncomingMessage, res: ServerResponse, record: RequestRecord,
    answer: (status: number, headers?: Record<string, string | number>, body?: string) => void, fault: Fault | null,
  ): void {
    const parts = new URL(req.url ?? '/', 'http://x').pathname.split('/').filter((p) => p.length > 0).map(decodeURIComponent);
    let repoName: string;
    let file: string;
    let commitHeader: Record<string, string> = {};
    if (origin === 'cdn') {
      // /cdn/<repo>/<commit>/<file>
      if (parts[0] !== 'cdn' || parts.length < 4) return answer(404, {}, 'not found');
      repoName = parts[1]!;
      file = parts.slice(3).join('/');
    } else if (parts[0] === 'raw') {
      repoName = parts[1] ?? '';
      file = parts.slice(2).join('/');
    } else {
      // /<repo>/resolve/<rev>/<file>, the repo possibly org/name
      const at = parts.indexOf('resolve');
      if (at < 1 || parts.length < at + 3) return answer(404, {}, 'not found');
      repoName = parts.slice(0, at).join('/');
      const rev = parts[at + 1]!;
      file = parts.slice(at + 2).join('/');
      const repo = this.options.repos[repoName];
      if (!repo) return answer(404, {}, 'repository not found');
      if (this.options.token && req.headers.authorization !== `Bearer ${this.options.token}`) return answer(401, {}, 'unauthorized');
      if (rev !== 'main' && rev !== repo.commit) return answer(404, {}, 'revision not found');
      commitHeader = { 'X-Repo-Commit': repo.commit };
      if (this.options.redirectWeights && file.endsWith('.safetensors')) {
        const info = this.fileInfo(repo, file);
        if (!info) return answer(404, commitHeader, 'entry not found');
        return answer(302, {
          ...commitHeader, Location: `${this.cdnOrigin}/cdn/${encodeURIComponent(repoName)}/${repo.commit}/${file}?signature=s3cr3t`,
          'X-Linked-Etag': info.etag, 'X-Linked-Size': info.size,
        });
      }
    }
    const repo = this.options.repos[repoName];
    if (!repo) return answer(404, {}, 'repository not found');
    const info = this.fileInfo(repo, file);
    if (!info) return answer(404, commitHeader, 'entry not found');
    const headers: Record<string, string | number> = { ...commitHeader, ETag: info.etag, 'Accept-Ranges': 'bytes' };
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    let start = 0;
    let end = info.size - 1;
    let status = 200;
    if (range && fault?.kind !== 'ignore-range') {
      start = Number(range[1]);
      if (start >= info.size) return answer(416, { ...headers, 'Content-Range': `bytes */${info.size}` });
      end = range[2] === '' ? info.size - 1 : Math.min(Number(range[2]), info.size - 1);
      status = 206;
      headers['Content-Range'] = `bytes ${start}-${end}/${info.size}`;
    }
    const length = Math.max(0, end - start + 1);
    record.status = status;
    res.writeHead(status, { ...headers, 'Content-Length': length });
    if (length === 0) return void res.end();
    const stream = createReadStream(info.path, { start, end });
    if (fault?.kind === 'drop') {
      const cut = fault.afterBytes ?? 100;
      let sent = 0;
      stream.on('data', (chunk) => {
        const buf = chunk as Buffer;
        if (sent + buf.length >= cut) {
          res.write(buf.subarray(0, Math.max(0, cut - sent)), () => res.socket?.destroy());
          stream.destroy();
          return;
        }
        sent += buf.length;
        res.write(buf);
      });
      stream.on('end', () => res.end());
      return;
    }
    stream.on('error', () => res.destroy());
    stream.pipe(res);
  }

  private fileInfo(repo: ServedRepo, file: string): { path: string; size: number; etag: string } | null {
    const path = join(repo.folder, normalize(file));
    if (!path.startsWith(repo.folder)) return null;
    try {
      const st = statSync(path, { bigint: true });
      if (!st.isFile()) return null;
      const version = this.versions.get(path) ?? 0;
      return { path, size: Number(st.size), etag: `"${version}-${st.size.toString(16)}-${st.mtimeNs.toString(16)}"` };
    } catch {
      return null;
    }
  }

  private takeFault(path: string): Fault | null {
    const fault = this.faults.find((f) => f.left > 0 && (!f.match || f.match.test(path)));
    if (!fault) return null;
    fault.left--;
    return fault;
  }
}
