/**
 * What a pool thread can run, by kind. Each kind names a module, imported in the thread the first
 * time it runs a task of that kind, that exports `run(input, env: ThreadEnv)`. To run new work on
 * the shared pool (thread-pool.ts), add a kind here; inputs and outputs cross the thread boundary
 * by structured clone, so they must be plain data.
 */
export const THREAD_TASKS = {
  /** One task of a comparison plan: its items' moments and hashes (run-task.ts). */
  weights: () => import('./weights-task.ts'),
  /** The same, answering with its HTTP readers' log too (a cluster worker sends it back with the results). */
  weightsLogged: () => import('./weights-logged-task.ts'),
  /** One control task (controls/tasks.ts): opens the models' headers and answers with a small result. */
  control: () => import('../controls/thread-task.ts'),
};

export type ThreadTaskKind = keyof typeof THREAD_TASKS;
type ModuleOf<K extends ThreadTaskKind> = Awaited<ReturnType<(typeof THREAD_TASKS)[K]>>;
export type ThreadTaskInput<K extends ThreadTaskKind> = Parameters<ModuleOf<K>['run']>[0];
export type ThreadTaskOutput<K extends ThreadTaskKind> = Awaited<ReturnType<ModuleOf<K>['run']>>;

export function isThreadTaskKind(kind: string): kind is ThreadTaskKind {
  return Object.hasOwn(THREAD_TASKS, kind);
}
