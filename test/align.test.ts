/**
 * The aligned tests (core/src/align): the edits they must see through really keep the function
 * (checked with our own forward pass on real weights), the hidden permutation is recovered, the
 * statistics are right, and independent pairs stay at the null (a small calibration run; the full
 * table is `npm run eval`).
 */
import test from 'ava';
import { join } from 'node:path';
import { openCheckpoint } from '../core/src/checkpoint/folder.ts';
import { alignHidden } from '../core/src/align/hidden.ts';
import { alignModels } from '../core/src/align/index.ts';
import { ModelView } from '../core/src/align/model-view.ts';
import { fisherCombine, predictivePValue, studentUpperTail } from '../core/src/align/stats.ts';
import { allLogits, loadLlamaWeights } from '../core/src/behaviour/index.ts';
import { shuffled } from '../core/src/synth/rewrite.ts';
import { permuteHeads, permuteHidden, permuteNeurons, rescale } from '../core/src/synth/transforms.ts';
import { formatCalibration, runCalibration } from '../bench/calibration.ts';
import { SKIP_REASON, sharedDataPresent, sharedPath } from './helpers/shared-data.ts';
import { tempDir } from './helpers/tmpdir.ts';

const real = sharedDataPresent ? test : test.skip;
const realTitle = (title: string) => (sharedDataPresent ? title : `${title} (${SKIP_REASON})`);

test('stats: Student t tail and Fisher combination against known values', (t) => {
  t.true(Math.abs(studentUpperTail(0, 5) - 0.5) < 1e-12);
  // t(10) = 2.228 is the two-sided 5% point: upper tail 0.025.
  t.true(Math.abs(studentUpperTail(2.228, 10) - 0.025) < 2e-4);
  t.true(Math.abs(studentUpperTail(-2.228, 10) - 0.975) < 2e-4);
  // One p-value combines to itself; two of 0.05 give χ²(4) upper tail at 11.98 = 0.0175.
  t.true(Math.abs(fisherCombine([0.3]) - 0.3) < 1e-12);
  t.true(Math.abs(fisherCombine([0.05, 0.05]) - 0.017479) < 1e-5);
  const draws = [0.1, 0.11, 0.09, 0.1, 0.12, 0.08];
  t.true(predictivePValue(0.5, draws, 0.005).pValue < 1e-6);
  t.true(predictivePValue(0.1, draws, 0.005).pValue > 0.3);
});

real(realTitle('transforms keep the function: permuted hidden dimension, heads, neurons, rescaling and folded norms give the same logits'), (t) => {
  const dir = tempDir();
  const base = sharedPath('models/babyllama-105');
  const edited = rescale(permuteNeurons(permuteHeads(permuteHidden(base, join(dir, 'h'), 1), join(dir, 'hh'), 2), join(dir, 'hhn'), 3), join(dir, 'all'), 4);
  const tokens = [1, 17, 42, 7, 99, 3, 64, 12];
  const before = allLogits(loadLlamaWeights(base), tokens);
  const after = allLogits(loadLlamaWeights(edited), tokens);
  let worst = 0;
  before.forEach((row, i) => row.forEach((x, k) => { worst = Math.max(worst, Math.abs(x - after[i]![k]!)); }));
  t.true(worst < 1e-3, `largest logit difference ${worst}`);
});

real(realTitle('the hidden permutation of a real model is recovered dimension for dimension'), (t) => {
  const dir = tempDir();
  const base = sharedPath('models/babyllama-105');
  const permuted = permuteHidden(base, join(dir, 'p'), 9);
  const perm = shuffled(128, 9);
  const a = new ModelView(openCheckpoint(base));
  const b = new ModelView(openCheckpoint(permuted));
  const found = alignHidden({ a, b, tokenPairs: null, seed: 1 })!;
  a.close();
  b.close();
  t.is(found.alignment.kind, 'permuted');
  // New dimension i of B is old dimension perm[i]: A's dimension perm[i] maps to i.
  let right = 0;
  perm.forEach((old, i) => { if (found.map.toB[old] === i) right++; });
  t.is(right, 128);
});

real(realTitle('real independent models stay at the null in every component; the same model cast to BF16 is related in every component'), (t) => {
  const independent = alignModels({ a: openCheckpoint(sharedPath('models/babyllama-105')), b: openCheckpoint(sharedPath('models/babyllama-361')), tokenPairs: null, seed: 3 })!;
  t.true(independent.components.length >= 2);
  for (const c of independent.components) t.true(c.pValue > 0.001, `${c.component} p ${c.pValue}`);
  const same = alignModels({ a: openCheckpoint(sharedPath('models/stories260k')), b: openCheckpoint(sharedPath('models/stories260k-bf16')), tokenPairs: null, seed: 3 })!;
  t.is(same.hidden?.kind, 'identity');
  for (const c of same.components) t.true(c.pValue < 1e-6 && c.finding === 'related', `${c.component} p ${c.pValue}`);
});

test('calibration: independent synthetic pairs are called related at about the stated rate or below', (t) => {
  const dir = tempDir();
  const rows = runCalibration(dir, 5);
  t.log(formatCalibration(rows));
  const cells = rows.reduce((s, r) => s + r.cells, 0);
  const related = rows.reduce((s, r) => s + r.cellsRelated, 0);
  t.true(cells >= 100, `${cells} cells`);
  // Level 1%: allow sampling error on ~200-300 cells (binomial sd ≈ 0.6%).
  t.true(related / cells <= 0.03, `${related} of ${cells} cells called related`);
});
