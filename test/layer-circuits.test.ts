/**
 * Layers paired through their circuits where the depths differ (align/layer-circuits.ts): the
 * stage-1 layer alignment compares raw rows, which a permutation of heads or a rotation of the
 * hidden basis scrambles; a model with a layer removed and its heads permuted read attention
 * "mixed" there (partially-derived), and one with blocks inserted and its stream rotated read
 * attention and MLP "mixed".
 */
import test from 'ava';
import { join } from 'node:path';
import { compareModels } from '../core/src/compare/model-report.ts';
import { parseControlTask } from '../core/src/controls/tasks.ts';
import { decodeControlValue, encodeControlValue } from '../core/src/controls/wire.ts';
import { synthesize } from '../core/src/synth/synth.ts';
import { addNoise, expandBlocks, keepLayers, permuteHeads, permuteNeurons, rotateHidden } from '../core/src/synth/transforms.ts';
import { tempDir } from './helpers/tmpdir.ts';

function fourLayers(seed: number): { root: string; a: string } {
  const root = tempDir();
  const a = join(root, 'a');
  synthesize('base', { out: a, shape: { layers: 4, hidden: 96, intermediate: 256, heads: 4, kvHeads: 2, vocab: 1500 }, seed });
  return { root, a };
}

const cellPairs = (report: Awaited<ReturnType<typeof compareModels>>, component: string) =>
  report.controls!.alignment!.components.find((c) => c.component === component)!.cells.map((c) => [c.layerA, c.layerB]);

test('a layer removed and heads and neurons permuted: B\'s layers paired with the ones they were, the model derived', async (t) => {
  const { root, a } = fourLayers(5);
  const pruned = permuteNeurons(permuteHeads(keepLayers(a, join(root, 'p'), [0, 1, 3]), join(root, 'ph'), 7), join(root, 'phn'), 8);
  const report = await compareModels(a, addNoise(pruned, join(root, 'f'), 0.01, 9), { threads: 1 });
  t.is(report.controls!.alignment!.layerPairing, 'layer circuits');
  t.deepEqual(cellPairs(report, 'attention'), [[0, 0], [1, 1], [3, 2]]);
  t.deepEqual(cellPairs(report, 'dense MLP'), [[0, 0], [1, 1], [3, 2]]);
  t.is(report.verdict.label, 'derived', report.verdict.summary);
  t.regex(report.verdict.summary, /layers paired through the layer circuits \(depth changed\)/);
});

test('blocks inserted (LLaMA Pro) and the stream rotated: derived, each inserted block paired with the layer it copies', async (t) => {
  const { root, a } = fourLayers(6);
  const expanded = rotateHidden(expandBlocks(a, join(root, 'x'), 2, 7), join(root, 'xr'), 8);
  const report = await compareModels(a, addNoise(expanded, join(root, 'f'), 0.01, 9), { threads: 1 });
  t.is(report.controls!.alignment!.hidden!.rotated?.tokens, 256, 'compared in the token basis');
  t.is(report.controls!.alignment!.layerPairing, 'layer circuits');
  // B: A0, A1, copy of A1, A2, A3, copy of A3.
  t.deepEqual(cellPairs(report, 'attention'), [[0, 0], [1, 1], [1, 2], [2, 3], [3, 4], [3, 5]]);
  t.is(report.verdict.label, 'derived', report.verdict.summary);
});

test('an independent model of another depth stays independent', async (t) => {
  const { root, a } = fourLayers(11);
  const other = join(root, 'i');
  synthesize('base', { out: other, shape: { layers: 3, hidden: 96, intermediate: 256, heads: 4, kvHeads: 2, vocab: 1500 }, seed: 12 });
  const report = await compareModels(a, other, { threads: 1 });
  t.is(report.controls!.alignment!.layerPairing, 'layer circuits');
  t.is(report.verdict.label, 'independent', report.verdict.summary);
});

test('a layers task and its answer are checked: a selection like the cells\', pairs of layer indices', (t) => {
  t.notThrows(() => decodeControlValue('alignment.layers', encodeControlValue([[0, 0], [1, 2]])));
  t.notThrows(() => decodeControlValue('alignment.layers', encodeControlValue(null)));
  for (const bad of [[[0, -1]], [[0, 1, 2]], [['0', 1]], { 0: [0, 0] }, [[0, 1.5]]]) {
    t.throws(() => decodeControlValue('alignment.layers', encodeControlValue(bad)), { message: /malformed layer pairs/ }, JSON.stringify(bad));
  }
  const task = (selection: unknown) => JSON.stringify({ id: 0, label: 'layers', models: { a: '/a', b: '/b' }, seed: 1, part: { kind: 'alignment.layers', selection } });
  t.notThrows(() => parseControlTask(task({ a: [0, 1], b: [1, 0], sign: [1, -1] })));
  t.notThrows(() => parseControlTask(task({ a: [0, 1], b: [0, 1], sign: [1, 1], probes: [[3, 4], [7, 7]] })));
  t.throws(() => parseControlTask(task({ a: [0, 1], b: [0], sign: [1, 1] })), { message: /alignment.layers: selection/ });
  t.throws(() => parseControlTask(task({ a: [0, 2], b: [0, 2], sign: [1, 1], probes: [[3, 4], [7, 7]] })), { message: /alignment.layers: probes/ });
  t.throws(() => parseControlTask(task(null)), { message: /alignment.layers: selection/ });
});
