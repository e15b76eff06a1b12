/** The verdict on the labelled set (bench/eval-set.ts), exact and sampled at F = 0.1. */
import test from 'ava';
import { compareModels } from '../core/src/compare/model-report.ts';
import { buildEvalSet } from '../bench/eval-set.ts';
import { tempDir } from './helpers/tmpdir.ts';
import { sharedDataPresent, sharedPath, SKIP_REASON } from './helpers/shared-data.ts';

const pairs = buildEvalSet(tempDir(), sharedDataPresent ? sharedPath('models') : undefined);
if (!sharedDataPresent) test('real pairs of the labelled set', (t) => { t.log(SKIP_REASON); t.pass(); });

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
