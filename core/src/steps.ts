/**
 * Synchronous work written as a generator that yields where it may pause (every few hundred
 * tensors): run at once where nothing else waits on the thread (`runSteps`), or with turns of the
 * event loop between steps on a coordinator (`runStepsPaced`, core/src/exec/next-turn.ts). One
 * body for both, so the two cannot drift apart.
 */
export type Steps<T> = Generator<void, T, void>;

/** All the steps at once. */
export function runSteps<T>(steps: Steps<T>): T {
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}
