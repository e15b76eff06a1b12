/** `npm run eval`: the verdict on the labelled set, exact and sampled (--sample 0.1), with accuracy. */
import { fileURLToPath } from 'node:url';
import { compareModels } from '../core/src/compare/model-report.ts';
import { buildEvalSet, DEFAULT_EVAL_ROOT } from './eval-set.ts';

const shared = fileURLToPath(new URL('../../shared/data/models/', import.meta.url));
const pairs = buildEvalSet(DEFAULT_EVAL_ROOT, shared);
for (const sample of [undefined, 0.1]) {
  let right = 0;
  console.log(sample ? `\nsampled (--sample ${sample})` : 'exact');
  for (const pair of pairs) {
    const report = await compareModels(pair.a, pair.b, { sample, hash: sample ? 'xxh3-128' : 'xxh3-128' });
    const ok = report.verdict.label === pair.expected;
    right += ok ? 1 : 0;
    console.log(`  ${ok ? 'ok  ' : 'MISS'} ${pair.name.padEnd(56)} expected ${pair.expected.padEnd(17)} got ${report.verdict.label} (${report.verdict.confidence})`);
  }
  console.log(`  accuracy ${right}/${pairs.length} = ${((100 * right) / pairs.length).toFixed(0)}%`);
}
