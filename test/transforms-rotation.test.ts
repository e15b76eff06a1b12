/**
 * The rotation of the residual stream (core/src/synth/transforms.ts rotateHidden, QuaRot-style):
 * it keeps the function (our forward pass gives the same logits, on a synthetic model with its own
 * head and on a real one with tied embeddings); the shared tokens' embedding geometry sees through
 * it (align/geometry.ts), so a rotated copy is partially derived, not independent. That it is not
 * found derived (the blocks are not compared in B's basis) is the known gap in the labelled set
 * (bench/eval-set.ts ROTATION_GAP), run there as a known failure.
 */
import test from 'ava';
import { join } from 'node:path';
import { allLogits, loadLlamaWeights } from '../core/src/behaviour/index.ts';
import { openCheckpoint } from '../core/src/checkpoint/folder.ts';
import { synthesize } from '../core/src/synth/synth.ts';
import { readTensor } from '../core/src/synth/rewrite.ts';
import { addNoise, rotateHidden } from '../core/src/synth/transforms.ts';
import { compareModels } from '../core/src/compare/model-report.ts';
import { decodeControlValue, encodeControlValue } from '../core/src/controls/wire.ts';
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

test('a rotated, fine-tuned copy is partially derived through its embedding geometry; an independent model with the same shapes stays independent', async (t) => {
  const root = tempDir();
  const shape = { layers: 2, hidden: 96, intermediate: 256, heads: 4, kvHeads: 2, vocab: 1500 };
  synthesize('base', { out: join(root, 'a'), shape, seed: 7 });
  synthesize('independent', { out: join(root, 'i'), like: join(root, 'a') });
  const rotated = addNoise(rotateHidden(join(root, 'a'), join(root, 'r'), 8), join(root, 'rf'), 0.01, 9);
  const copy = await compareModels(join(root, 'a'), rotated, { threads: 1 });
  t.true(copy.controls!.alignment!.hidden!.embeddingGeometry!.cka > 0.999);
  t.is(copy.verdict.label, 'partially-derived', copy.verdict.summary);
  t.regex(copy.verdict.summary, /token embeddings are A's in a rotated hidden basis/);
  const embedding = copy.verdict.components.find((c) => c.component === 'embedding')!;
  t.is(embedding.finding, 'related');
  t.is(embedding.channel, 'embedding geometry');
  t.false(copy.verdict.components.some((c) => c.finding === 'unrelated'), 'no block is called new from tests made in the wrong basis');
  t.is(copy.verdict.evidence.find((e) => e.signal.startsWith('embedding geometry'))!.weight, 1);

  const independent = await compareModels(join(root, 'a'), join(root, 'i'), { threads: 1 });
  t.true(independent.controls!.alignment!.hidden!.embeddingGeometry!.cka < 0.5);
  t.is(independent.verdict.label, 'independent', independent.verdict.summary);
  t.is(independent.verdict.evidence.find((e) => e.signal.startsWith('embedding geometry'))!.weight, 0);
});

test('a hidden alignment answer whose embedding geometry is not a CKA in [0, 1] is refused', (t) => {
  const answer = (geometry: unknown) => ({ hidden: { kind: 'none', embeddingGeometry: geometry }, selection: null, unreadable: [], seconds: 0.1 });
  t.notThrows(() => decodeControlValue('alignment.hidden', encodeControlValue(answer({ cka: 0.5, tokens: 256 }))));
  t.notThrows(() => decodeControlValue('alignment.hidden', encodeControlValue(answer(null))));
  for (const bad of [{ cka: 2, tokens: 256 }, { cka: -0.1, tokens: 256 }, { cka: '1', tokens: 256 }, { cka: 0.5 }, 'high']) {
    t.throws(() => decodeControlValue('alignment.hidden', encodeControlValue(answer(bad))), { message: /malformed embedding geometry/ }, JSON.stringify(bad));
  }
});
