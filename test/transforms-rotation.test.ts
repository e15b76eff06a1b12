/**
 * The rotation of the residual stream (core/src/synth/transforms.ts rotateHidden, QuaRot-style):
 * it keeps the function (our forward pass gives the same logits, on a synthetic model with its own
 * head and on a real one with tied embeddings), and the verdict does not yet see through it: the
 * known gap is in the labelled set (bench/eval-set.ts ROTATION_GAP), run there as a known failure.
 */
import test from 'ava';
import { join } from 'node:path';
import { allLogits, loadLlamaWeights } from '../core/src/behaviour/index.ts';
import { openCheckpoint } from '../core/src/checkpoint/folder.ts';
import { synthesize } from '../core/src/synth/synth.ts';
import { readTensor } from '../core/src/synth/rewrite.ts';
import { rotateHidden } from '../core/src/synth/transforms.ts';
import { SKIP_REASON, sharedDataPresent, sharedPath } from './helpers/shared-data.ts';
import { tempDir } from './helpers/tmpdir.ts';

function largestLogitDifference(a: string, b: string): { worst: number; scale: number } {
  const tokens = [1, 17, 42, 7, 99, 3, 64, 12];
  const before = allLogits(loadLlamaWeights(a), tokens);
  const after = allLogits(loadLlamaWeights(b), tokens);
  let worst = 0;
  let scale = 0;
  before.forEach((row, i) => row.forEach((x, k) => { worst = Math.max(worst, Math.abs(x - after[i]![k]!)); scale = Math.max(scale, Math.abs(x)); }));
  return { worst, scale };
}

test('rotating the residual stream keeps the function of a synthetic model, and leaves no dimension in place', (t) => {
  const root = tempDir();
  synthesize('base', { out: join(root, 'a'), shape: { layers: 2, hidden: 64, intermediate: 128, heads: 4, kvHeads: 2, vocab: 300, dtype: 'F32' }, seed: 3 });
  const rotated = rotateHidden(join(root, 'a'), join(root, 'r'), 5);
  const { worst, scale } = largestLogitDifference(join(root, 'a'), rotated);
  t.true(scale > 0.01);
  t.true(worst < 1e-4 * Math.max(1, scale), `largest logit difference ${worst} (logits up to ${scale})`);
  // Each hidden dimension of B's embedding correlates with none of A's one to one.
  const ea = readTensor(openCheckpoint(join(root, 'a')), 'model.embed_tokens.weight');
  const eb = readTensor(openCheckpoint(rotated), 'model.embed_tokens.weight');
  let best = 0;
  for (let i = 0; i < 64; i++) for (let j = 0; j < 64; j++) {
    let ab = 0, aa = 0, bb = 0;
    for (let r = 0; r < 300; r++) { const x = ea[r * 64 + i]!, y = eb[r * 64 + j]!; ab += x * y; aa += x * x; bb += y * y; }
    best = Math.max(best, Math.abs(ab) / Math.sqrt(aa * bb));
  }
  t.true(best < 0.7, `best one-to-one column correlation ${best}`);
});

(sharedDataPresent ? test : test.skip)(`rotating the residual stream keeps the function of a real model with tied embeddings${sharedDataPresent ? '' : ` (${SKIP_REASON})`}`, (t) => {
  const base = sharedPath('models/babyllama-105');
  const rotated = rotateHidden(base, join(tempDir(), 'r'), 3);
  const { worst, scale } = largestLogitDifference(base, rotated);
  t.true(worst < 1e-4 * Math.max(1, scale), `largest logit difference ${worst} (logits up to ${scale})`);
  t.false(openCheckpoint(rotated).config!.tie_word_embeddings as boolean, 'the head is untied to take the final norm');
});
