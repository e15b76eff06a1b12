/**
 * Models of two widths. SliceGPT's deletion (`sliceHidden` in transforms.ts): the residual stream turned into principal
 * directions and the weakest deleted, so B is narrower than A and no dimension of B is one of A's.
 * A rotation keeps the width; this does not, and the block probes (align/internal-basis.ts) were
 * made only for models of one width: a sliced BabyLlama-105 with a new token interface read its
 * attention and MLP unrelated. The probes' geometry is a Gram matrix of the probes, whatever their
 * width, and each side's basis is its own: across widths they now compare as they do at one.
 */
import test from 'ava';
import { join } from 'node:path';
import { compareModels } from '../core/src/compare/model-report.ts';
import { synthesize } from '../core/src/synth/synth.ts';
import { addNoise, replaceEmbeddings, sliceHidden } from '../core/src/synth/transforms.ts';
import { openCheckpoint } from '../core/src/checkpoint/folder.ts';
import { BLOCK_GEOMETRY_LEVEL } from '../core/src/align/geometry.ts';
import { alignModels } from '../core/src/align/index.ts';
import { SKIP_REASON, sharedDataPresent, sharedPath } from './helpers/shared-data.ts';
import { assertKeepsFunction, smallModel } from './helpers/edits.ts';
import { tempDir } from './helpers/tmpdir.ts';

test('turned into the principal directions with nothing deleted, the function is kept; deleting narrows every stream axis', (t) => {
  const base = smallModel(51);
  assertKeepsFunction(t, base, (src, out) => sliceHidden(src, out, 64, 52));
  const sliced = openCheckpoint(sliceHidden(base, join(tempDir(), 'sliced'), 48, 53));
  t.is(sliced.config!.hidden_size, 48);
  t.is(sliced.config!.head_dim, 16, 'the heads keep their width');
  const shape = (name: string) => sliced.tensors.find((x) => x.name === name)!.shape;
  t.deepEqual(shape('model.layers.0.self_attn.q_proj.weight'), [64, 48]);
  t.deepEqual(shape('model.layers.0.self_attn.o_proj.weight'), [48, 64]);
  t.deepEqual(shape('model.layers.1.mlp.down_proj.weight'), [48, 128]);
  t.deepEqual(shape('model.embed_tokens.weight'), [300, 48]);
  t.deepEqual(shape('model.norm.weight'), [48]);
});

(sharedDataPresent ? test : test.skip)(`a real model sliced to 112 of 128 dimensions with a new token interface shows its blocks as A's; independent models of two widths stay unrelated${sharedDataPresent ? '' : ` (${SKIP_REASON})`}`, async (t) => {
  const root = tempDir();
  const base = sharedPath('models/babyllama-105');
  const sliced = addNoise(replaceEmbeddings(sliceHidden(base, join(root, 's'), 112, 61), join(root, 'n'), 62), join(root, 'b'), 0.01, 63);
  const report = await compareModels(base, sliced, {});
  const finding = (c: string) => report.verdict.components.find((x) => x.component === c)?.finding;
  t.is(report.verdict.label, 'partially-derived', report.verdict.summary);
  t.is(finding('attention'), 'related', report.verdict.summary);
  t.is(finding('dense MLP'), 'related', report.verdict.summary);
  const geometry = report.controls!.alignment!.hidden!.blockGeometry!;
  t.true(geometry.correlation >= BLOCK_GEOMETRY_LEVEL, `block geometry ${geometry.correlation}`);

  // Independent, 128 against 64 wide (stories260K): the probes' geometry is read, and far under the level.
  const other = await compareModels(base, sharedPath('models/stories260k'), {});
  t.is(other.verdict.label, 'independent', other.verdict.summary);
  t.true(other.controls!.alignment!.hidden!.blockGeometry!.correlation < BLOCK_GEOMETRY_LEVEL);
});

test('independent synthetic models of two widths (96 and 72): the block probes are compared across the widths and stay under the level', async (t) => {
  const root = tempDir();
  synthesize('base', { out: join(root, 'a'), shape: { layers: 2, hidden: 96, intermediate: 256, heads: 4, kvHeads: 2, vocab: 1500 }, seed: 71 });
  synthesize('base', { out: join(root, 'b'), shape: { layers: 2, hidden: 72, intermediate: 192, heads: 4, kvHeads: 2, vocab: 1500 }, seed: 72 });
  const report = await compareModels(join(root, 'a'), replaceEmbeddings(join(root, 'b'), join(root, 'b-new'), 73), {});
  t.is(report.verdict.label, 'independent', report.verdict.summary);
  const geometry = report.controls!.alignment!.hidden!.blockGeometry;
  t.truthy(geometry, 'the gate was read across widths');
  t.true(geometry!.correlation < BLOCK_GEOMETRY_LEVEL, `block geometry ${geometry!.correlation}`);
});

test('independent models of two widths sharing a tokenizer: no embedding cell is related (the dimension map no better than chance is not used, it was fitted on those embeddings)', (t) => {
  const root = tempDir();
  const shape = { layers: 4, hidden: 64, intermediate: 176, heads: 4, kvHeads: 2, vocab: 256 };
  for (let k = 0; k < 3; k++) {
    const [a, b] = [join(root, `a${k}`), join(root, `b${k}`)];
    synthesize('base', { out: a, shape, seed: 81 + k });
    synthesize('base', { out: b, shape: { ...shape, hidden: 48, intermediate: 128 }, seed: 91 + k });
    const tokens = Array.from({ length: 256 }, (_, i) => [i, i] as [number, number]);
    const section = alignModels({ a: openCheckpoint(a), b: openCheckpoint(b), tokenPairs: tokens, seed: k })!;
    t.is(section.hidden!.kind, 'none');
    const embedding = section.components.find((c) => c.component === 'embedding')!;
    t.is(embedding.related, 0, `pair ${k}: embedding p = ${embedding.pValue}`);
  }
});
