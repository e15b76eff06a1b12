/** Running tasks: one task (run-task), its context, the in-process executor and the process's thread pool. */
export * from './run-task.ts';
export * from './task-context.ts';
export * from './local-executor.ts';
export * from './thread-pool.ts';
export * from './next-turn.ts';
export { loggedTaskError, type LoggedTaskOutput } from './weights-logged-task.ts';
