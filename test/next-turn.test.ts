/**
 * The steps long main-thread work is cut into (core/src/exec/next-turn.ts): a pacer is due once
 * its budget of work is spent, and its yield lets the event loop's timers run before going on.
 * A paced loop goes on from an immediate: the tests that check which timers ran start from one
 * (yielding from a timer's callback, the check phase of the same turn comes before the next timers).
 */
import test from 'ava';
import { nextTurn, pacer, runSteps, runStepsPaced, type Steps } from '../core/src/exec/index.ts';

function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) { /* work */ }
}

test('a pacer is due once its budget is spent; its yield runs a timer that came due, and starts a new budget', async (t) => {
  await nextTurn();
  const steps = pacer(5);
  t.false(steps.due(), 'not due before any work');
  let timerRan = false;
  setTimeout(() => { timerRan = true; }, 0);
  busy(6);
  t.true(steps.due());
  await steps.yield();
  t.true(timerRan, 'the event loop ran the timer that came due during the work');
  t.false(steps.due(), 'a new budget after the yield');
});

test('several loops sharing a pacer: the first back starts a new budget, the others go on until it is spent', async (t) => {
  const steps = pacer(5);
  busy(6);
  t.true(steps.due());
  await Promise.all([steps.yield(), steps.yield(), steps.yield()]);
  t.false(steps.due(), 'one reset for all of them');
});

test('loops that yielded on one spent budget and are back in the same turn run one budget in all, not one each', async (t) => {
  const turns = pacer(5);
  busy(6);
  // An immediate queued by the first step back runs once this turn's timers are done: the steps
  // counted before it are those that ran in the turn.
  let turnOver = false;
  let inTurn = 0;
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (turns.due()) await turns.yield();
    if (inTurn === 0 && !turnOver) setImmediate(() => { turnOver = true; });
    busy(3);
    if (!turnOver) inTurn++;
  }));
  t.true(inTurn >= 1 && inTurn <= 2, `${inTurn} steps of 3 ms on a 5 ms budget in one turn`);
});

test('nextTurn resolves after I/O callbacks and immediates queued before it', async (t) => {
  const order: string[] = [];
  setImmediate(() => order.push('immediate'));
  const turned = nextTurn().then(() => order.push('turn'));
  await turned;
  t.deepEqual(order, ['immediate', 'turn']);
});

test('steps run at once or paced give the same result; paced, the event loop runs between them', async (t) => {
  function* work(n: number): Steps<number> {
    let sum = 0;
    for (let i = 0; i < n; i++) {
      busy(1);
      sum += i;
      yield;
    }
    return sum;
  }
  t.is(runSteps(work(10)), 45);
  let timerRan = false;
  setTimeout(() => { timerRan = true; }, 0);
  t.is(await runStepsPaced(work(30), pacer(5)), 435);
  t.true(timerRan, 'a timer queued before ran while the steps did');
});

test('paced loops share their budget: one started once another has spent it lets the event loop in before its first step', async (t) => {
  await nextTurn();
  const turns = pacer(5);
  const order: string[] = [];
  setTimeout(() => order.push('timer'), 0);
  await runStepsPaced((function* () {
    yield;
    busy(6);
    order.push('first loop done');
  })(), turns);
  await runStepsPaced((function* () {
    order.push('second loop starts');
    yield;
  })(), turns);
  t.deepEqual(order, ['first loop done', 'timer', 'second loop starts']);
});
