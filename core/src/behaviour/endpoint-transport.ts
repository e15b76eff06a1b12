/**
 * POSTs JSON to an endpoint the way a polite client must: at most `concurrency` requests in
 * flight, a timeout on each, retries with exponential backoff (honouring Retry-After) on 429, 5xx,
 * timeouts and dropped connections, and an API key that goes in the Authorization header and
 * nowhere else (never in a message, a report or a cache key).
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface TransportOptions {
  apiKey?: string | null;
  concurrency?: number;
  /** Per request, in milliseconds. */
  timeoutMs?: number;
  /** Retries after the first try. */
  retries?: number;
  /** First backoff, doubled each retry (with jitter), in milliseconds. */
  backoffMs?: number;
  /** Longest wait a Retry-After header may ask for, in milliseconds. */
  maxBackoffMs?: number;
}

export type PostResult =
  | { ok: true; status: number; body: unknown; attempts: number }
  | { ok: false; status: number | null; error: string; attempts: number; retryable: boolean; retryAfterMs?: number };

export class EndpointTransport {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly o: Required<Omit<TransportOptions, 'apiKey'>>;
  private readonly apiKey: string | null;
  /** Requests sent, retries included (for reports and tests). */
  requests = 0;

  constructor(options: TransportOptions = {}) {
    this.apiKey = options.apiKey ?? null;
    this.o = {
      concurrency: options.concurrency ?? 4,
      timeoutMs: options.timeoutMs ?? 60_000,
      retries: options.retries ?? 4,
      backoffMs: options.backoffMs ?? 500,
      maxBackoffMs: options.maxBackoffMs ?? 30_000,
    };
  }

  async post(url: string, body: unknown): Promise<PostResult> {
    await this.acquire();
    try {
      let last: PostResult | null = null;
      for (let attempt = 1; attempt <= this.o.retries + 1; attempt++) {
        last = await this.once(url, body, attempt);
        if (last.ok || !last.retryable || attempt > this.o.retries) return last;
        await sleep(this.backoff(attempt, last));
      }
      return last!;
    } finally {
      this.release();
    }
  }

  private backoff(attempt: number, last: PostResult): number {
    if (!last.ok && last.retryAfterMs !== undefined) return Math.min(last.retryAfterMs, this.o.maxBackoffMs);
    const base = this.o.backoffMs * 2 ** (attempt - 1);
    return Math.min(this.o.maxBackoffMs, base * (0.5 + Math.random() * 0.5));
  }

  private async once(url: string, body: unknown, attempt: number): Promise<PostResult> {
    this.requests++;
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
    if (this.apiKey) headers.authorization = `Bearer ${this.apiKey}`;
    let response: Response;
    try {
      response = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body), signal: AbortSignal.timeout(this.o.timeoutMs) });
    } catch (err) {
      const e = err as Error;
      const timedOut = e.name === 'TimeoutError' || e.name === 'AbortError';
      return { ok: false, status: null, error: timedOut ? `no answer within ${this.o.timeoutMs} ms` : `request failed (${causeOf(e)})`, attempts: attempt, retryable: true };
    }
    let text: string;
    try {
      text = await response.text();
    } catch (err) {
      return { ok: false, status: response.status, error: `the response broke off (${causeOf(err as Error)})`, attempts: attempt, retryable: true };
    }
    if (!response.ok) {
      const retryable = response.status === 429 || response.status >= 500;
      const header = response.headers.get('retry-after');
      const seconds = header === null || header.trim() === '' ? NaN : Number(header);
      const failure: PostResult = { ok: false, status: response.status, error: `HTTP ${response.status}${snippet(text, this.apiKey)}`, attempts: attempt, retryable };
      if (retryable && Number.isFinite(seconds) && seconds >= 0) failure.retryAfterMs = seconds * 1000;
      return failure;
    }
    try {
      return { ok: true, status: response.status, body: JSON.parse(text), attempts: attempt };
    } catch {
      return { ok: false, status: response.status, error: `the response is not JSON${snippet(text, this.apiKey)}`, attempts: attempt, retryable: false };
    }
  }

  private async acquire(): Promise<void> {
    if (this.active < this.o.concurrency) {
      this.active++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active--;
  }
}

function causeOf(err: Error): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? err.message;
}

/** The start of an error body, for the reason of a missing answer, with the key blanked should a server echo it. */
function snippet(text: string, key: string | null): string {
  let s = text.replace(/\s+/g, ' ').trim().slice(0, 160);
  if (key) s = s.split(key).join('[key]');
  return s ? `: ${s}` : '';
}
