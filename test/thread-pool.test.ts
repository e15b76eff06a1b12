/**
 * The process's one thread pool (core/src/exec/thread-pool.ts): a whole comparison, weights pass
 * and controls together, starts its threads once; errors cross the thread boundary typed; a
 * process that used the pool exits on its own.
 */
import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import { truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compareModels } from '../core/src/compare/model-report.ts';
import { BadInputError, LineageError, UsageError } from '../core/src/errors.ts';
import { DEFAULT_WINDOW_ELEMENTS } from '../core/src/exec/run-task.ts';
import type { ContextOptions } from '../core/src/exec/task-context.ts';
import { errorFromMessage, errorToMessage } from '../core/src/exec/thread-protocol.ts';
import { getThreadPool, newSession, ThreadPool } from '../core/src/exec/thread-pool.ts';
import { synthesize } from '../core/src/synth/synth.ts';
import { tempDir } from './helpers/tmpdir.ts';

const root = tempDir();
const base = join(root, 'base');
const derived = join(root, 'derived');

test.before(() => {
  synthesize('base', { out: base });
  synthesize('derivative', { out: derived, like: base, drift: 0.02 });
});

const CONTEXT: ContextOptions = { kernel: 'wasm-simd', reader: 'pread', hash: 'xxh3-128', windowElements: DEFAULT_WINDOW_ELEMENTS, overlapReads: false };

test.serial('two comparisons on 2 threads start 2 threads in all: the weights pass and the controls share the pool', async (t) => {
  const first = await compareModels(base, derived, { threads: 2, kernel: 'wasm-simd' });
  t.is(first.verdict.label, 'derived');
  t.not(first.controls, null, 'the controls ran (they run their cross pairs on the executor too)');
  t.is(getThreadPool().threadsStarted, 2);
  const second = await compareModels(base, derived, { threads: 2, kernel: 'wasm-simd' });
  t.is(getThreadPool().threadsStarted, 2, 'the second comparison reused the same threads');
  t.deepEqual(second.weights, first.weights);
  t.deepEqual(second.verdict, first.verdict);
});

test.serial("on two threads the controls' first tasks run beside the weights pass; a weights pass or planning that fails stops them, and the pool goes on", async (t) => {
  const events: string[] = [];
  const two = await compareModels(base, derived, { threads: 2, kernel: 'wasm-simd', onControls: (e) => events.push('stage' in e ? `stage ${e.stage}` : 'answer') });
  t.true((two.run.controls!.besideWeightsSeconds ?? 0) > 0, 'the hidden and layer alignments started before the weights pass ended');
  t.is(events[0], 'stage 1', 'no answer is passed on before stage 1 is announced');
  t.is(events.filter((e) => e === 'answer').length, two.run.controls!.tasks, 'one answer per task');
  const one = await compareModels(base, derived, { threads: 1, kernel: 'wasm-simd' });
  t.is(one.run.controls!.besideWeightsSeconds, undefined, 'on one thread the controls follow the weights pass');
  t.deepEqual(two.controls, one.controls);
  // A window that is not a whole number of kernel blocks fails every weights task, in its thread.
  await t.throwsAsync(compareModels(base, derived, { threads: 2, kernel: 'wasm-simd', windowElements: 1000 }), { message: /multiple of the 4096-element block/ });
  // Planning that fails after the first control tasks started (they start once the models open) fails the comparison with its own error.
  await t.throwsAsync(compareModels(base, derived, { threads: 2, kernel: 'wasm-simd', sample: 2 }), { instanceOf: UsageError, message: /--sample must be in \(0, 1\]/ });
  const after = await compareModels(base, derived, { threads: 2, kernel: 'wasm-simd' });
  t.deepEqual(after.controls, two.controls, 'the pool still runs whole comparisons');
});

test('a task that fails in a thread fails alone, with its error, and the pool goes on', async (t) => {
  const pool = new ThreadPool(1);
  t.teardown(() => pool.close());
  const session = newSession('test');
  // A window that is not a multiple of the kernel block is refused by runTask, in the thread.
  const bad = pool.run('weights', { task: { id: 7, label: 'bad', bytes: 0, items: [] } }, { session, context: { ...CONTEXT, windowElements: 3 } });
  const err = await t.throwsAsync(bad);
  t.regex(err!.message, /window of 3 elements is not a multiple/);
  // The same thread then runs a good (empty) task.
  t.deepEqual(await pool.run('weights', { task: { id: 8, label: 'empty', bytes: 0, items: [] } }, { session: newSession('test'), context: CONTEXT }), []);
  t.is(pool.threadsStarted, 1);
  await pool.release(session);
});

test('a task without the context it needs says so', async (t) => {
  const pool = new ThreadPool(1);
  t.teardown(() => pool.close());
  await t.throwsAsync(pool.run('weights', { task: { id: 1, label: 'x', bytes: 0, items: [] } }), { message: /without context options/ });
});

test('a closed pool refuses work and fails what was queued', async (t) => {
  const pool = new ThreadPool(1);
  const running = pool.run('weights', { task: { id: 1, label: 'x', bytes: 0, items: [] } }, { session: 's', context: CONTEXT });
  await pool.close();
  await t.throwsAsync(running, { instanceOf: LineageError });
  await t.throwsAsync(pool.run('weights', { task: { id: 2, label: 'y', bytes: 0, items: [] } }), { message: /closed/ });
});

test('errors cross as {type: error, name, code, retryable, message} and come back as the same class', (t) => {
  const bad = errorFromMessage(errorToMessage(1, new BadInputError('/m/model.safetensors', 'truncated: 10 of 20 bytes')));
  t.true(bad instanceof BadInputError);
  t.is((bad as BadInputError).file, '/m/model.safetensors');
  t.is((bad as BadInputError).reason, 'truncated: 10 of 20 bytes');
  t.true(errorFromMessage(errorToMessage(1, new UsageError('lineage compare: no'))) instanceof UsageError);
  const retryable = errorFromMessage(errorToMessage(1, new LineageError('NOT_FOUND', 'gone', { retryable: true })));
  t.true(retryable instanceof LineageError);
  t.is((retryable as LineageError).code, 'NOT_FOUND');
  t.true((retryable as LineageError).retryable);
  const message = errorToMessage(3, new RangeError('out of range'));
  t.like(message, { type: 'error', id: 3, name: 'RangeError', code: null, retryable: false, message: 'out of range' });
  const plain = errorFromMessage(message);
  t.is(plain.name, 'RangeError');
  t.is(plain.message, 'out of range');
});

test('a process that ran a comparison on the pool exits by itself (idle threads do not hold it)', (t) => {
  const script = [
    `import { compareModels } from ${JSON.stringify(fileURLToPath(new URL('../core/src/compare/model-report.ts', import.meta.url)))};`,
    `const r = await compareModels(${JSON.stringify(base)}, ${JSON.stringify(derived)}, { threads: 2, kernel: 'wasm-simd' });`,
    'console.log(r.verdict.label);',
  ].join('\n');
  exitsByItself(t, 'exits.mts', script, 'derived');
});

/** Runs a script in a process of its own, which must exit by itself (no idle thread holding it) and print `expected`. */
function exitsByItself(t: ExecutionContext, name: string, script: string, expected: string): void {
  const file = join(root, name);
  writeFileSync(file, script);
  const r = spawnSync(process.execPath, ['--import', 'tsx', file], { encoding: 'utf8', timeout: 60_000 });
  t.is(r.signal, null, 'not killed by the timeout: it exited on its own');
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout.trim(), expected);
}

test.serial('a warmed pool starts its threads before any task, runs on them, and does not hold a process that ends without using it', async (t) => {
  const pool = new ThreadPool(2);
  pool.warm();
  t.is(pool.threadsStarted, 2, 'both threads start at once, with no task queued');
  const session = newSession('warm');
  const first = await pool.run('control', { task: { id: 0, label: 'layers', models: { a: base, b: derived }, seed: 1, part: { kind: 'layers' } }, session }).catch((err: Error) => err);
  t.false(first instanceof Error, String(first));
  t.is(pool.threadsStarted, 2, 'the task ran on a warmed thread: none started for it');
  await pool.release(session);
  await pool.close();
  // A process that warms the pool and ends without a task exits by itself once its threads are up.
  const script = [
    `import { getThreadPool } from ${JSON.stringify(fileURLToPath(new URL('../core/src/exec/thread-pool.ts', import.meta.url)))};`,
    'getThreadPool(2).warm(2);',
    "console.log('warmed');",
  ].join('\n');
  exitsByItself(t, 'warm-exits.mts', script, 'warmed');
});

test.serial('a task for a thread still starting is handed to it at once, not when this thread next sees its ready; so is a release, and cancelling it fails nothing else', async (t) => {
  const pool = new ThreadPool(2);
  t.teardown(() => pool.close());
  const session = newSession('starting');
  const empty = (id: number) => ({ task: { id, label: 'empty', bytes: 0, items: [] } });
  const first = pool.run('weights', empty(1), { session, context: CONTEXT });
  const second = pool.run('weights', empty(2), { session, context: CONTEXT });
  t.is(pool.threadsStarted, 2);
  t.is(pool.queued, 0, 'both tasks wait in their starting threads, not in this thread\'s queue (a comparison plans for a second meanwhile)');
  const third = pool.run('weights', empty(3), { session, context: CONTEXT });
  t.is(pool.queued, 1, 'a third waits for a thread to finish');
  t.deepEqual(await Promise.all([first, second, third]), [[], [], []]);
  t.is(pool.threadsStarted, 2);
  // A release sent before a thread is ready follows its task in its port, and is confirmed.
  const other = new ThreadPool(1);
  t.teardown(() => other.close());
  const task = other.run('weights', empty(4), { session, context: CONTEXT });
  await other.release(session);
  t.deepEqual(await task, []);
  // Cancelling the task of a thread still starting stops that thread; the tasks queued behind it
  // run on another (it is not a thread that cannot start).
  const stopping = new ThreadPool(1);
  t.teardown(() => stopping.close());
  const cancel = new AbortController();
  const cancelled = stopping.run('weights', empty(5), { session, context: CONTEXT, signal: cancel.signal });
  const behind = stopping.run('weights', empty(6), { session, context: CONTEXT });
  cancel.abort();
  t.is(stopping.threadsStarted, 1, 'its replacement waits until it is gone: no thread starts while one is stopped (thread-gate.ts)');
  await t.throwsAsync(cancelled, { name: 'AbortError' });
  t.deepEqual(await behind, []);
  t.is(stopping.threadsStarted, 2, 'the stopped thread was replaced');
});

test('an aborted task: queued, it never starts; running, it fails at once and its thread is replaced', async (t) => {
  const pool = new ThreadPool(1);
  t.teardown(() => pool.close());
  const before = new AbortController();
  before.abort();
  await t.throwsAsync(pool.run('weights', { task: { id: 1, label: 'x', bytes: 0, items: [] } }, { session: 's', context: CONTEXT, signal: before.signal }), { name: 'AbortError' });
  t.is(pool.threadsStarted, 0, 'a task cancelled before it was queued starts nothing');

  // A task that reads a large sparse file keeps its thread busy long enough to be cancelled while
  // running; the thread is started first, so the task is handed to it at once.
  t.deepEqual(await pool.run('weights', { task: { id: 9, label: 'warm', bytes: 0, items: [] } }, { session: 'warm', context: CONTEXT }), []);
  const file = join(root, 'big.bin');
  writeFileSync(file, '');
  truncateSync(file, 256 << 20);
  const ref = { file, offset: 0, byteLength: 256 << 20, dtype: 'F32' as const, shape: [64 << 20] };
  const busy = { id: 2, label: 'busy', bytes: 2 * ref.byteLength, items: [{ index: 0, a: ref, b: ref, scalesA: null, scalesB: null, compare: true, sample: null }] };
  const running = new AbortController();
  const job = pool.run('weights', { task: busy }, { session: 's', context: { ...CONTEXT, kernel: 'js' }, signal: running.signal });
  const queued = new AbortController();
  const waiting = pool.run('weights', { task: { id: 3, label: 'y', bytes: 0, items: [] } }, { session: 's', context: CONTEXT, signal: queued.signal });
  queued.abort();
  await t.throwsAsync(waiting, { name: 'AbortError' });
  await new Promise((resolve) => setTimeout(resolve, 200));
  running.abort(new Error('cancelled by the test'));
  await t.throwsAsync(job, { message: 'cancelled by the test' });
  t.deepEqual(await pool.run('weights', { task: { id: 4, label: 'z', bytes: 0, items: [] } }, { session: 's2', context: CONTEXT }), []);
  t.is(pool.threadsStarted, 2, 'the thread of the cancelled task was stopped and another started for the next task');
});

test('executePlan stops at its signal, on threads and in this thread', async (t) => {
  const { executePlan } = await import('../core/src/exec/local-executor.ts');
  const tasks = Array.from({ length: 4 }, (_, id) => ({ id, label: `t${id}`, bytes: 0, items: [] }));
  for (const threads of [1, 2]) {
    const controller = new AbortController();
    controller.abort(new Error(`stopped (${threads})`));
    await t.throwsAsync(executePlan({ tasks, totalBytes: 0 }, { ...CONTEXT, threads, signal: controller.signal }), { message: `stopped (${threads})` });
  }
});
