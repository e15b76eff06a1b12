import type { Steps } from '../steps.ts';

export { runSteps, type Steps } from '../steps.ts';

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
 * since the last yield passed `budgetMs`, `yield()` lets the event loop in: the next turn runs the
 * timers that are due and the I/O that waits before the work goes on. An immediate, not a timer:
 * a timer waits at least 1 ms even when nothing else does (a local comparison lost ~0.1 s so). Of
 * the loops that yielded on one spent budget, the first back starts a new one and the others go on
 * until it is spent again; they then yield anew, and wait for a later turn (were each allowed to
 * start a budget, 64 publishers back in the same turn would run 64 budgets in it).
 */
export function pacer(budgetMs: number): { due(): boolean; yield(): Promise<void> } {
  let since = performance.now();
  let budgets = 0;
  const due = () => performance.now() - since >= budgetMs;
  return {
    due,
    async yield() {
      const spent = budgets;
      await new Promise((resolve) => setImmediate(resolve));
      if (budgets === spent) {
        budgets++;
        since = performance.now();
      }
    },
  };
}

/**
 * The budget every paced loop of this thread shares: several at once (a model being indexed while
 * tasks are signed), or one after another in the same turn, go on for one budget in all before the
 * event loop is let in, not one budget each. 5 ms: a yield costs microseconds, and a coordinator's
 * event-loop delay p99 over a 48 × 128 MoE job read 23-34 ms with it (32 ms at 15 ms).
 */
export const threadTurns = pacer(5);

/** The steps, with a turn of the event loop whenever the shared budget is spent. */
export async function runStepsPaced<T>(steps: Steps<T>, turns = threadTurns): Promise<T> {
  for (;;) {
    // Before the step, not after: a loop that starts once another has spent the budget waits its turn.
    if (turns.due()) await turns.yield();
    const step = steps.next();
    if (step.done) return step.value;
  }
}
