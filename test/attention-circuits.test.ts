/**
 * Attention heads compared as circuits (core/src/align/circuits.ts attentionCircuits): a head's q, k,
 * v and o rows are defined only up to edits that keep what it computes (each RoPE plane of q and k
 * turned and scaled together, v rotated inside its KV group with o alike). Compared row by row,
 * such a copy's heads read as new; compared as QK = W_qᵀW_k and OV = W_oW_v, as the same heads.
 */
import test from 'ava';
import { join } from 'node:path';
import { openCheckpoint } from '../core/src/checkpoint/folder.ts';
import { ModelView } from '../core/src/align/model-view.ts';
import { attentionRowUnits, similarities, type UnitBuilder } from '../core/src/align/units.ts';
import { attentionCircuits } from '../core/src/align/circuits.ts';
import { compareModels } from '../core/src/compare/model-report.ts';
import { readTensor, rewrite } from '../core/src/synth/rewrite.ts';
import { addNoise, regroupKvHeads, rotateQueryKeyPlanes, rotateValueHeads } from '../core/src/synth/transforms.ts';
import { tempDir } from './helpers/tmpdir.ts';
import { assertKeepsFunction, modelAndIndependent, smallModel } from './helpers/edits.ts';

/** Head i of A against head i of B: the diagonal of their similarities. */
function sameHeadSimilarity(ua: UnitBuilder, ub: UnitBuilder, dims: Int32Array): number {
  const x = ua.build(dims, null);
  const y = ub.build(dims, null);
  const sim = similarities(x, null, y);
  let total = 0;
  for (let h = 0; h < x.count; h++) total += sim[h * y.count + h]!;
  return total / x.count;
}

test('turning and scaling the RoPE planes of q and k keeps the function, and changes every query and key row', (t) => {
  const { a, b: turned } = assertKeepsFunction(t, smallModel(11), (src, out) => rotateQueryKeyPlanes(src, out, 12));
  for (const role of ['q_proj', 'k_proj']) {
    const before = readTensor(openCheckpoint(a), `model.layers.1.self_attn.${role}.weight`);
    const after = readTensor(openCheckpoint(turned), `model.layers.1.self_attn.${role}.weight`);
    const rows = before.length / 64;
    let moved = 0;
    for (let r = 0; r < rows; r++) if (before.subarray(r * 64, (r + 1) * 64).some((x, c) => Math.abs(x - after[r * 64 + c]!) > 1e-4)) moved++;
    t.is(moved, rows, `${role}: every row changed`);
  }
});

test('a head\'s circuits are what its function keeps: the same for a copy whose q/k planes are turned and values rotated, where its rows are not', (t) => {
  const base = smallModel(13);
  const root = tempDir();
  const edited = rotateValueHeads(rotateQueryKeyPlanes(base, join(root, 'p'), 14), join(root, 'pv'), 15);
  const [a, b] = [new ModelView(openCheckpoint(base)), new ModelView(openCheckpoint(edited))];
  try {
    const dims = Int32Array.from({ length: 64 }, (_, i) => i);
    const headDim = a.attention()!.headDim;
    const rows = sameHeadSimilarity(attentionRowUnits({ view: a, layer: 1, dims }, headDim)!.heads, attentionRowUnits({ view: b, layer: 1, dims }, headDim)!.heads, dims);
    const circuits = sameHeadSimilarity(attentionCircuits({ view: a, layer: 1, dims }, headDim)!, attentionCircuits({ view: b, layer: 1, dims }, headDim)!, dims);
    t.true(rows < 0.3, `head rows' similarity ${rows}`);
    t.true(circuits > 0.9999, `head circuits' similarity ${circuits}`);
  } finally {
    a.close();
    b.close();
  }
});

test('circuits built through the dots kernel equal the products written out, for any dimensions, signs and heads', (t) => {
  const view = new ModelView(openCheckpoint(smallModel(16)));
  try {
    const kept = Int32Array.from([3, 9, 10, 22, 31, 40, 41, 57, 63]);
    const builder = attentionCircuits({ view, layer: 0, dims: kept }, view.attention()!.headDim)!;
    t.is(builder.count, 4);
    const shuffledDims = Int32Array.from([40, 3, 63, 10, 9, 57, 22, 41, 31]);
    const sign = Float32Array.from(kept, (_, i) => (i % 3 === 0 ? -1 : 1));
    // Every loaded dimension once without signs (a null's shuffle: one pass), and any other cut.
    for (const [dims, s, only] of [[kept, null, null], [shuffledDims, null, Int32Array.from([0, 2])], [shuffledDims, sign, null], [kept.subarray(2, 7), null, null], [kept.subarray(2, 7), sign.subarray(0, 5), Int32Array.from([1, 3])]] as const) {
      const fast = builder.build(dims, s, only);
      const slow = builder.buildReference(dims, s, only);
      t.is(fast.width, builder.widthFor(dims));
      t.is(fast.width, slow.width);
      t.is(fast.data.length, (only ? only.length : 4) * fast.width);
      let worst = 0;
      fast.data.forEach((x, i) => { worst = Math.max(worst, Math.abs(x - slow.data[i]!)); });
      t.true(worst < 1e-5, `largest difference ${worst}`);
    }
    t.throws(() => builder.build(Int32Array.from([0]), null), { message: /not loaded/ });
  } finally {
    view.close();
  }
});

test('the attention cells see through turned q/k planes and rotated values after a fine-tune; A\'s attention alone in independent blocks is partially derived', async (t) => {
  const { root } = modelAndIndependent(17);
  const edit = (src: string, name: string) => rotateValueHeads(rotateQueryKeyPlanes(src, join(root, `${name}-p`), 18), join(root, `${name}-pv`), 19);
  const copy = await compareModels(join(root, 'a'), addNoise(edit(join(root, 'a'), 'copy'), join(root, 'copy'), 0.02, 20), { threads: 1 });
  const attention = copy.controls!.alignment!.components.find((c) => c.component === 'attention')!;
  t.is(attention.finding, 'related');
  t.true(attention.medianStatistic! > 0.9, `matched heads' median similarity ${attention.medianStatistic} (null ${attention.medianNull})`);
  t.is(copy.verdict.label, 'derived', copy.verdict.summary);

  // A's attention (edited) on the independent model's embedding and MLP.
  const a = openCheckpoint(edit(join(root, 'a'), 'att'));
  rewrite(join(root, 'i'), join(root, 'spliced'), (name, s, v) => [{ name, shape: s, values: /self_attn/.test(name) ? readTensor(a, name) : v }]);
  const spliced = await compareModels(join(root, 'a'), addNoise(join(root, 'spliced'), join(root, 'spliced-f'), 0.02, 21), { threads: 1 });
  const finding = (name: string) => spliced.controls!.alignment!.components.find((c) => c.component === name)?.finding;
  t.is(finding('attention'), 'related', spliced.verdict.summary);
  t.is(finding('dense MLP'), 'unrelated');
  t.is(spliced.verdict.label, 'partially-derived', spliced.verdict.summary);

  const independent = await compareModels(join(root, 'a'), join(root, 'i'), { threads: 1 });
  t.is(independent.controls!.alignment!.components.find((c) => c.component === 'attention')!.finding, 'unrelated');
  t.is(independent.verdict.label, 'independent', independent.verdict.summary);
});

test('KV heads copied to every query head (GQA to MHA) keep the function and the heads\' circuits; pooled ones (MHA to GQA) keep the attention related', async (t) => {
  const { a, b: expanded } = assertKeepsFunction(t, smallModel(32), (src, out) => regroupKvHeads(src, out, 4));
  t.is(openCheckpoint(expanded).config!.num_key_value_heads, 4);
  const copy = await compareModels(a, expanded, { threads: 1 });
  const attention = (r: typeof copy) => r.controls!.alignment!.components.find((c) => c.component === 'attention')!;
  t.true(attention(copy).medianStatistic! > 0.999, `${attention(copy).medianStatistic}`);
  const pooled = await compareModels(expanded, addNoise(regroupKvHeads(expanded, join(tempDir(), 'pooled'), 1), join(tempDir(), 'pooled-f'), 0.01, 33), { threads: 1 });
  t.is(attention(pooled).finding, 'related', pooled.verdict.summary);
  t.is(pooled.verdict.label, 'derived', pooled.verdict.summary);
});
