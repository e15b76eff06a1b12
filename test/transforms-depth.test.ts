/**
 * Depth edits: keepLayers with a layer listed twice copies it (depth up-scaling); LLaMA Pro's
 * block expansion inserts such copies with their output projections trained from zero. The
 * verdict pairs layers through the layer alignment and finds the inserted blocks' inputs reused.
 */
import test from 'ava';
import { join } from 'node:path';
import { openCheckpoint } from '../core/src/checkpoint/folder.ts';
import { compareModels } from '../core/src/compare/model-report.ts';
import { readTensor } from '../core/src/synth/rewrite.ts';
import { addNoise, expandBlocks, keepLayers } from '../core/src/synth/transforms.ts';
import { modelAndIndependent } from './helpers/edits.ts';

const q = (dir: string, layer: number) => readTensor(openCheckpoint(dir), `model.layers.${layer}.self_attn.q_proj.weight`);
const o = (dir: string, layer: number) => readTensor(openCheckpoint(dir), `model.layers.${layer}.self_attn.o_proj.weight`);

test('a layer listed twice is copied, in order', (t) => {
  const { root, a } = modelAndIndependent(51);
  const out = keepLayers(a, join(root, 'k'), [0, 1, 1]);
  t.is(openCheckpoint(out).config!.num_hidden_layers, 3);
  t.deepEqual(q(out, 2), q(a, 1));
  t.deepEqual(q(out, 1), q(a, 1));
  t.deepEqual(q(out, 0), q(a, 0));
});

test('block expansion (LLaMA Pro): copies inserted with fresh outputs; the expanded, fine-tuned model is derived, its layers paired through the layer alignment', async (t) => {
  const { root, a } = modelAndIndependent(52);
  const expanded = expandBlocks(a, join(root, 'x'), 1, 53);
  t.is(openCheckpoint(expanded).config!.num_hidden_layers, 4, 'a copy after each of the 2 layers');
  t.deepEqual(q(expanded, 1), q(a, 0), 'the copy reads as its layer did');
  t.notDeepEqual(o(expanded, 1), o(a, 0), 'its outputs are new');
  t.deepEqual(o(expanded, 2), o(a, 1));
  const report = await compareModels(a, addNoise(expanded, join(root, 'xf'), 0.01, 54), { threads: 1 });
  t.is(report.verdict.label, 'derived', report.verdict.summary);
  t.is(report.controls!.alignment!.layerPairing, 'layer alignment', 'raw rows pair it: no circuits task');
  const attention = report.controls!.alignment!.components.find((c) => c.component === 'attention')!;
  t.is(attention.finding, 'related');
});
