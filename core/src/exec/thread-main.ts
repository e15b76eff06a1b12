/**
 * The loop of an executor thread of the process's pool (thread-pool.ts starts them with
 * `workerData.protocol === 'pool'`; the cluster worker's slots run on the same pool): runs tasks
 * of any kind in THREAD_TASKS, one at a time, each with a session whose context (kernel, reader,
 * hashers) is built on first use and disposed when the pool releases the session and no task
 * still uses it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { TaskContext } from './run-task.ts';
import { createTaskContext, disposeTaskContext } from './task-context.ts';
import { errorToMessage, type FromThread, type ThreadEnv, type ToThread } from './thread-protocol.ts';
import { isThreadTaskKind, THREAD_TASKS } from './thread-tasks.ts';

const port = parentPort!;

interface Session {
  context: Promise<TaskContext>;
  running: number;
  released: boolean;
}

type TaskModule = { run(input: unknown, env: ThreadEnv): Promise<unknown> };

function servePool(): void {
  const sessions = new Map<string, Session>();
  const modules = new Map<string, Promise<TaskModule>>();
  const send = (m: FromThread) => port.postMessage(m);

  const load = (kind: string): Promise<TaskModule> => {
    if (!isThreadTaskKind(kind)) return Promise.reject(new Error(`unknown thread task kind '${kind}'`));
    let module = modules.get(kind);
    if (!module) modules.set(kind, (module = THREAD_TASKS[kind]() as Promise<TaskModule>));
    return module;
  };

  const dispose = async (id: string, session: Session) => {
    sessions.delete(id);
    try {
      disposeTaskContext(await session.context);
    } catch {
      // A context that failed to build has nothing to dispose; its tasks reported why.
    }
    send({ type: 'released', session: id });
  };

  const run = async (m: Extract<ToThread, { type: 'run' }>) => {
    let session: Session | undefined;
    if (m.session !== null && m.context !== null) {
      session = sessions.get(m.session);
      if (!session) {
        session = { context: createTaskContext(m.context), running: 0, released: false };
        session.context.catch(() => {}); // seen by the tasks that ask for it
        sessions.set(m.session, session);
      }
      session.running++;
    }
    const env: ThreadEnv = {
      context: () => session?.context ?? Promise.reject(new Error(`a '${m.kind}' task was sent without context options`)),
      progress: (bytes) => send({ type: 'progress', id: m.id, bytes }),
    };
    try {
      const module = await load(m.kind);
      send({ type: 'result', id: m.id, value: await module.run(m.input, env) });
    } catch (err) {
      send(errorToMessage(m.id, err));
    } finally {
      if (session && --session.running === 0 && session.released) await dispose(m.session!, session);
    }
  };

  port.on('message', (m: ToThread) => {
    if (m.type === 'run') void run(m);
    else if (m.type === 'release') {
      const session = sessions.get(m.session);
      if (!session) send({ type: 'released', session: m.session });
      else {
        session.released = true;
        if (session.running === 0) void dispose(m.session, session);
      }
    }
  });
  send({ type: 'ready' });
}

if ((workerData as { protocol?: string } | null)?.protocol !== 'pool') throw new Error('executor thread started without the pool protocol (core/src/exec/thread-pool.ts starts them)');
servePool();
