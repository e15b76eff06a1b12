/**
 * The rotation of the residual stream (core/src/synth/transforms.ts rotateHidden, QuaRot-style):
 * it keeps the function (our forward pass gives the same logits, on a synthetic model with its own
 * head and on a real one with tied embeddings); the verdict sees through it where the shared
 * tokens' embeddings keep A's geometry (align/geometry.ts): the cells then compare the models in
 * the basis of those embeddings (align/token-basis.ts), so a rotated copy is derived, and a token
 * interface reused on independent blocks is partially derived. The labelled set has both.
 */
import test from 'ava';
import { join } from 'node:path';
import { openCheckpoint } from '../core/src/checkpoint/folder.ts';
import { readTensor, rewrite } from '../core/src/synth/rewrite.ts';
import { symmetricEigen } from '../core/src/stats/eigen.ts';
import { parseControlTask } from '../core/src/controls/tasks.ts';
import { addNoise, rotateHidden, rotateValueHeads } from '../core/src/synth/transforms.ts';
import { compareModels } from '../core/src/compare/model-report.ts';
import { decodeControlValue, encodeControlValue } from '../core/src/controls/wire.ts';
import { SKIP_REASON, sharedDataPresent, sharedPath } from './helpers/shared-data.ts';
import { assertKeepsFunction, modelAndIndependent, smallModel } from './helpers/edits.ts';

test('rotating the value heads (and o columns alike) keeps the function', (t) => {
  const { a, b: rotated } = assertKeepsFunction(t, smallModel(4), (src, out) => rotateValueHeads(src, out, 6));
  const va = readTensor(openCheckpoint(a), 'model.layers.0.self_attn.v_proj.weight');
  const vb = readTensor(openCheckpoint(rotated), 'model.layers.0.self_attn.v_proj.weight');
  t.true(va.some((x, i) => Math.abs(x - vb[i]!) > 1e-3), 'the value rows changed');
});

test('rotating the residual stream keeps the function of a synthetic model, and leaves no dimension in place', (t) => {
  const { a, b: rotated } = assertKeepsFunction(t, smallModel(3), (src, out) => rotateHidden(src, out, 5));
  // Each hidden dimension of B's embedding correlates with none of A's one to one.
  const ea = readTensor(openCheckpoint(a), 'model.embed_tokens.weight');
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
  const { b: rotated } = assertKeepsFunction(t, sharedPath('models/babyllama-105'), (src, out) => rotateHidden(src, out, 3));
  t.false(openCheckpoint(rotated).config!.tie_word_embeddings as boolean, 'the head is untied to take the final norm');
});

test('a rotated, fine-tuned copy is derived through the basis of the shared tokens; a token interface on independent blocks, rotated, is partially derived; an independent model stays independent', async (t) => {
  const { root } = modelAndIndependent(7);
  const rotated = addNoise(rotateHidden(join(root, 'a'), join(root, 'r'), 8), join(root, 'rf'), 0.01, 9);
  const copy = await compareModels(join(root, 'a'), rotated, { threads: 1 });
  const hidden = copy.controls!.alignment!.hidden!;
  t.true(hidden.embeddingGeometry!.cka > 0.999);
  t.is(hidden.rotated?.tokens, 256, 'compared in the basis of 256 shared tokens');
  t.is(copy.verdict.label, 'derived', copy.verdict.summary);
  t.regex(copy.verdict.summary, /compared in the basis of 256 of them/);
  for (const c of copy.verdict.components) t.is(c.finding, 'related', c.component);

  // A's embedding and head on the independent model's blocks, then rotated.
  const a = openCheckpoint(join(root, 'a'));
  rewrite(join(root, 'i'), join(root, 'spliced'), (name, shape2, v) => [{ name, shape: shape2, values: /embed_tokens|lm_head/.test(name) ? readTensor(a, name) : v }]);
  const interfaceOnly = await compareModels(join(root, 'a'), rotateHidden(join(root, 'spliced'), join(root, 'sr'), 10), { threads: 1 });
  t.is(interfaceOnly.verdict.label, 'partially-derived', interfaceOnly.verdict.summary);
  const finding = (name: string) => interfaceOnly.verdict.components.find((c) => c.component === name)!.finding;
  t.is(finding('embedding'), 'related');
  t.is(finding('attention'), 'unrelated', 'the blocks\' cells keep their nulls in the token basis');
  t.is(finding('dense MLP'), 'unrelated');

  const independent = await compareModels(join(root, 'a'), join(root, 'i'), { threads: 1 });
  t.true(independent.controls!.alignment!.hidden!.embeddingGeometry!.cka < 0.6);
  t.is(independent.controls!.alignment!.hidden!.rotated, undefined);
  t.is(independent.verdict.label, 'independent', independent.verdict.summary);
});

test('the symmetric eigen-decomposition behind the token basis: A·v = λ·v to 1e-10', (t) => {
  const n = 30;
  const m = new Float64Array(n * n);
  let s = 3;
  const r = () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 4294967296 - 0.5; };
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) { const x = r(); m[i * n + j] = x; m[j * n + i] = x; }
  const { values, vectors } = symmetricEigen(m, n);
  let worst = 0;
  for (let k = 0; k < n; k++) for (let i = 0; i < n; i++) {
    let y = 0;
    for (let j = 0; j < n; j++) y += m[i * n + j]! * vectors[j * n + k]!;
    worst = Math.max(worst, Math.abs(y - values[k]! * vectors[i * n + k]!));
  }
  t.true(worst < 1e-10, `residual ${worst}`);
});

test('a hidden alignment answer whose embedding geometry, rotated basis or probes are malformed is refused', (t) => {
  const answer = (geometry: unknown) => ({ hidden: { kind: 'none', embeddingGeometry: geometry }, selection: null, unreadable: [], seconds: 0.1 });
  const rotated = (r: unknown, probes: unknown) => ({ hidden: { kind: 'none', rotated: r }, selection: { a: [0, 1], b: [0, 1], sign: [1, 1], probes }, unreadable: [], seconds: 0.1 });
  t.notThrows(() => decodeControlValue('alignment.hidden', encodeControlValue(rotated({ tokens: 2 }, [[5, 5], [9, 8]]))));
  t.throws(() => decodeControlValue('alignment.hidden', encodeControlValue(rotated({ tokens: 'x' }, [[5, 5], [9, 8]]))), { message: /malformed rotated basis/ });
  t.throws(() => decodeControlValue('alignment.hidden', encodeControlValue(rotated({ tokens: 2 }, [[5, 5]]))), { message: /malformed selection/ }, 'a selection index beyond the probes');
  t.throws(() => decodeControlValue('alignment.hidden', encodeControlValue(rotated({ tokens: 2 }, [[5, -1], [9, 8]]))), { message: /malformed selection/ });
  t.notThrows(() => decodeControlValue('alignment.hidden', encodeControlValue(answer({ cka: 0.5, tokens: 256 }))));
  t.notThrows(() => decodeControlValue('alignment.hidden', encodeControlValue(answer(null))));
  for (const bad of [{ cka: 2, tokens: 256 }, { cka: -0.1, tokens: 256 }, { cka: '1', tokens: 256 }, { cka: 0.5 }, 'high']) {
    t.throws(() => decodeControlValue('alignment.hidden', encodeControlValue(answer(bad))), { message: /malformed embedding geometry/ }, JSON.stringify(bad));
  }
});

test('a cells task in the token basis: probes are pairs of rows, and the selection indexes them; anything else is refused', (t) => {
  const task = (selection: unknown) => JSON.stringify({
    id: 0, label: 'cells', models: { a: '/a', b: '/b' }, seed: 1,
    part: { kind: 'alignment.cells', spec: { group: 'attention', pairs: [[0, 0]], allPairs: [[0, 0]], selection, tokenPairs: null, seed: 1, stream: 's' } },
  });
  t.notThrows(() => parseControlTask(task({ a: [0, 1], b: [0, 1], sign: [1, 1], probes: [[3, 4], [7, 7]] })));
  t.throws(() => parseControlTask(task({ a: [0, 2], b: [0, 2], sign: [1, 1], probes: [[3, 4], [7, 7]] })), { message: /probes/ });
  t.throws(() => parseControlTask(task({ a: [0, 1], b: [0, 1], sign: [1, 1], probes: [[3, 4], [7, 'x']] })), { message: /probes/ });
});
