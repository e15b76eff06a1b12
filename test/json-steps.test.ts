/**
 * The report's JSON written in steps (core/src/report/json-steps.ts) is byte for byte
 * `JSON.stringify`'s: on a real report of a MoE comparison, on values that exercise every rule of
 * the native writer (left-out members, toJSON, non-finite numbers, typed arrays, lone surrogates),
 * and on random trees.
 */
import test from 'ava';
import { join } from 'node:path';
import { compareModels } from '../core/src/compare/model-report.ts';
import { runSteps, runStepsPaced } from '../core/src/exec/index.ts';
import { jsonBytesSteps } from '../core/src/report/index.ts';
import { Random } from '../core/src/synth/random.ts';
import { synthesize } from '../core/src/synth/synth.ts';
import { tempDir } from './helpers/tmpdir.ts';

const native = (value: unknown, suffix = '') => Buffer.from(JSON.stringify(value) + suffix, 'utf8');

test('a MoE comparison report: the same bytes as JSON.stringify, at once and paced', async (t) => {
  t.timeout(120_000);
  const root = tempDir();
  synthesize('base', { out: join(root, 'a'), shape: { layout: 'moe', layers: 3, experts: 6 } });
  synthesize('derivative', { out: join(root, 'b'), like: join(root, 'a'), drift: 0.02 });
  const report = await compareModels(join(root, 'a'), join(root, 'b'), { threads: 1 });
  t.true(report.weights.tensors.length > 40 && report.controls !== null, 'a report with tensors and controls');
  t.deepEqual(runSteps(jsonBytesSteps(report, '\n')), native(report, '\n'));
  t.deepEqual(await runStepsPaced(jsonBytesSteps(report)), native(report));
});

test('every rule of the native writer: left-out members, toJSON, non-finite numbers, non-plain objects, strings', (t) => {
  class Point { constructor(readonly x: number) {} }
  const nullProto = Object.assign(Object.create(null) as object, { z: 1 });
  const values: unknown[] = [
    { a: undefined, b: () => 1, c: Symbol('s'), d: 1 },
    [undefined, () => 1, Symbol('s'), 2, , 3], // eslint-disable-line no-sparse-arrays
    { date: new Date(0), nested: { toJSON: (key: string) => `key ${key}` }, list: [{ toJSON: (key: string) => [key] }] },
    [NaN, Infinity, -Infinity, -0, 1e21, 5e-324, 0.1 + 0.2],
    { typed: new Float32Array([1.5, 2]), map: new Map([[1, 2]]), set: new Set([1]), boxed: [new Number(3), new String('s'), new Boolean(false)] },
    { point: new Point(2), nullProto, empty: {}, emptyList: [], deep: [[[[]]]] },
    { 'quo"te': 'line\nbreak\u2028 tab\t \u0000', emoji: '😀 é 中', lone: '\ud800 x \udfff' },
    [[1, [2, [3, { k: [4] }]]], null, true, false, 'x'],
    'a string', 42, null, true,
  ];
  for (const v of values) t.deepEqual(runSteps(jsonBytesSteps(v)), native(v), JSON.stringify(v));
});

test('random trees, and an array long enough to be cut into many steps and buffers', (t) => {
  const rng = new Random(7);
  const leaf = (): unknown => {
    const k = Math.floor(rng.uniform() * 6);
    return [null, rng.uniform() < 0.5, rng.uniform() * 1e6 - 5e5, `s${Math.floor(rng.uniform() * 1000)}é`, undefined, Math.floor(rng.uniform() * 100)][k];
  };
  const tree = (depth: number): unknown => {
    if (depth === 0 || rng.uniform() < 0.2) return leaf();
    const n = Math.floor(rng.uniform() * 6);
    if (rng.uniform() < 0.5) return Array.from({ length: n }, () => tree(depth - 1));
    return Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, tree(depth - 1)]));
  };
  for (let i = 0; i < 200; i++) {
    const v = tree(6);
    if (v === undefined) continue;
    t.deepEqual(runSteps(jsonBytesSteps(v)), native(v));
  }
  // Over FLUSH_CHARS (1 Mi) of text: several buffers joined; elements with multi-byte characters.
  const long = { rows: Array.from({ length: 60_000 }, (_, i) => ({ i, name: `tensor ${i} ✓` })) };
  let steps = 0;
  const gen = jsonBytesSteps(long);
  let r = gen.next();
  for (; !r.done; r = gen.next()) steps++;
  t.deepEqual(r.value, native(long));
  t.true(steps > 1000, `cut into steps (${steps})`);
});

test('a cycle is refused, as JSON.stringify refuses it; so is nothing to write', (t) => {
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = { back: cyclic };
  t.throws(() => runSteps(jsonBytesSteps(cyclic)), { instanceOf: TypeError });
  const list: unknown[] = [];
  list.push([list]);
  t.throws(() => runSteps(jsonBytesSteps(list)), { instanceOf: TypeError });
  t.throws(() => runSteps(jsonBytesSteps(undefined)), { instanceOf: TypeError });
  // The same object twice, not a cycle: written twice, as JSON.stringify does.
  const shared = { x: [1] };
  t.deepEqual(runSteps(jsonBytesSteps({ a: shared, b: shared, c: [shared.x, shared.x] })), native({ a: shared, b: shared, c: [shared.x, shared.x] }));
});
