/**
 * A worker's slots run their tasks on the process's thread pool, as the local executor does: the
 * same results, no threads of their own, and failures typed for the worker's decision (a read
 * failure is handed back for another worker, bad input is final). A slot shut down abandons its
 * running task and refuses later ones.
 */
import test from 'ava';
import { renameSync } from 'node:fs';
import { join } from 'node:path';
import { prepareComparison } from '../core/src/compare/model-report.ts';
import { BadInputError, ReadFailedError } from '../core/src/errors.ts';
import { DEFAULT_WINDOW_ELEMENTS, getThreadPool, runTask, type ContextOptions } from '../core/src/exec/index.ts';
import { createTaskContext, disposeTaskContext } from '../core/src/exec/task-context.ts';
import { synthesize } from '../core/src/synth/synth.ts';
import { TaskFailure, taskFailureOf, ThreadSlot } from '../worker/src/thread-slot.ts';
import { tempDir } from './helpers/tmpdir.ts';

const CONTEXT: ContextOptions = { kernel: 'js', reader: 'pread', hash: 'xxh3-128', windowElements: DEFAULT_WINDOW_ELEMENTS, overlapReads: false };

async function preparedPair(layers = 2) {
  const root = tempDir();
  const [base, derived] = [join(root, 'base'), join(root, 'derived')];
  synthesize('base', { out: base, shape: { layers }, shardBytes: 200_000 });
  synthesize('derivative', { out: derived, like: base, drift: 0.02, shardBytes: 200_000 });
  return prepareComparison(base, derived, { targetTaskBytes: 100_000 });
}

test.serial('two slots run a plan on two threads of the process\'s pool, with the same results as in process', async (t) => {
  const prepared = await preparedPair();
  const started = getThreadPool().threadsStarted;
  const slots = [new ThreadSlot(), new ThreadSlot()];
  const queue = [...prepared.plan.tasks];
  const onSlots = new Map<number, unknown>();
  await Promise.all(slots.map(async (slot) => {
    for (let task = queue.shift(); task; task = queue.shift()) onSlots.set(task.id, await slot.run(task, CONTEXT));
  }));
  const ctx = await createTaskContext(CONTEXT);
  try {
    for (const task of prepared.plan.tasks) t.deepEqual(onSlots.get(task.id), await runTask(task, ctx), `task ${task.id}`);
  } finally {
    disposeTaskContext(ctx);
  }
  t.true(prepared.plan.tasks.length > 2);
  t.is(getThreadPool().threadsStarted - started, 2, 'the tasks ran on two threads of the pool');
  for (const slot of slots) await slot.shutdown();
});

test.serial('a shard that cannot be opened is a read failure, handed back rather than final', async (t) => {
  const prepared = await preparedPair();
  const task = prepared.plan.tasks.find((x) => x.items.some((i) => i.b))!;
  const shard = task.items.find((i) => i.b)!.b!.file;
  renameSync(shard, `${shard}.moved`);
  const slot = new ThreadSlot();
  const failure = await t.throwsAsync(slot.run(task, CONTEXT), { instanceOf: TaskFailure });
  t.true(failure!.readFailure);
  t.false(failure!.deterministic);
  t.is(failure!.message, `ReadFailedError: ${shard}: cannot open: ENOENT`);
  await slot.shutdown();
});

test.serial('shutdown abandons the running task and refuses later ones', async (t) => {
  const prepared = await preparedPair(8);
  const slot = new ThreadSlot();
  const task = [...prepared.plan.tasks].sort((x, y) => y.bytes - x.bytes)[0]!;
  const running = slot.run(task, CONTEXT);
  await slot.shutdown();
  const abandoned = await t.throwsAsync(running, { instanceOf: TaskFailure });
  t.regex(abandoned!.message, /the worker is stopping/);
  t.false(abandoned!.deterministic);
  await t.throwsAsync(slot.run(task, CONTEXT), { instanceOf: TaskFailure, message: /the worker is stopping/ });
});

test('failures are typed for the worker: bad input is final, a read failure may go otherwise elsewhere, the rest is retried', (t) => {
  const bad = taskFailureOf(new BadInputError('/m/a.safetensors', 'header is not valid JSON'));
  t.true(bad.deterministic);
  t.false(bad.readFailure);
  t.is(bad.message, 'BadInputError: /m/a.safetensors: header is not valid JSON');
  const read = taskFailureOf(new ReadFailedError('/m/a.safetensors', 'cannot read: EIO'));
  t.deepEqual([read.deterministic, read.readFailure], [false, true]);
  const other = taskFailureOf(new Error('executor thread failed'));
  t.deepEqual([other.deterministic, other.readFailure], [false, false]);
});
