/**
 * The messages between the thread pool (thread-pool.ts) and its threads (thread-main.ts).
 * Errors cross as data, `{type: 'error', name, code, retryable, message}` (as Temporal's worker
 * threads send them), and are rebuilt as the same typed error on the calling side, so a
 * BadInputError in a thread still exits with status 2 and says which file is at fault.
 */
import { BadInputError, LineageError, UsageError, type ErrorCode } from '../errors.ts';
import type { ContextOptions } from './task-context.ts';
import type { TaskContext } from './run-task.ts';

/** Pool → thread: run one task of a kind (thread-tasks.ts), or let a session's context go. */
export type ToThread =
  | { type: 'run'; id: number; kind: string; input: unknown; session: string | null; context: ContextOptions | null }
  | { type: 'release'; session: string };

export interface ThreadErrorMessage {
  type: 'error';
  id: number;
  name: string;
  code: ErrorCode | null;
  retryable: boolean;
  message: string;
  /** Set for a BadInputError: the file at fault and why. */
  file?: string;
  reason?: string;
  /** The thread's stack, kept for LINEAGE_DEBUG-style diagnosis; never parsed. */
  stack?: string;
}

/** Thread → pool. */
export type FromThread =
  | { type: 'ready' }
  | { type: 'progress'; id: number; bytes: number }
  /** The session's context is disposed (or this thread never had it). */
  | { type: 'released'; session: string }
  | { type: 'result'; id: number; value: unknown }
  | ThreadErrorMessage;

/** What a task running in a pool thread gets besides its input. */
export interface ThreadEnv {
  /** The session's task context (kernel, reader, hashers), built once per session and thread. */
  context(): Promise<TaskContext>;
  /** Reports bytes read to the caller's onProgress. */
  progress(bytes: number): void;
}

export function errorToMessage(id: number, err: unknown): ThreadErrorMessage {
  const e = err instanceof Error ? err : new Error(String(err));
  const message: ThreadErrorMessage = {
    type: 'error',
    id,
    name: e.name,
    code: e instanceof LineageError ? e.code : null,
    retryable: e instanceof LineageError ? e.retryable : false,
    message: e.message,
    stack: e.stack,
  };
  if (e instanceof BadInputError) {
    message.file = e.file;
    message.reason = e.reason;
  }
  return message;
}

export function errorFromMessage(m: ThreadErrorMessage): Error {
  let err: Error;
  if (m.name === 'BadInputError' && m.file !== undefined && m.reason !== undefined) err = new BadInputError(m.file, m.reason);
  else if (m.name === 'UsageError') err = new UsageError(m.message);
  else if (m.code !== null) err = new LineageError(m.code, m.message, { retryable: m.retryable });
  else err = new Error(m.message);
  // The class is rebuilt from what the protocol knows; the name says what it was in the thread.
  if (err.name !== m.name) Object.defineProperty(err, 'name', { value: m.name, configurable: true, writable: true });
  if (m.stack) err.stack = m.stack;
  return err;
}
