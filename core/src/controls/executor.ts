/**
 * The in-process control executor: control tasks on the process's thread pool (the same threads
 * as the weights pass), or in this thread when one thread is asked for. Answers come back in the
 * order the tasks were given, whatever finished first.
 */
import { randomUUID } from 'node:crypto';
import { serialize } from 'node:v8';
import type { Checkpoint } from '../checkpoint/folder.ts';
import { LineageError } from '../errors.ts';
import { getThreadPool, newSession } from '../exec/thread-pool.ts';
import { blockingBytesRead } from '../io/blocking.ts';
import { packRoles } from '../roles/roles.ts';
import type { HttpReadOptions } from '../io/http-client.ts';
import { runControlTask, type ControlExecutor, type ControlOutcome, type ControlTask } from './tasks.ts';
import { asWire } from './wire.ts';

/**
 * `remote`: how the models' http(s) files are read. Remote controls always run on pool threads:
 * their reads block the thread that makes them (io/http-blocking.ts), which must not be this one
 * (it serves progress and signals, and in tests the HTTP server itself).
 */
export function localControlExecutor(options: {
  threads: number; models: { a: Checkpoint; b: Checkpoint }; remote?: HttpReadOptions | null; signal?: AbortSignal; onAnswer?: () => void;
}): ControlExecutor {
  // The checkpoints serialized once per executor (both stages), in shared memory: a structured
  // clone per task cost ~30 ms a model on a 19k-tensor MoE (~1.4 s over 24 tasks); a thread decodes
  // them once (packedId names this copy), with the tensors' roles as this thread classified them.
  let packing: { packedModels: Uint8Array; packedId: string } | null = null;
  const packed = () => {
    if (packing) return packing;
    const { a, b } = options.models;
    const names = (ck: Checkpoint) => ck.tensors.map((t) => t.name);
    const bytes = serialize({ a, b, rolesA: packRoles(names(a)), rolesB: packRoles(names(b)) });
    const packedModels = new Uint8Array(new SharedArrayBuffer(bytes.length));
    packedModels.set(bytes);
    return (packing = { packedModels, packedId: randomUUID() });
  };
  // In this thread, one task at a time across run() calls (computeControls runs two batches side
  // by side): a task that awaits (the expert matching, layer by layer) would otherwise let the
  // other batch's tasks run meanwhile, and each would count the other's reads and seconds as its own.
  let inline: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
    const turn = inline.then(fn);
    inline = turn.catch(() => {});
    return turn;
  };
  return {
    async run(tasks: ControlTask[]): Promise<ControlOutcome[]> {
      const out: ControlOutcome[] = new Array(tasks.length);
      const threads = Math.max(1, Math.min(options.threads, tasks.length));
      // `run` gives the answer as it would travel (asWire: a pool thread makes it itself).
      const answer = async (task: ControlTask, run: () => Promise<{ value: unknown; bytes: number }>) => {
        const started = performance.now();
        try {
          const { value, bytes } = await run();
          out[task.id] = { ok: true, value, seconds: (performance.now() - started) / 1000, bytes };
        } catch (err) {
          // Tensors that cannot be read make the control unavailable; anything else is a bug, and says so.
          if (!(err instanceof LineageError)) throw err;
          out[task.id] = { ok: false, error: err.message };
        }
        options.onAnswer?.();
      };
      if (threads === 1 && !options.remote) {
        for (const task of tasks) {
          await exclusive(() => {
            options.signal?.throwIfAborted();
            return answer(task, async () => {
              const before = blockingBytesRead();
              const value = asWire(await runControlTask(task, options.models));
              return { value, bytes: blockingBytesRead() - before };
            });
          });
        }
        return out;
      }
      const pool = getThreadPool(threads);
      const session = newSession('controls');
      const { packedModels, packedId } = packed();
      const queue = [...tasks];
      const lane = async () => {
        for (let task = queue.shift(); task; task = queue.shift()) {
          const t = task;
          await answer(t, () => pool.run('control', { task: t, session, packedModels, packedId, remote: options.remote ?? null }, { signal: options.signal }));
        }
      };
      try {
        await Promise.all(Array.from({ length: threads }, lane));
      } finally {
        await pool.release(session);
      }
      return out;
    },
  };
}
