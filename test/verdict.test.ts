/** The verdict on the labelled set (bench/eval-set.ts), exact and sampled at F = 0.1. */
import test from 'ava';
import { compareModels } from '../core/src/compare/model-report.ts';
import { buildEvalSet } from '../bench/eval-set.ts';
import { tempDir } from './helpers/tmpdir.ts';
import { sharedDataPresent, sharedPath, SKIP_REASON } from './helpers/shared-data.ts';

const pairs = buildEvalSet(tempDir(), sharedDataPresent ? sharedPath('models') : undefined);
if (!sharedDataPresent) test.skip(`real pairs of the labelled set (skipped: ${SKIP_REASON})`, () => {});

for (const pair of pairs) {
  test(`${pair.name}: ${pair.expected}, exact and with --sample 0.1`, async (t) => {
    const exact = await compareModels(pair.a, pair.b);
    t.is(exact.verdict.label, pair.expected, exact.verdict.summary);
    t.true(exact.verdict.confidence > 0.5);
    t.true(exact.verdict.evidence.length >= 3);
    t.true(exact.verdict.evidence.every((e) => e.signal && e.baseline !== undefined && e.weight >= 0 && e.explanation));
    const sampled = await compareModels(pair.a, pair.b, { sample: 0.1, seed: 3 });
    t.is(sampled.verdict.label, exact.verdict.label, 'sampling at 10% does not change the verdict');
  });
}

test('components: a partial reuse names what was copied', async (t) => {
  const pair = pairs.find((p) => p.expected === 'partially-derived')!;
  const { verdict, weights } = await compareModels(pair.a, pair.b);
  const embedding = verdict.components.find((c) => c.component === 'embedding')!;
  t.is(embedding.finding, 'copied');
  t.is(verdict.components.find((c) => c.component === 'attention')!.finding, 'mixed');
  t.true(weights.summary.identical > 0, 'byte-identical tensors are reported');
});

test('controls: layer alignment finds the duplicated layer; norms sit at their null when unrelated', async (t) => {
  const byName = (s: string) => pairs.find((p) => p.name.startsWith(s))!;
  const upscaled = await compareModels(byName('depth up-scaled').a, byName('depth up-scaled').b);
  const alignment = upscaled.controls!.layers[0]!;
  t.is(alignment.pattern, 'duplicated');
  t.deepEqual(alignment.alignment.map((x) => x.a), [0, 1, 1, 2]);
  t.regex(upscaled.verdict.summary, /depth changed/);
  const light = await compareModels(byName('light').a, byName('light').b);
  t.is(light.controls!.layers[0]!.pattern, 'identity');
  const independent = await compareModels(byName('independent').a, byName('independent').b);
  t.is(independent.controls!.layers[0]!.pattern, 'none');
  t.true(Object.values(independent.controls!.baselines)[0]!.every((p) => Math.abs(p.mean) < 0.05), 'layers of one model are unrelated to each other');
  for (const norm of independent.controls!.norms.tensors) {
    t.true(norm.cosine! > 0.99, 'the trap: raw cosine near 1');
    t.true(Math.abs(norm.cosine! - norm.nullMean!) < 5 * norm.nullSd!, `${norm.name}: raw cosine ${norm.cosine} at its null ${norm.nullMean} ± ${norm.nullSd}`);
    t.true(Math.abs(norm.z!) < 5);
  }
});

test('controls: reordered experts are matched through the router; an extended vocabulary through its shared rows', async (t) => {
  const byName = (s: string) => pairs.find((p) => p.name.startsWith(s))!;
  const reordered = await compareModels(byName('MoE fine-tune with its experts').a, byName('MoE fine-tune with its experts').b);
  const byIndex = reordered.weights.tensors.filter((x) => x.group === 'routed_expert');
  t.true(byIndex.filter((x) => Math.abs(x.centeredCosine!) < 0.1).length >= byIndex.length / 2, 'by index, most experts look unrelated');
  for (const layer of reordered.controls!.experts) {
    t.true(layer.permuted);
    t.true(layer.pValue <= 0.01);
    t.deepEqual(layer.assignment.map((x) => x.b), [1, 3, 0, 2], 'B holds A\'s experts in the order 2, 0, 3, 1');
  }
  t.is(reordered.verdict.label, 'derived');
  const extended = await compareModels(byName('vocabulary extended').a, byName('vocabulary extended').b);
  t.true(extended.controls!.embeddings!.z! > 10);
  t.is(extended.verdict.components.find((c) => c.component === 'embedding')!.finding, 'related');
  const unrelated = await compareModels(byName('independent, same config, 73%').a, byName('independent, same config, 73%').b);
  t.is(unrelated.controls!.embeddings, null, 'shared tokens keep their ids here: rows pair by id');
  t.is(unrelated.verdict.components.find((c) => c.component === 'embedding')!.finding, 'unrelated');
});

test('controls: MLP neurons reordered are matched whatever their order; independent MLPs stay at the null', async (t) => {
  const byName = (s: string) => pairs.find((p) => p.name.startsWith(s))!;
  const permuted = await compareModels(byName('fine-tune with its MLP neurons').a, byName('fine-tune with its MLP neurons').b);
  const n = permuted.controls!.neurons!;
  t.true(n.sameIndexShare < 0.5, 'the best matches are not at the same index');
  t.true(n.pValue <= 0.05 && (n.statistic - n.nullMean) / n.nullSd > 5, `statistic ${n.statistic} vs ${n.nullMean} ± ${n.nullSd}`);
  t.true(permuted.weights.tensors.filter((x) => x.group === 'mlp').every((x) => Math.abs(x.centeredCosine!) < 0.1), 'by index the MLP looks unrelated');
  t.is(permuted.verdict.label, 'derived');
  const independent = await compareModels(byName('independent, same config (norms').a, byName('independent, same config (norms').b);
  const m = independent.controls!.neurons!;
  t.true((m.statistic - m.nullMean) / m.nullSd < 5, `independent: ${m.statistic} vs ${m.nullMean} ± ${m.nullSd}`);
});
