/**
 * Tests that need something this machine may lack are registered with ava's skip when it is
 * missing, the reason in the title: the run then shows them as skipped, never as passed.
 */
import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import { NATS_SERVER_BINARY } from './nats-server.ts';

type Implementation = (t: ExecutionContext) => void | PromiseLike<void>;
interface Register {
  (title: string, implementation: Implementation): void;
  skip(title: string, implementation: Implementation): void;
}

/** `register` itself when `missing` is null; otherwise its skip, with "(skipped: missing)" in the title. */
export function unless(missing: string | null, register: Register = test): (title: string, implementation: Implementation) => void {
  if (missing === null) return register;
  return (title, implementation) => register.skip(`${title} (skipped: ${missing})`, implementation);
}

/** Why cluster tests cannot run here, or null when nats-server is installed. */
export const NATS_MISSING = NATS_SERVER_BINARY ? null : 'nats-server is not installed (Debian package nats-server)';

/** Why TLS tests cannot run here (no openssl to make a certificate), or null. */
export const OPENSSL_MISSING = spawnSync('openssl', ['version'], { encoding: 'utf8' }).status === 0 ? null : 'openssl is not installed, so no test certificate can be made';

/** One reason for a test that needs several things, or null when all are here. */
export function firstMissing(...reasons: Array<string | null>): string | null {
  return reasons.find((r) => r !== null) ?? null;
}
