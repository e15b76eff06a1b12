/**
 * Bounded retries with exponential backoff and jitter, for calls that are safe to repeat
 * (every unary call of the Jobs service is: Submit carries the client-chosen job id).
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface RetryPolicy {
  /** Attempts in all, the first included (1: no retry). */
  attempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, initialDelayMs: 200, maxDelayMs: 3000 };

/** The wait before attempt `attempt + 1` (attempt counts from 1): doubling, capped, ±25% jitter. */
export function backoffDelay(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const base = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** (attempt - 1));
  return Math.round(base * (0.75 + 0.5 * random()));
}

/**
 * Runs `call` until it succeeds, fails with an error `shouldRetry` rejects, or the attempts
 * run out; then throws the last error through `onGiveUp` (told how many attempts were made).
 */
export async function withRetry<T>(
  policy: RetryPolicy,
  call: (attempt: number) => Promise<T>,
  shouldRetry: (err: unknown) => boolean,
  onGiveUp: (err: unknown, attempts: number) => unknown = (err) => err,
): Promise<T> {
  const attempts = Math.max(1, Math.floor(policy.attempts));
  for (let attempt = 1; ; attempt++) {
    try {
      return await call(attempt);
    } catch (err) {
      if (attempt >= attempts || !shouldRetry(err)) throw onGiveUp(err, attempt);
      await sleep(backoffDelay(policy, attempt));
    }
  }
}
