/**
 * The gate every executor thread starts and stops through: a thread is never terminated while
 * another is being created (a Node crash, nodejs/node#56312). Real worker threads; serial, since
 * the gate is the process's.
 */
import test from 'ava';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { threadGate } from '../core/src/exec/thread-gate.ts';

/** A thread that runs until it is terminated. */
const idleThread = () => threadGate.start(() => new Worker('setInterval(() => {}, 1000);', { eval: true }));

/** Records the thread's lifecycle events in order. */
function lifecycle(worker: Worker): string[] {
  const events: string[] = [];
  worker.on('online', () => events.push('online'));
  worker.on('exit', () => events.push('exit'));
  return events;
}

test.serial('a thread still being created is terminated only once it runs, and nothing starts meanwhile', async (t) => {
  const worker = idleThread();
  const events = lifecycle(worker);
  t.true(threadGate.canStart(), 'creating threads side by side is safe');
  const stopped = threadGate.terminate(worker);
  t.false(threadGate.canStart(), 'a termination is waiting: no thread may start');
  await stopped;
  t.deepEqual(events, ['online', 'exit'], 'it came online before it was terminated');
  t.true(threadGate.canStart());
});

test.serial('a termination waits for every thread being created, not only its own', async (t) => {
  const running = idleThread();
  await once(running, 'online');
  const starting = idleThread();
  const events = lifecycle(starting);
  const runningExit = once(running, 'exit').then(() => events.push('the other exited'));
  await threadGate.terminate(running);
  await runningExit;
  t.deepEqual(events, ['online', 'the other exited'], 'the thread being created was running before the other was terminated');
  await threadGate.terminate(starting);
});

test.serial('while a thread terminates none may start; listeners hear when they may', async (t) => {
  const worker = idleThread();
  await once(worker, 'online');
  let opened = 0;
  const leave = threadGate.whenOpen(() => opened++);
  t.teardown(leave);
  const stopped = threadGate.terminate(worker);
  t.false(threadGate.canStart());
  t.is(opened, 0);
  await stopped;
  t.true(threadGate.canStart());
  t.is(opened, 1, 'told once, when the termination ended');
});

test.serial('a thread that dies while it is being created does not hold terminations back', async (t) => {
  const dying = threadGate.start(() => new Worker('throw new Error("fails as it loads")', { eval: true }));
  dying.on('error', () => undefined);
  const died = new Promise((resolve) => dying.once('exit', resolve));
  const other = idleThread();
  await once(other, 'online');
  await died;
  await threadGate.terminate(other);
  t.true(threadGate.canStart());
});
