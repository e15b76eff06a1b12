/** Behaviour in the verdict: beside the weights where they were tested, alone where they were not. */
import test from 'ava';
import { judgeWeights } from '../core/src/verdict/verdict.ts';
import type { WeightsSection } from '../core/src/report/weights.ts';
import { compareModels } from '../core/src/compare/model-report.ts';
import { SKIP_REASON, sharedDataPresent, sharedPath } from './helpers/shared-data.ts';

// Nothing comparable: no tensor pairs at all (as when two architectures share no shape).
const noWeights = { tensors: [], summary: {} } as unknown as WeightsSection;

test('weights untestable: behaviour decides alone and the summary says it is the only evidence', (t) => {
  const related = judgeWeights(noWeights, { behaviour: { related: true, pValue: 0.001, agreement: 0.9, reason: 'agreement above the null' } });
  t.is(related.label, 'derived');
  t.regex(related.summary, /behaviour is the only evidence/);
  t.is(related.confidence, 0.999);
  t.truthy(related.components.find((c) => c.component === 'behaviour' && c.finding === 'related'));
  const unrelated = judgeWeights(noWeights, { behaviour: { related: false, pValue: 0.6, agreement: 0.01, reason: 'at the null' } });
  t.is(unrelated.label, 'independent');
  t.regex(unrelated.summary, /only evidence/);
  const none = judgeWeights(noWeights, { behaviour: { related: null, pValue: null, agreement: null, reason: 'no shared vocabulary' } });
  t.is(none.label, 'inconclusive');
  t.regex(none.summary, /lineage probe/);
});

(sharedDataPresent ? test : test.skip)(sharedDataPresent ? 'compare --behaviour on: the same model in two dtypes answers alike, and the verdict says behaviour agrees' : `compare --behaviour on (${SKIP_REASON})`, async (t) => {
  const report = await compareModels(sharedPath('models/stories260k'), sharedPath('models/stories260k-bf16'), { behaviour: 'on', threads: 1 });
  t.is(report.behaviour?.related, true);
  t.is(report.verdict.label, 'derived');
  t.regex(report.verdict.summary, /behaviour agrees/);
  const off = await compareModels(sharedPath('models/stories260k'), sharedPath('models/stories260k-bf16'), { threads: 1 });
  t.is(off.behaviour, null);
});
