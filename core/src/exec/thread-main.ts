/** The loop of an executor thread: build a context once, then run tasks as they come. */
import { parentPort, workerData } from 'node:worker_threads';
import { runTask } from './run-task.ts';
import { createTaskContext, disposeTaskContext, type ContextOptions } from './task-context.ts';
import type { Task } from '../plan/plan.ts';

const port = parentPort!;
const ctx = await createTaskContext(workerData as ContextOptions);
port.on('message', async (message: { task?: Task; stop?: true }) => {
  if (message.stop) {
    disposeTaskContext(ctx);
    port.close();
    return;
  }
  const task = message.task!;
  try {
    const results = await runTask(task, ctx, (bytes) => port.postMessage({ progress: bytes }));
    port.postMessage({ taskId: task.id, results });
  } catch (err) {
    port.postMessage({ taskId: task.id, error: (err as Error).stack ?? String(err) });
  }
});
port.postMessage({ ready: true });
