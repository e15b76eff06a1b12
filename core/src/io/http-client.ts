/**
 * HTTP(S) transport for remote checkpoints: Range requests over keep-alive connections with a
 * limit on requests in flight, retries with backoff on timeouts, resets, premature ends and
 * 5xx/429 (resuming a range where it broke off), redirects followed by hand so that the bearer
 * token never leaves the origin it was given for, and every status a user can cause named
 * as a BadInputError on the URL (never the signed URL of a redirect, never the token); a server
 * that keeps failing past the retries is a ReadFailedError (retryable later or elsewhere).
 *
 * node:http rather than fetch: bodies are copied chunk by chunk straight into the caller's buffer
 * (the kernel's window), and a body that breaks off keeps what arrived.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage, type ClientRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { BadInputError, ReadFailedError } from '../errors.ts';

export interface HttpReadOptions {
  /** Bearer token (a hub token), sent only to the origin of the URL requested, never after a redirect to another origin. */
  token?: string;
  /** Requests in flight at once, per reader (default 8). */
  concurrency?: number;
  /** Further attempts after a transient failure (default 5). */
  retries?: number;
  /** First retry delay in ms (default 250); doubled each attempt up to `maxBackoffMs` (default 8000), with jitter. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** A request that sends nothing for this long is abandoned and retried (default 30000 ms). */
  timeoutMs?: number;
  /** Reads longer than this are split into parallel Range requests (default 4 MiB). */
  partBytes?: number;
  /** Whole small tensors that lie next to each other are fetched in one request up to this size (default 1 MiB; 0: never). */
  coalesceBytes?: number;
  /** The local executor's threads write their read logs here when they close (see HttpRangeReader.close). */
  logDir?: string;
  /**
   * Readers of blocking reads share the spans their helper thread keeps only with readers of the
   * same scope (default: the same logDir), so the logs of one job hold every span it used, even
   * on a cluster worker that serves many jobs.
   */
  spanScope?: string;
}

/** What a file looked like when it was opened; a response that disagrees means it changed. */
export interface RemotePin {
  etag: string | null;
  size: number;
}

/** The file changed (ETag or length) since it was pinned: its bytes are not mixed with the earlier version's. */
export class RemoteContentChangedError extends BadInputError {}

/** Per-URL counters of what the transport did. */
export interface UrlStats {
  requests: number;
  retries: number;
  /** Body bytes received (including bytes of attempts that broke off and were resumed). */
  bytes: number;
}

export interface RangeResult {
  /** Bytes written into the target (less than asked only with `allowShort`, at the end of the file). */
  received: number;
  size: number;
  etag: string | null;
  /** The commit the server says it served (Hugging Face's X-Repo-Commit), if any. */
  commit: string | null;
}

export interface WholeResult {
  bytes: Buffer;
  etag: string | null;
  commit: string | null;
}

/** A failure that another attempt may not meet: reset, timeout, early end, 5xx, 429. */
class TransientError extends Error {
  constructor(message: string, readonly retryAfterMs: number | null = null) {
    super(message);
  }
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 8;
/** Signed CDN URLs (where Hugging Face redirects large files) stay valid for about an hour; reuse them well within that. */
const REDIRECT_CACHE_MS = 5 * 60 * 1000;
const MAX_RETRY_AFTER_MS = 30_000;

export const isRemoteFile = (file: string): boolean => /^https?:\/\//i.test(file);

interface Response {
  res: IncomingMessage;
  req: ClientRequest;
  commit: string | null;
  /** X-Linked-Etag of a redirect (Hugging Face names the file's content there): the ETag when the final answer has none. */
  linkedEtag: string | null;
  /** Set when a timeout destroyed the request, to say so instead of "aborted". */
  failure: () => Error | null;
}

export class HttpClient {
  readonly stats = new Map<string, UrlStats>();
  private readonly token: string | undefined;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly timeoutMs: number;
  private readonly concurrency: number;
  private readonly agents: { http: HttpAgent; https: HttpsAgent };
  private readonly redirects = new Map<string, { target: string; until: number }>();
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(options: HttpReadOptions = {}) {
    this.token = options.token || undefined;
    this.retries = options.retries ?? 5;
    this.backoffMs = options.backoffMs ?? 250;
    this.maxBackoffMs = options.maxBackoffMs ?? 8000;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.concurrency = Math.max(1, options.concurrency ?? 8);
    this.agents = {
      http: new HttpAgent({ keepAlive: true, maxSockets: this.concurrency }),
      https: new HttpsAgent({ keepAlive: true, maxSockets: this.concurrency }),
    };
  }

  statsOf(url: string): UrlStats {
    let s = this.stats.get(url);
    if (!s) this.stats.set(url, (s = { requests: 0, retries: 0, bytes: 0 }));
    return s;
  }

  /**
   * Fills `target` with bytes [start, start + target.length) of `url`, resuming after transient
   * failures. `pin` (updated in place when it starts null-sized) holds the file to one version:
   * a response with another ETag or length throws RemoteContentChangedError. With `allowShort`,
   * a file that ends inside the range gives fewer bytes instead of an error (header probes).
   */
  async range(url: string, start: number, target: Uint8Array, options: { pin?: { current: RemotePin | null }; allowShort?: boolean } = {}): Promise<RangeResult> {
    const pin = options.pin ?? { current: null };
    let done = 0;
    let result: RangeResult | null = null;
    for (let attempt = 0; ; attempt++) {
      try {
        result = await this.limited(() => this.rangeOnce(url, start + done, target.subarray(done), pin, !!options.allowShort, (n) => { done += n; }));
        if (done >= target.length || options.allowShort) return { ...result, received: done };
      } catch (err) {
        if (!(err instanceof TransientError)) throw err;
        if (attempt >= this.retries) throw new ReadFailedError(url, `${err.message} (gave up after ${attempt + 1} attempts)`);
        this.statsOf(url).retries++;
        await sleep(this.delay(attempt, err.retryAfterMs));
      }
    }
  }

  /** The whole body of a small file, or null when it does not exist (404). */
  async whole(url: string, maxBytes: number): Promise<WholeResult | null> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.limited(() => this.wholeOnce(url, maxBytes));
      } catch (err) {
        if (!(err instanceof TransientError)) throw err;
        if (attempt >= this.retries) throw new ReadFailedError(url, `${err.message} (gave up after ${attempt + 1} attempts)`);
        this.statsOf(url).retries++;
        await sleep(this.delay(attempt, err.retryAfterMs));
      }
    }
  }

  close(): void {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  private delay(attempt: number, retryAfterMs: number | null): number {
    const exponential = Math.min(this.maxBackoffMs, this.backoffMs * 2 ** attempt);
    const jittered = exponential * (0.5 + Math.random() / 2);
    return retryAfterMs === null ? jittered : Math.max(jittered, Math.min(retryAfterMs, MAX_RETRY_AFTER_MS));
  }

  /** Runs `fn` within the limit; a finished request hands its slot straight to the next in line. */
  private async limited<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.concurrency) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }

  private async rangeOnce(
    url: string, start: number, target: Uint8Array, pin: { current: RemotePin | null }, allowShort: boolean, progress: (n: number) => void,
  ): Promise<RangeResult> {
    const end = start + target.length;
    const { res, commit, linkedEtag, failure } = await this.send(url, { Range: `bytes=${start}-${end - 1}` });
    const etag = header(res, 'etag') ?? linkedEtag;
    const status = res.statusCode ?? 0;
    let total: number | null = null;
    let first = start;
    if (status === 206) {
      const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header(res, 'content-range') ?? '');
      if (!m) throw discard(res, new BadInputError(url, `HTTP 206 without a valid Content-Range (${header(res, 'content-range') ?? 'none'})`));
      first = Number(m[1]);
      total = m[3] === '*' ? null : Number(m[3]);
      if (first !== start) throw discard(res, new BadInputError(url, `asked for bytes from ${start}, the server sent them from ${first}`));
    } else if (status === 200) {
      // A server that ignores Range answers with the whole file: usable only when that is what was asked.
      total = Number(header(res, 'content-length') ?? NaN);
      if (!(start === 0 && Number.isSafeInteger(total) && (total === end || (allowShort && total < end)))) {
        throw discard(res, new BadInputError(url, `the server ignored the Range request (HTTP 200 with the whole file), so it cannot be read in parts`));
      }
    } else if (status === 416) {
      const size = /^bytes \*\/(\d+)$/.exec(header(res, 'content-range') ?? '')?.[1];
      discard(res);
      if (pin.current && size !== undefined && Number(size) !== pin.current.size) {
        throw this.changed(url, `changed since it was opened: ${pin.current.size} bytes then, ${size} now`);
      }
      throw new BadInputError(url, `bytes [${start}, ${end}) are not satisfiable (HTTP 416): the file has ${size ?? 'an unknown number of'} bytes`);
    } else {
      throw this.statusError(url, res, !!pin.current);
    }
    const size = total ?? pin.current?.size ?? null;
    if (size === null) throw discard(res, new BadInputError(url, 'the server does not say how long the file is (Content-Range total is *)'));
    const seen: RemotePin = { etag, size };
    if (pin.current) {
      if (pin.current.size !== seen.size) throw discard(res, this.changed(url, `changed since it was opened: ${pin.current.size} bytes then, ${seen.size} now`));
      if (pin.current.etag && seen.etag && pin.current.etag !== seen.etag) {
        throw discard(res, this.changed(url, `changed since it was opened: ETag ${pin.current.etag} then, ${seen.etag} now`));
      }
    } else {
      pin.current = seen;
    }
    const expected = Math.min(end, size) - start;
    if (expected < target.length && !allowShort) {
      throw discard(res, new BadInputError(url, `truncated: wanted bytes [${start}, ${end}) but the file ends at ${size}`));
    }
    const stats = this.statsOf(url);
    let received = 0;
    await new Promise<void>((resolve, reject) => {
      let ended = false;
      res.on('data', (chunk: Buffer) => {
        if (received + chunk.length > expected) {
          ended = true;
          res.destroy();
          reject(new BadInputError(url, `the server sent more than the ${expected} bytes it announced`));
          return;
        }
        target.set(chunk, received);
        received += chunk.length;
        stats.bytes += chunk.length;
        progress(chunk.length);
      });
      res.on('end', () => {
        ended = true;
        if (received < expected) reject(new TransientError(`the body ended after ${received} of ${expected} bytes`));
        else resolve();
      });
      res.on('error', (err) => reject(failure() ?? new TransientError(`connection failed while reading the body (${describe(err)})`)));
      res.on('close', () => {
        if (!ended) reject(failure() ?? new TransientError(`connection closed after ${received} of ${expected} bytes`));
      });
    });
    return { received, size, etag, commit };
  }

  private async wholeOnce(url: string, maxBytes: number): Promise<WholeResult | null> {
    const { res, commit, failure } = await this.send(url, {});
    const status = res.statusCode ?? 0;
    if (status === 404) {
      discard(res);
      return null;
    }
    if (status !== 200) throw this.statusError(url, res, false);
    const length = Number(header(res, 'content-length') ?? NaN);
    if (length > maxBytes) throw discard(res, new BadInputError(url, `is ${length} bytes, more than the ${maxBytes} read for a small file`));
    const chunks: Buffer[] = [];
    let received = 0;
    const stats = this.statsOf(url);
    await new Promise<void>((resolve, reject) => {
      let ended = false;
      res.on('data', (chunk: Buffer) => {
        received += chunk.length;
        stats.bytes += chunk.length;
        if (received > maxBytes) {
          ended = true;
          res.destroy();
          reject(new BadInputError(url, `is more than the ${maxBytes} bytes read for a small file`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => {
        ended = true;
        if (Number.isSafeInteger(length) && received !== length) reject(new TransientError(`the body ended after ${received} of ${length} bytes`));
        else resolve();
      });
      res.on('error', (err) => reject(failure() ?? new TransientError(`connection failed while reading the body (${describe(err)})`)));
      res.on('close', () => {
        if (!ended) reject(failure() ?? new TransientError(`connection closed after ${received} bytes`));
      });
    });
    return { bytes: Buffer.concat(chunks), etag: header(res, 'etag'), commit };
  }

  /** The error a non-success status means; the body is discarded so the connection can be reused. */
  private statusError(url: string, res: IncomingMessage, pinned: boolean): Error {
    const status = res.statusCode ?? 0;
    discard(res);
    if (status === 404) {
      return pinned ? this.changed(url, 'gone (HTTP 404) since it was opened') : new BadInputError(url, 'not found (HTTP 404)');
    }
    if (status === 412) return this.changed(url, 'changed since it was opened (HTTP 412)');
    if (status === 401 || status === 403) {
      return new BadInputError(url, `access denied (HTTP ${status})${this.token ? ' with the hub token given' : '; a gated or private model needs a token (--hub-token or HF_TOKEN)'}`);
    }
    if (status === 408 || status === 429 || status >= 500) {
      const retryAfter = Number(header(res, 'retry-after'));
      return new TransientError(`HTTP ${status}`, Number.isFinite(retryAfter) ? retryAfter * 1000 : null);
    }
    return new BadInputError(url, `unexpected HTTP ${status}`);
  }

  private changed(url: string, reason: string): RemoteContentChangedError {
    return new RemoteContentChangedError(url, reason);
  }

  /**
   * One request, following redirects. The token goes only to the URL's own origin; a redirect
   * target is remembered for a while (signed CDN URLs) and dropped when it stops working.
   */
  private async send(url: string, headers: Record<string, string>): Promise<Response> {
    const origin = new URL(url).origin;
    const cached = this.redirects.get(url);
    let current = cached && cached.until > Date.now() ? cached.target : url;
    let commit: string | null = null;
    let linkedEtag: string | null = null;
    this.statsOf(url).requests++;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const response = await this.requestOnce(url, current, {
        ...headers,
        'Accept-Encoding': 'identity',
        'User-Agent': 'lineage',
        ...(this.token && new URL(current).origin === origin ? { Authorization: `Bearer ${this.token}` } : {}),
      });
      const { res } = response;
      commit ??= header(res, 'x-repo-commit');
      linkedEtag ??= header(res, 'x-linked-etag');
      const status = res.statusCode ?? 0;
      if (REDIRECTS.has(status)) {
        const location = header(res, 'location');
        discard(res);
        if (!location) throw new BadInputError(url, `HTTP ${status} redirect without a Location`);
        current = new URL(location, current).toString();
        continue;
      }
      if (current !== url) {
        if (status >= 400 && status < 500 && cached && current === cached.target) {
          // An expired signed URL: start again from the URL itself.
          discard(res);
          this.redirects.delete(url);
          return this.send(url, headers);
        }
        if (status < 300) this.redirects.set(url, { target: current, until: Date.now() + REDIRECT_CACHE_MS });
      }
      return { ...response, commit, linkedEtag };
    }
    throw new BadInputError(url, `more than ${MAX_REDIRECTS} redirects`);
  }

  private requestOnce(url: string, target: string, headers: Record<string, string>): Promise<Response> {
    const parsed = new URL(target);
    const secure = parsed.protocol === 'https:';
    if (!secure && parsed.protocol !== 'http:') return Promise.reject(new BadInputError(url, `redirected to an unsupported scheme ${parsed.protocol}`));
    return new Promise<Response>((resolve, reject) => {
      let failure: Error | null = null;
      const req = (secure ? httpsRequest : httpRequest)(parsed, { method: 'GET', headers, agent: secure ? this.agents.https : this.agents.http });
      req.setTimeout(this.timeoutMs, () => {
        failure = new TransientError(`no data for ${this.timeoutMs} ms`);
        req.destroy(failure);
      });
      req.on('response', (res) => resolve({ res, req, commit: null, linkedEtag: null, failure: () => failure }));
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOTFOUND') reject(new BadInputError(url, `host ${parsed.hostname} not found`));
        else if (err.code === 'ERR_TLS_CERT_ALTNAME_INVALID' || err.code?.startsWith('CERT_') || err.code?.includes('CERT')) {
          reject(new BadInputError(url, `TLS certificate rejected (${err.code})`));
        } else reject(failure ?? new TransientError(`request failed (${describe(err)})`));
      });
      req.end();
    });
  }
}

function header(res: IncomingMessage, name: string): string | null {
  const v = res.headers[name];
  return Array.isArray(v) ? (v[0] ?? null) : (v ?? null);
}

/** Largest unwanted body drained to keep its connection; a longer one closes the connection instead. */
const DRAIN_LIMIT = 1 << 20;

/** Drops a response body (so the socket goes back to the pool, or is closed); returns `err` for throwing. */
function discard<E>(res: IncomingMessage, err?: E): E {
  res.on('error', () => {});
  const length = Number(header(res, 'content-length') ?? NaN);
  if (Number.isFinite(length) && length <= DRAIN_LIMIT) res.resume();
  else res.destroy();
  return err as E;
}

function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e?.code ?? e?.message ?? String(err);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
