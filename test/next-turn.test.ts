/**
 * The steps long main-thread work is cut into (core/src/exec/next-turn.ts): a pacer is due once
 * its budget of work is spent, and its yield lets the event loop's timers run before going on.
 */
import test from 'ava';
import { nextTurn, pacer } from '../core/src/exec/index.ts';

function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) { /* work */ }
}

test('a pacer is due once its budget is spent; its yield runs a timer queued before it, and starts a new budget', async (t) => {
  const steps = pacer(5);
  t.false(steps.due(), 'not due before any work');
  busy(6);
  t.true(steps.due());
  let timerRan = false;
  setTimeout(() => { timerRan = true; }, 0);
  await steps.yield();
  t.true(timerRan, 'the event loop ran its timers');
  t.false(steps.due(), 'a new budget after the yield');
});

test('several loops sharing a pacer: the first back starts a new budget, the others go on until it is spent', async (t) => {
  const steps = pacer(5);
  busy(6);
  t.true(steps.due());
  await Promise.all([steps.yield(), steps.yield(), steps.yield()]);
  t.false(steps.due(), 'one reset for all of them');
});

test('nextTurn resolves after I/O callbacks and immediates queued before it', async (t) => {
  const order: string[] = [];
  setImmediate(() => order.push('immediate'));
  const turned = nextTurn().then(() => order.push('turn'));
  await turned;
  t.deepEqual(order, ['immediate', 'turn']);
});
