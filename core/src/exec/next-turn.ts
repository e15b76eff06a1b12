/**
 * One turn of the event loop (timers, I/O) before going on: long synchronous work on a process's
 * main thread (planning, report building at 19k tensors a side) is cut into steps with it, so a
 * coordinator keeps serving Watch, heartbeats and scrapes and the local pool keeps handing tasks
 * to its threads.
 */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * For many small steps, from one loop or several at once (signing tasks): `due()` says the work
 * since the last yield passed `budgetMs`, `yield()` lets the event loop in. A timer, not an
 * immediate: the immediates queued in one turn all run before the next timers do. The first step
 * back resets the budget; the steps after it go on until it is spent again.
 */
export function pacer(budgetMs = 20): { due(): boolean; yield(): Promise<void> } {
  let since = performance.now();
  const due = () => performance.now() - since >= budgetMs;
  return {
    due,
    async yield() {
      await new Promise((resolve) => setTimeout(resolve, 0));
      if (due()) since = performance.now();
    },
  };
}
