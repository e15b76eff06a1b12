/**
 * RMSNorms that scale by 1 + w (Gemma, Gemma-2, Gemma-3, Qwen3-Next store "zero-centred" weights):
 * the views fold the multiplier the forward pass applies, 1 + w, into the effective matrices, not
 * the stored w. Read raw, a Gemma derivative with its norms folded into the next matrices (w
 * stored as 0: the same function) had every effective input matrix zero, so its attention and MLP
 * could not be compared, and a model written in one convention read against the other had each
 * column scaled by (1 + w)/w.
 */
import test from 'ava';
import { join } from 'node:path';
import { openCheckpoint } from '../core/src/checkpoint/folder.ts';
import { ModelView } from '../core/src/align/model-view.ts';
import { compareModels } from '../core/src/compare/model-report.ts';
import { synthesize } from '../core/src/synth/synth.ts';
import { addNoise, offsetNorms, permuteHeads, rescale } from '../core/src/synth/transforms.ts';
import { tempDir } from './helpers/tmpdir.ts';

test('a view of a Gemma-convention model reads each norm as 1 + w: the effective matrices equal the Llama-convention model\'s', (t) => {
  const root = tempDir();
  const llama = join(root, 'llama');
  synthesize('base', { out: llama, shape: { layers: 2, hidden: 64, intermediate: 128, heads: 4, kvHeads: 2, vocab: 300, dtype: 'F32' }, seed: 3 });
  const gemma = offsetNorms(llama, join(root, 'gemma'));
  const [vl, vg] = [new ModelView(openCheckpoint(llama)), new ModelView(openCheckpoint(gemma))];
  try {
    t.is(vg.normOffset, 1);
    t.is(vl.normOffset, 0);
    for (const role of ['attn.q', 'mlp.up']) {
      const [x, y] = [vl.effective(role, 1)!, vg.effective(role, 1)!];
      let worst = 0;
      x.data.forEach((v, i) => { worst = Math.max(worst, Math.abs(v - y.data[i]!)); });
      t.true(worst < 1e-5, `${role}: largest difference ${worst}`);
    }
  } finally {
    vl.close();
    vg.close();
  }
});

test('a Gemma-convention derivative with its norms folded (w stored as 0) and heads permuted is derived, attention and MLP related', async (t) => {
  const root = tempDir();
  const p = (name: string) => join(root, name);
  synthesize('base', { out: p('llama'), shape: { layers: 3, hidden: 96, intermediate: 256, heads: 4, kvHeads: 2, vocab: 1500 }, seed: 5 });
  const a = offsetNorms(p('llama'), p('a'));
  const folded = offsetNorms(permuteHeads(rescale(p('llama'), p('folded'), 6), p('permuted'), 7), p('b0'));
  const b = addNoise(folded, p('b'), 0.01, 8);
  const report = await compareModels(a, b, {});
  const finding = (c: string) => report.verdict.components.find((x) => x.component === c)?.finding;
  t.is(report.verdict.label, 'derived', report.verdict.summary);
  t.is(finding('attention'), 'related', report.verdict.summary);
  t.is(finding('dense MLP'), 'related', report.verdict.summary);
});
