/**
 * Read failures are task failures: a file that cannot be opened or read fails the whole task with
 * a retryable ReadFailedError (on the overlapped and the blocking read path alike), while a fault
 * found in the bytes (a shard cut short) stays a note on its own item.
 */
import test from 'ava';
import { renameSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { prepareComparison } from '../core/src/compare/model-report.ts';
import { ReadFailedError } from '../core/src/errors.ts';
import { runTask, DEFAULT_WINDOW_ELEMENTS } from '../core/src/exec/run-task.ts';
import { createTaskContext, disposeTaskContext } from '../core/src/exec/task-context.ts';
import { synthesize } from '../core/src/synth/synth.ts';
import { tempDir } from './helpers/tmpdir.ts';

async function preparedPair() {
  const root = tempDir();
  const [base, derived] = [join(root, 'base'), join(root, 'derived')];
  synthesize('base', { out: base, shape: { layers: 2 }, shardBytes: 200_000 });
  synthesize('derivative', { out: derived, like: base, drift: 0.02, shardBytes: 200_000 });
  return prepareComparison(base, derived, { targetTaskBytes: 1 << 30 });
}

for (const overlapReads of [true, false]) {
  test(`a shard that cannot be opened fails the task with a retryable ReadFailedError (${overlapReads ? 'overlapped' : 'blocking'} reads)`, async (t) => {
    const prepared = await preparedPair();
    const task = prepared.plan.tasks[0]!;
    const shard = task.items.find((i) => i.b)!.b!.file;
    renameSync(shard, `${shard}.moved`);
    const ctx = await createTaskContext({ kernel: 'js', reader: 'pread', hash: 'xxh3-128', windowElements: DEFAULT_WINDOW_ELEMENTS, overlapReads });
    try {
      const err = await t.throwsAsync(runTask(task, ctx), { instanceOf: ReadFailedError });
      t.is(err!.file, shard);
      t.is(err!.reason, 'cannot open: ENOENT');
      t.true(err!.retryable);
    } finally {
      disposeTaskContext(ctx);
    }
  });
}

test('a shard cut short is bad input of its own tensors only: the tasks return, those items carry the reason', async (t) => {
  const prepared = await preparedPair();
  const shard = prepared.b.shards[0]!;
  truncateSync(shard, statSync(shard).size - 100);
  const ctx = await createTaskContext({ kernel: 'js', reader: 'pread', hash: 'xxh3-128', windowElements: DEFAULT_WINDOW_ELEMENTS, overlapReads: false });
  try {
    const results = [];
    for (const task of prepared.plan.tasks) results.push(...await runTask(task, ctx));
    const failed = results.filter((r) => r.error !== null);
    t.true(failed.length >= 1 && failed.length < results.length, `${failed.length} of ${results.length} items failed`);
    for (const r of failed) t.regex(r.error!, /truncated/);
  } finally {
    disposeTaskContext(ctx);
  }
});
