/**
 * The weights pass reads a one-window pair ahead while the one before it computes (run-task.ts,
 * PairsAhead): the results are those of blocking reads, the next pair's reads start before the
 * current pair is done, and a read that fails ahead is the failure of its own item or task, never
 * an unhandled rejection or a write into windows in use.
 */
import test from 'ava';
import { renameSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { prepareComparison } from '../core/src/compare/model-report.ts';
import { ReadFailedError } from '../core/src/errors.ts';
import { runTask, DEFAULT_WINDOW_ELEMENTS, type ItemResult, type TaskContext } from '../core/src/exec/run-task.ts';
import { createTaskContext, disposeTaskContext } from '../core/src/exec/task-context.ts';
import type { KernelName } from '../core/src/kernels/kernel.ts';
import type { Task } from '../core/src/plan/plan.ts';
import { synthesize } from '../core/src/synth/synth.ts';
import { tempDir } from './helpers/tmpdir.ts';

// Experts of 256 x 512 bf16 (256 KiB, the smallest read ahead), attention of 512 x 512, norms far below.
const SHAPE = { layout: 'moe' as const, layers: 2, hidden: 512, intermediate: 1024, heads: 8, kvHeads: 4, vocab: 512, experts: 4, expertsPerToken: 2, moeIntermediate: 256 };

async function preparedPair() {
  const root = tempDir();
  const [base, derived] = [join(root, 'base'), join(root, 'derived')];
  synthesize('base', { out: base, shape: SHAPE, shardBytes: 3_000_000 });
  synthesize('derivative', { out: derived, like: base, drift: 0.02, shardBytes: 3_000_000 });
  return prepareComparison(base, derived, { targetTaskBytes: 1 << 30 });
}

/** Every task's results, the reads in the order issued and when each item ended (by event number). */
async function runAll(tasks: Task[], kernel: KernelName, windowElements: number, overlapReads: boolean, slowReadsMs = 0) {
  const base = await createTaskContext({ kernel, reader: 'pread', hash: 'xxh3-128', windowElements, overlapReads });
  const events: string[] = [];
  const reader = base.reader;
  const ctx: TaskContext = {
    ...base,
    reader: {
      kind: reader.kind,
      read: async (file, offset, target) => {
        events.push(`read ${file}@${offset}`);
        await reader.read(file, offset, target);
        // Reads that succeed may be made slow; failures still arrive at once.
        if (slowReadsMs) await new Promise((resolve) => setTimeout(resolve, slowReadsMs));
      },
      readSync: (file, offset, target) => { events.push(`readSync ${file}@${offset}`); reader.readSync!(file, offset, target); },
      close: () => reader.close(),
    },
  };
  const results: ItemResult[][] = [];
  try {
    for (const task of tasks) {
      let i = 0;
      results.push(await runTask(task, ctx, () => { events.push(`done ${task.id}:${i++}`); }));
    }
  } finally {
    disposeTaskContext(base);
  }
  return { results, events };
}

for (const [kernel, windowElements] of [['wasm-simd', DEFAULT_WINDOW_ELEMENTS], ['wasm-simd', 131072], ['js', 131072]] as const) {
  test(`reads ahead give the results of blocking reads, the next pair's reads issued before this one is done (${kernel} kernel, windows of ${windowElements} elements)`, async (t) => {
    const prepared = await preparedPair();
    const tasks = prepared.plan.tasks;
    const blocking = await runAll(tasks, kernel, windowElements, false);
    const ahead = await runAll(tasks, kernel, windowElements, true);
    t.deepEqual(ahead.results, blocking.results);
    t.true(blocking.results.flat().every((r) => r.error === null && r.moments !== null && r.hashA !== null));
    t.false(blocking.events.some((e) => e.startsWith('read ')), 'blocking: no read handed to the pool');

    // Where item i and i + 1 are both one window of 256 KiB or more, i + 1's reads precede i's end.
    const big = (item: Task['items'][number]) => !!item.a && !!item.b && item.compare && item.a.byteLength >= 256 << 10 && item.b.byteLength >= 256 << 10
      && item.a.shape.reduce((x, y) => x * y, 1) <= windowElements;
    let pairs = 0;
    for (const task of tasks) {
      task.items.forEach((item, i) => {
        const next = task.items[i + 1];
        if (!next || !big(item) || !big(next)) return;
        pairs++;
        const readNext = ahead.events.indexOf(`read ${next.a!.file}@${next.a!.offset}`);
        const doneThis = ahead.events.indexOf(`done ${task.id}:${i}`);
        t.true(readNext >= 0 && readNext < doneThis, `item ${i + 1}'s read issued before item ${i} is done (task ${task.id})`);
      });
    }
    t.true(pairs >= 8, `${pairs} pairs of consecutive items read ahead`);
    // Multi-window pairs (attention at 131,072-element windows) sit between them and still stream.
    if (windowElements === 131072) t.true(tasks.some((task) => task.items.some((item) => item.a && item.a.shape.reduce((x, y) => x * y, 1) > windowElements)));
  });
}

test('a shard cut short with reads ahead: its own items carry the reason, the rest equal the blocking run', async (t) => {
  const prepared = await preparedPair();
  const shard = prepared.b.shards[0]!;
  truncateSync(shard, statSync(shard).size - 100_000);
  const blocking = await runAll(prepared.plan.tasks, 'wasm-simd', DEFAULT_WINDOW_ELEMENTS, false);
  const ahead = await runAll(prepared.plan.tasks, 'wasm-simd', DEFAULT_WINDOW_ELEMENTS, true);
  t.deepEqual(ahead.results, blocking.results);
  const failed = ahead.results.flat().filter((r) => r.error !== null);
  t.true(failed.length >= 1 && failed.length < ahead.results.flat().length, `${failed.length} items failed`);
  for (const r of failed) t.regex(r.error!, /truncated/);
});

test('shards that cannot be opened, read ahead: the task fails with their ReadFailedError, no unhandled rejection', async (t) => {
  const prepared = await preparedPair();
  // A one-window pair after another whose B shard differs from its own: its reads are issued ahead,
  // from the first pair's turn, and the first pair's own reads succeed.
  const ahead = (item: Task['items'][number] | undefined) => !!item?.b && item.b.byteLength >= 256 << 10;
  const task = prepared.plan.tasks.find((x) => x.items.some((item, k) => k > 0 && ahead(item) && ahead(x.items[k - 1]) && x.items[k - 1]!.b!.file !== item.b!.file))!;
  t.truthy(task, 'a task with such a pair');
  const i = task.items.findIndex((item, k) => k > 0 && ahead(item) && ahead(task.items[k - 1]) && task.items[k - 1]!.b!.file !== item.b!.file);
  // Both sides' shards gone, and the pair before slow to arrive: the reads ahead fail while no one awaits them yet.
  const shards = [task.items[i]!.a!.file, task.items[i]!.b!.file];
  t.not(task.items[i - 1]!.a!.file, shards[0]);
  for (const shard of shards) renameSync(shard, `${shard}.moved`);
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => { unhandled.push(reason); };
  process.on('unhandledRejection', onUnhandled);
  try {
    const err = await t.throwsAsync(runAll([task], 'wasm-simd', DEFAULT_WINDOW_ELEMENTS, true, 50), { instanceOf: ReadFailedError });
    t.is(err!.file, shards[0]);
    await new Promise((resolve) => setTimeout(resolve, 100));
    t.deepEqual(unhandled, []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});
