/**
 * `npm run eval`: the verdict on the labelled set, exact and sampled (--sample 0.1), with accuracy
 * and each case's margin; then the calibration table of the aligned tests on independent pairs
 * (bench/calibration.ts). `npm run eval -- --calibration-only` prints the table alone.
 */
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { compareModels } from '../core/src/compare/model-report.ts';
import { buildEvalSet, DEFAULT_EVAL_ROOT } from './eval-set.ts';
import { formatCalibration, runCalibration } from './calibration.ts';
import type { Verdict } from '../core/src/verdict/verdict.ts';

const shared = fileURLToPath(new URL('../../shared/data/models/', import.meta.url));

/** How far a case is from flipping: for reused components, −log10 of the largest p; else the smallest p. */
function margin(v: Verdict): string {
  const ps = v.components.filter((c) => c.pValue !== null && c.pValue !== undefined);
  const reused = ps.filter((c) => c.finding === 'related' || c.finding === 'mixed');
  const fresh = ps.filter((c) => c.finding === 'unrelated');
  const parts: string[] = [];
  if (reused.length) parts.push(`reused: largest p ${Math.max(...reused.map((c) => c.pValue!)).toExponential(1)}`);
  if (fresh.length) parts.push(`unrelated: smallest p ${Math.min(...fresh.map((c) => c.pValue!)).toExponential(1)}`);
  return parts.join('; ') || 'no aligned components';
}

if (!process.argv.includes('--calibration-only')) {
  const pairs = buildEvalSet(DEFAULT_EVAL_ROOT, shared);
  for (const sample of [undefined, 0.1]) {
    let right = 0;
    console.log(sample ? `\nsampled (--sample ${sample})` : 'exact');
    for (const pair of pairs) {
      const report = await compareModels(pair.a, pair.b, { sample });
      const ok = report.verdict.label === pair.expected;
      right += ok ? 1 : 0;
      console.log(`  ${ok ? 'ok  ' : 'MISS'} ${pair.name.padEnd(64)} expected ${pair.expected.padEnd(17)} got ${report.verdict.label} (${report.verdict.confidence}); ${margin(report.verdict)}`);
    }
    console.log(`  accuracy ${right}/${pairs.length} = ${((100 * right) / pairs.length).toFixed(0)}%`);
  }
}
const started = Date.now();
console.log(`\n${formatCalibration(runCalibration(join(DEFAULT_EVAL_ROOT, 'calibration'), 12, shared))}`);
console.log(`  (${((Date.now() - started) / 1000).toFixed(0)} s)`);
