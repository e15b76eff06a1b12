/**
 * A softmax sees only differences between its logits: one vector added to every row of a softmax
 * router, or of the lm_head, changes no expert choice, no routing weight and no token probability
 * (shiftSoftmaxRows). Compared as they are, such rows turn towards the common vector and a copy's
 * router and lm_head fall to chance; compared less their mean row (align/units.ts withoutMeanRow),
 * they are the same rows.
 */
import test from 'ava';
import { join } from 'node:path';
import { allLogits, loadLlamaWeights } from '../core/src/behaviour/index.ts';
import { openCheckpoint } from '../core/src/checkpoint/folder.ts';
import { compareModels } from '../core/src/compare/model-report.ts';
import { readTensor } from '../core/src/synth/rewrite.ts';
import { Random } from '../core/src/synth/random.ts';
import { synthesize } from '../core/src/synth/synth.ts';
import { addNoise, shiftSoftmaxRows } from '../core/src/synth/transforms.ts';
import { smallModel } from './helpers/edits.ts';
import { tempDir } from './helpers/tmpdir.ts';

function logSoftmax(row: ArrayLike<number>): number[] {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) max = Math.max(max, row[i]!);
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i]! - max);
  return Array.from(row, (x) => x - max - Math.log(sum));
}

/** Top-k experts and their softmax weights for input x under router W (experts × hidden). */
function route(w: Float32Array, experts: number, x: Float64Array, k: number): { chosen: number[]; weights: number[] } {
  const logits = Array.from({ length: experts }, (_, e) => { let s = 0; for (let c = 0; c < x.length; c++) s += w[e * x.length + c]! * x[c]!; return s; });
  const p = logSoftmax(logits).map(Math.exp);
  const chosen = [...p.keys()].sort((i, j) => p[j]! - p[i]!).slice(0, k);
  return { chosen, weights: chosen.map((e) => p[e]!) };
}

test('shifting every row of the lm_head by one vector keeps every token probability, and moves every logit', (t) => {
  const base = smallModel(41);
  const shifted = shiftSoftmaxRows(base, join(tempDir(), 's'), 42);
  const tokens = [1, 17, 42, 7, 99, 3];
  const before = allLogits(loadLlamaWeights(base), tokens);
  const after = allLogits(loadLlamaWeights(shifted), tokens);
  let moved = 0;
  let worst = 0;
  before.forEach((row, i) => {
    moved = Math.max(moved, Math.abs(row[0]! - after[i]![0]!));
    const [p, q] = [logSoftmax(row), logSoftmax(after[i]!)];
    p.forEach((x, k) => { worst = Math.max(worst, Math.abs(x - q[k]!)); });
  });
  t.true(moved > 0.1, `a logit moved by ${moved}`);
  t.true(worst < 1e-3, `largest log-probability difference ${worst}`);
});

test('shifting every router row by one vector keeps every expert choice and routing weight', (t) => {
  const root = tempDir();
  synthesize('base', { out: join(root, 'm'), shape: { layout: 'moe', layers: 1, hidden: 64, experts: 8, moeIntermediate: 32, vocab: 300, dtype: 'F32' }, seed: 43 });
  const shifted = shiftSoftmaxRows(join(root, 'm'), join(root, 's'), 44);
  const name = openCheckpoint(join(root, 'm')).tensors.find((x) => /mlp\.gate\.weight$/.test(x.name))!.name;
  const [wa, wb] = [readTensor(openCheckpoint(join(root, 'm')), name), readTensor(openCheckpoint(shifted), name)];
  t.true(wa.some((x, i) => Math.abs(x - wb[i]!) > 1e-3), 'the router rows changed');
  const random = new Random(45, 'inputs');
  for (let n = 0; n < 20; n++) {
    const x = Float64Array.from({ length: 64 }, () => random.normal());
    const [ra, rb] = [route(wa, 8, x, 2), route(wb, 8, x, 2)];
    t.deepEqual(rb.chosen, ra.chosen);
    ra.weights.forEach((w, i) => t.true(Math.abs(w - rb.weights[i]!) < 1e-4, `weight ${w} vs ${rb.weights[i]}`));
  }
});

test('a copy with its router and lm_head rows shifted, fine-tuned, keeps both components related and is derived', async (t) => {
  const root = tempDir();
  synthesize('base', { out: join(root, 'm'), shape: { layout: 'moe', layers: 2, hidden: 96, heads: 4, kvHeads: 2, experts: 4, moeIntermediate: 64, vocab: 1500 }, seed: 46 });
  const copy = await compareModels(join(root, 'm'), addNoise(shiftSoftmaxRows(join(root, 'm'), join(root, 's'), 47), join(root, 'sf'), 0.01, 48), { threads: 1 });
  const component = (name: string) => copy.controls!.alignment!.components.find((c) => c.component === name)!;
  for (const name of ['router', 'lm_head']) {
    t.is(component(name).finding, 'related', `${name}: ${copy.verdict.summary}`);
    t.true(component(name).medianStatistic! > 0.9, `${name}: median ${component(name).medianStatistic}`);
  }
  t.is(copy.verdict.label, 'derived', copy.verdict.summary);
});
