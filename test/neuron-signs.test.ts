/**
 * A gated MLP neuron's up row and down column can change sign together without changing what it
 * computes (silu(g·x)·(u·x)·d). Compared as [gate, up, down] rows, a neuron so flipped reads
 * −1/3 against its original and matching finds chance instead; the aligned tests take the better
 * of both signs (core/src/align/units.ts `flipFrom`), for the dense MLP, shared and routed experts.
 */
import test from 'ava';
import { join } from 'node:path';
import { openCheckpoint } from '../core/src/checkpoint/folder.ts';
import { ModelView } from '../core/src/align/model-view.ts';
import { mlpUnits, similarities } from '../core/src/align/units.ts';
import { compareModels } from '../core/src/compare/model-report.ts';
import { readTensor, rewrite } from '../core/src/synth/rewrite.ts';
import { synthesize } from '../core/src/synth/synth.ts';
import { addNoise, flipNeuronSigns } from '../core/src/synth/transforms.ts';
import { tempDir } from './helpers/tmpdir.ts';
import { assertKeepsFunction, modelAndIndependent, smallModel } from './helpers/edits.ts';

test('flipping the signs of up rows with their down columns keeps the function, and changes every up row', (t) => {
  const { a, b: flipped } = assertKeepsFunction(t, smallModel(21), (src, out) => flipNeuronSigns(src, out, 22));
  const before = readTensor(openCheckpoint(a), 'model.layers.0.mlp.up_proj.weight');
  const after = readTensor(openCheckpoint(flipped), 'model.layers.0.mlp.up_proj.weight');
  t.true(before.every((x, i) => x === -after[i]!), 'every up row negated');
});

test('a flipped neuron matches its original at 1 (the better of both signs); the gate alone never flips', (t) => {
  const root = tempDir();
  synthesize('base', { out: join(root, 'a'), shape: { layers: 1, hidden: 64, intermediate: 96, heads: 4, kvHeads: 2, vocab: 300, dtype: 'F32' }, seed: 23 });
  const flipped = flipNeuronSigns(join(root, 'a'), join(root, 'f'), 24);
  const [a, b] = [new ModelView(openCheckpoint(join(root, 'a'))), new ModelView(openCheckpoint(flipped))];
  try {
    const dims = Int32Array.from({ length: 64 }, (_, i) => i);
    const x = mlpUnits({ view: a, layer: 0, dims }, 'mlp')!.build(dims, null);
    const y = mlpUnits({ view: b, layer: 0, dims }, 'mlp')!.build(dims, null);
    t.is(x.flipFrom, 64, 'after the gate block');
    const sim = similarities(x, null, y);
    for (let i = 0; i < x.count; i++) t.true(Math.abs(sim[i * y.count + i]! - 1) < 1e-5, `neuron ${i}: ${sim[i * y.count + i]}`);
    // Without the freedom, the same pairs read −1/3 (gate +1, up −1, down −1).
    const plain = similarities({ ...x, flipFrom: undefined }, null, y);
    t.true(Math.abs(plain[0]! + 1 / 3) < 1e-5, `${plain[0]}`);
  } finally {
    a.close();
    b.close();
  }
});

test('the MLP cells see through flipped neurons: a fine-tuned copy is derived, A\'s MLP alone in independent blocks partially derived, MoE experts alike', async (t) => {
  const { root } = modelAndIndependent(25);
  const finding = (r: Awaited<ReturnType<typeof compareModels>>, name: string) => r.controls!.alignment!.components.find((c) => c.component === name)?.finding;

  const copy = await compareModels(join(root, 'a'), addNoise(flipNeuronSigns(join(root, 'a'), join(root, 'f'), 26), join(root, 'ff'), 0.01, 27), { threads: 1 });
  t.is(finding(copy, 'dense MLP'), 'related', copy.verdict.summary);
  t.is(copy.verdict.label, 'derived', copy.verdict.summary);

  const a = openCheckpoint(join(root, 'f'));
  rewrite(join(root, 'i'), join(root, 'spliced'), (name, s, v) => [{ name, shape: s, values: /\.mlp\./.test(name) ? readTensor(a, name) : v }]);
  const spliced = await compareModels(join(root, 'a'), addNoise(join(root, 'spliced'), join(root, 'spliced-f'), 0.01, 28), { threads: 1 });
  t.is(finding(spliced, 'dense MLP'), 'related', spliced.verdict.summary);
  t.is(finding(spliced, 'attention'), 'unrelated');
  t.is(spliced.verdict.label, 'partially-derived', spliced.verdict.summary);

  synthesize('base', { out: join(root, 'moe'), shape: { layers: 2, hidden: 96, heads: 4, kvHeads: 2, vocab: 1500, layout: 'moe', experts: 4, moeIntermediate: 64 }, seed: 29 });
  const moe = await compareModels(join(root, 'moe'), addNoise(flipNeuronSigns(join(root, 'moe'), join(root, 'moe-f'), 30), join(root, 'moe-ff'), 0.01, 31), { threads: 1 });
  for (const name of ['routed experts', 'shared experts']) t.is(finding(moe, name), 'related', `${name}: ${moe.verdict.summary}`);
  t.is(moe.verdict.label, 'derived', moe.verdict.summary);

  const independent = await compareModels(join(root, 'a'), join(root, 'i'), { threads: 1 });
  t.is(finding(independent, 'dense MLP'), 'unrelated');
  t.is(independent.verdict.label, 'independent', independent.verdict.summary);
});
