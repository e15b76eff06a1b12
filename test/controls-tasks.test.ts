/**
 * The controls as tasks (core/src/controls/tasks.ts): the same controls whatever runs the tasks
 * (one thread, the pool, the JSON wire a cluster worker answers through); a control that cannot
 * read its tensors is unavailable with the reason while the others stand; hostile task specs and
 * answers are refused before they are used.
 */
import test from 'ava';
import { statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { prepareComparison, type PreparedComparison } from '../core/src/compare/model-report.ts';
import { computeControls, localControlExecutor, runHeaviestFirst, type ControlExecutor } from '../core/src/controls/index.ts';
import { cellsWork, type CellsSpec } from '../core/src/align/index.ts';
import { compareSharedRows } from '../core/src/controls/embeddings.ts';
import { parseControlTask, runControlTask, taskModels, type ControlTask } from '../core/src/controls/tasks.ts';
import { run as runThreadTask } from '../core/src/controls/thread-task.ts';
import { RangeServer } from './helpers/range-server.ts';
import { decodeControlValue, encodeControlValue } from '../core/src/controls/wire.ts';
import { LineageError } from '../core/src/errors.ts';
import { executePlan, getThreadPool, type ItemResult } from '../core/src/exec/index.ts';
import { synthesize } from '../core/src/synth/synth.ts';
import { tempDir } from './helpers/tmpdir.ts';

async function weightsPass(a: string, b: string): Promise<{ prepared: PreparedComparison; results: ItemResult[] }> {
  const prepared = await prepareComparison(a, b);
  const results = await executePlan(prepared.plan, { threads: 1, kernel: 'js', reader: 'pread', hash: 'none', windowElements: 1 << 20, overlapReads: false });
  return { prepared, results };
}

function moePair(kind: 'derivative' | 'independent') {
  const root = tempDir();
  const a = join(root, 'a');
  const b = join(root, 'b');
  synthesize('base', { out: a, shape: { layout: 'moe', layers: 4, experts: 6 } });
  synthesize(kind, { out: b, like: a, ...(kind === 'derivative' ? { drift: 0.02 } : {}) });
  return { a, b };
}

test('the same controls on one thread, on the pool, and through the wire a worker answers on', async (t) => {
  t.timeout(300_000);
  const { a, b } = moePair('derivative');
  const { prepared, results } = await weightsPass(a, b);
  const tasks: number[] = [];
  const [oneRead, poolRead] = [{ bytes: 0 }, { bytes: 0 }];
  const one = await computeControls(prepared, results, { threads: 1, seed: 5, onStage: (_, n) => tasks.push(n), stats: oneRead });
  const pool = await computeControls(prepared, results, { threads: 2, seed: 5, stats: poolRead });
  // As the coordinator does it: each answer encoded, then decoded and checked by kind.
  const inner = localControlExecutor({ threads: 1, models: { a: prepared.a, b: prepared.b } });
  const wire: ControlExecutor = {
    run: async (list) => (await inner.run(list)).map((o, i) => (o.ok ? { ...o, value: decodeControlValue(list[i]!.part.kind, encodeControlValue(o.value)) } : o)),
  };
  const remote = await computeControls(prepared, results, { seed: 5, executor: wire });
  t.deepEqual(pool, one);
  t.deepEqual(remote, one);
  // In one thread the two batches' tasks take turns: none counts another's reads as its own.
  t.true(oneRead.bytes > 0);
  t.is(oneRead.bytes, poolRead.bytes, 'the controls read the same bytes on one thread as on the pool');
  t.true(tasks.length === 2 && tasks[0]! >= 4 && tasks[1]! > 0, `two stages of tasks (${tasks.join(' + ')})`);
  t.deepEqual(one.unavailable, []);
  t.is(one.experts.length, 4, 'every MoE layer matched');
  t.truthy(one.alignment?.components.find((c) => c.component === 'routed experts'));
});

test('a control whose tensors cannot be read is unavailable with the reason; the others stand', async (t) => {
  t.timeout(300_000);
  const { a, b } = moePair('independent');
  const { prepared, results } = await weightsPass(a, b);
  // Planned from intact headers; then B's shard is cut short under the controls.
  const shard = prepared.b.shards[0]!;
  truncateSync(shard, Math.floor(statSync(shard).size / 2));
  for (const threads of [1, 2]) {
    const controls = await computeControls(prepared, results, { threads, seed: 1 });
    const neurons = controls.unavailable.find((u) => u.control === 'neurons');
    t.truthy(neurons, `threads ${threads}: the neuron test is unavailable`);
    t.regex(neurons!.reason, /truncated/);
    t.true(neurons!.reason.includes(shard), 'the reason names the file');
    t.true(controls.experts.length > 0, 'the expert matching of the readable layers stands');
    t.true((controls.alignment?.components.length ?? 0) > 0, 'the aligned tests stand');
    t.true(controls.alignment!.notes.some((n) => /could not be read and was left out/.test(n)), 'the aligned tests say what they left out');
  }
});

const valid: ControlTask = { id: 0, label: 'layers', models: { a: '/models/a', b: '/models/b' }, seed: 1, part: { kind: 'layers' } };

test('hostile control tasks are refused before anything is opened', (t) => {
  t.deepEqual(parseControlTask(JSON.stringify(valid)), valid);
  const refused = (spec: unknown, why: RegExp) => {
    const err = t.throws(() => parseControlTask(typeof spec === 'string' ? spec : JSON.stringify(spec)));
    t.true(err instanceof LineageError && err.code === 'BAD_INPUT', String(err));
    t.regex(err!.message, why);
  };
  refused('{not json', /not JSON/);
  refused([1, 2], /not an object/);
  refused({ ...valid, models: { a: '/models/a' } }, /models/);
  refused({ ...valid, id: -1 }, /id/);
  refused({ ...valid, seed: 1.5 }, /seed/);
  refused({ ...valid, part: { kind: 'shell', command: 'rm -rf /' } }, /unknown kind 'shell'/);
  refused({ ...valid, part: { kind: 'experts', layers: ['0'] } }, /experts: layers/);
  refused({ ...valid, part: { kind: 'embeddings', plan: { sharedTokens: 2, sameId: 0, chosen: [[0, -1]] } } }, /embeddings: plan/);
  refused({ ...valid, part: { kind: 'alignment.hidden', tokenPairs: Array.from({ length: 70_000 }, () => [0, 0]) } }, /tokenPairs/);
  const spec = { group: 'attention', pairs: [[0, 0]], allPairs: [[0, 0]], selection: { a: [0, 1], b: [0, 1], sign: [1, -1] }, tokenPairs: null, seed: 1, stream: 's' };
  t.notThrows(() => parseControlTask(JSON.stringify({ ...valid, part: { kind: 'alignment.cells', spec } })));
  refused({ ...valid, part: { kind: 'alignment.cells', spec: { ...spec, group: 'everything' } } }, /group/);
  refused({ ...valid, part: { kind: 'alignment.cells', spec: { ...spec, selection: { a: [0, 1], b: [0], sign: [1, 1] } } } }, /selection/);
  refused({ ...valid, part: { kind: 'alignment.cells', spec: { ...spec, selection: { a: [0], b: [0], sign: [2] } } } }, /selection/);
  refused({ ...valid, models: { ...valid.models, digestA: 'not hex' } }, /models: digest/);
  refused({ ...valid, models: { a: 'x'.repeat(300_000), b: '/models/b' } }, /models: too long/);
});

test('a task naming model URLs opens the version it was planned from, or refuses', async (t) => {
  const { a, b } = moePair('derivative');
  const server = await RangeServer.start({ repos: { 'org/a': { folder: a, commit: 'a1'.repeat(20) }, 'org/b': { folder: b, commit: 'b2'.repeat(20) } } });
  t.teardown(() => server.close());
  const prepared = await prepareComparison(server.folderUrl('org/a'), server.folderUrl('org/b'));
  const models = taskModels(prepared.a, prepared.b);
  // Named by their pinned file URLs (the commit, not the branch), with their tensor tables' digests.
  t.true(models.a.split(',').every((u) => u.includes(`/resolve/${'a1'.repeat(20)}/`)));
  t.regex(models.digestA ?? '', /^[0-9a-f]{64}$/);
  const task: ControlTask = { id: 0, label: 'layers', models, seed: 1, part: { kind: 'layers' } };
  const run = (x: ControlTask, remote: object | null, session: string) => runThreadTask({ task: x, session, remote }, null as never);
  // Opened again from the URLs, the tables agree: the task runs (on the pool: its reads block their thread, and this one serves HTTP).
  const answer = await getThreadPool(1).run('control', { task, session: 'reopened', remote: {} });
  t.truthy((answer.value as { alignment?: unknown }).alignment);
  t.true(answer.bytes > 0);
  // Another version (a digest that does not match), no URL settings, or no digest: refused before any tensor is read.
  const before = server.requests.length;
  const err = await t.throwsAsync(run({ ...task, models: { ...models, digestB: '0'.repeat(64) } }, {}, 's1'));
  t.regex(err!.message, /not the version the job was planned from/);
  t.true(server.requests.slice(before).every((r) => !/safetensors/.test(r.path) || (r.range ?? '').startsWith('bytes=0-')), 'only headers were fetched');
  t.regex((await t.throwsAsync(run(task, null, 's2')))!.message, /not given settings to read URLs/);
  t.regex((await t.throwsAsync(run({ ...task, models: { a: models.a, b: models.b } }, {}, 's3')))!.message, /without the digest/);
});

test('a malformed, mis-shaped or oversized answer is refused', (t) => {
  const refused = (kind: Parameters<typeof decodeControlValue>[0], bytes: Uint8Array, why: RegExp) => {
    const err = t.throws(() => decodeControlValue(kind, bytes));
    t.regex(err!.message, why);
  };
  refused('layers', new Uint8Array([1, 2, 3]), /does not decode/);
  refused('experts', gzipSync('{"layers": 3, "skipped": []}'), /not an expert analysis/);
  // Another kind's answer, or one wrapped in something else, is not taken for this one.
  refused('neurons', gzipSync(JSON.stringify({ value: { role: 'mlp.up' }, bytes: 10 })), /not a neuron test/);
  refused('embeddings', gzipSync(JSON.stringify({ tensors: [], sharedTokens: 5, rowsCompared: 2, cosine: 'x' })), /not a shared-row control/);
  refused('alignment.cells', gzipSync(JSON.stringify({ drafts: [{ component: 'attention', layerA: 0, layerB: 0, observed: { statistic: 'high' }, draws: [] }], notes: [], unreadable: [], seconds: 1 })), /not aligned cells/);
  refused('alignment.hidden', gzipSync(JSON.stringify({ hidden: null, selection: { a: [0], b: [0, 1], sign: [1] }, unreadable: [], seconds: 0 })), /selection/);
  // A zip bomb: 100 MB of zeros in ~100 KB stops at the limit instead of filling memory.
  refused('layers', gzipSync(Buffer.alloc(100 * 1024 * 1024)), /does not decode/);
  t.is(decodeControlValue('layers', encodeControlValue(null)), null);
  // Too large to travel in one result message: the worker fails the task instead of sending it.
  t.throws(() => encodeControlValue(Array.from({ length: 400_000 }, (_, i) => Math.sin(i))), { message: /above the .* limit/ });
});

test('a shared-row plan naming rows outside the embedding is refused, not read', async (t) => {
  t.timeout(120_000);
  const root = tempDir();
  const a = join(root, 'a');
  synthesize('base', { out: a, shape: { layout: 'dense', layers: 2, vocab: 300 } });
  const prepared = await prepareComparison(a, a);
  await t.throwsAsync(compareSharedRows(prepared.a, prepared.b, { sharedTokens: 3, sameId: 3, chosen: [[0, 0], [1, 1], [299, 300]] }), { message: /outside/ });
  const task: ControlTask = { ...valid, models: { a, b: a }, part: { kind: 'embeddings', plan: { sharedTokens: 2, sameId: 2, chosen: [[0, 0], [1, 1]] } } };
  const value = await runControlTask(task, { a: prepared.a, b: prepared.b }) as { rowsCompared: number };
  t.is(value.rowsCompared, 2);
});

test('the aligned cells start once the hidden and layer alignments are in, while the expert matching still runs', async (t) => {
  t.timeout(300_000);
  const { a, b } = moePair('derivative');
  const { prepared, results } = await weightsPass(a, b);
  const inner = localControlExecutor({ threads: 1, models: { a: prepared.a, b: prepared.b } });
  // The batch with the expert matching answers only once the cells' batch has been asked for (or
  // after 20 s): with stage 2 waiting on all of stage 1, it would never be asked for first.
  let cellsAsked!: () => void;
  const cellsAskedFirst = new Promise<boolean>((resolve) => { cellsAsked = () => resolve(true); setTimeout(() => resolve(false), 20_000).unref(); });
  const kinds: string[][] = [];
  const cellWork: number[] = [];
  const executor: ControlExecutor = {
    run: async (list) => {
      kinds.push(list.map((task) => task.part.kind));
      for (const task of list) if (task.part.kind === 'alignment.cells') cellWork.push(cellsWork(task.part.spec as CellsSpec));
      if (list.some((task) => task.part.kind === 'alignment.cells')) cellsAsked();
      const answers = await inner.run(list);
      if (list.some((task) => task.part.kind === 'experts')) t.true(await cellsAskedFirst, 'the cells were asked for before the expert matching answered');
      return answers;
    },
  };
  const controls = await computeControls(prepared, results, { seed: 5, executor });
  t.deepEqual(kinds[0], ['alignment.hidden', 'layers'], 'the hidden and layer alignments go as a batch of their own');
  t.true(kinds.length === 3 && kinds[2]!.every((k) => k === 'alignment.cells'));
  t.true(cellWork.length > 2 && new Set(cellWork).size > 1 && cellWork.every((w, i) => i === 0 || w <= cellWork[i - 1]!), `the cells handed out heaviest first: ${cellWork.join(', ')}`);
  t.deepEqual(controls, await computeControls(prepared, results, { threads: 1, seed: 5 }), 'the same controls as the in-process executor gives');
});

test('a batch handed out heaviest first is answered in its own order', async (t) => {
  const tasks: ControlTask[] = ['light', 'heavy', 'middle', 'heavy too'].map((label, id) => ({ ...valid, id, label }));
  const handed: { id: number; label: string }[] = [];
  // Each answer names its task: an executor answers in the order it was handed the tasks.
  const executor: ControlExecutor = {
    run: async (list) => {
      handed.push(...list.map(({ id, label }) => ({ id, label })));
      return list.map((task) => ({ ok: true, value: task.label, seconds: 0 }));
    },
  };
  const answers = await runHeaviestFirst(executor, tasks, [1, 5, 3, 5]);
  t.deepEqual(handed, [{ id: 0, label: 'heavy' }, { id: 1, label: 'heavy too' }, { id: 2, label: 'middle' }, { id: 3, label: 'light' }]);
  t.deepEqual(answers.map((a) => (a.ok ? a.value : null)), ['light', 'heavy', 'middle', 'heavy too']);
  t.deepEqual(await runHeaviestFirst(executor, [], []), []);
});
