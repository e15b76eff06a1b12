/**
 * Identical bytes that independent models share as well (constant tensors, buffers fixed by the
 * configuration) are not evidence of reuse, and aligned cells on constant units tell neither way:
 * two independent models with their norms left at 1.0 stay independent; two all-zero models are
 * inconclusive, not derived nor independent.
 */
import test from 'ava';
import { closeSync, openSync, readdirSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { compareModels } from '../core/src/compare/model-report.ts';
import type { TensorReport } from '../core/src/report/weights.ts';
import { synthesize } from '../core/src/synth/synth.ts';
import { identicalByConstruction, identityIsEvidence } from '../core/src/verdict/identity.ts';
import { tempDir } from './helpers/tmpdir.ts';
import { modelAndIndependent } from './helpers/edits.ts';
import { openCheckpoint } from '../core/src/checkpoint/folder.ts';
import { readTensor, rewrite } from '../core/src/synth/rewrite.ts';
import { addNoise } from '../core/src/synth/transforms.ts';

const shape = { layers: 3, hidden: 64, intermediate: 128, heads: 4, kvHeads: 2, vocab: 2000 };

/** Overwrites tensors of every shard of a folder: each named one (or every one) with bf16 `value`. */
function fill(folder: string, value: number, names: string[] | 'all'): void {
  const word = Buffer.alloc(4);
  word.writeFloatLE(value);
  const bf16 = word.subarray(2, 4);
  for (const file of readdirSync(folder).filter((f) => f.endsWith('.safetensors'))) {
    const fd = openSync(join(folder, file), 'r+');
    try {
      const len = Buffer.alloc(8);
      readSync(fd, len, 0, 8, 0);
      const n = Number(len.readBigUInt64LE());
      const head = Buffer.alloc(n);
      readSync(fd, head, 0, n, 8);
      const header = JSON.parse(head.toString('utf8')) as Record<string, { dtype: string; data_offsets: [number, number] }>;
      for (const [name, t] of Object.entries(header)) {
        if (name === '__metadata__' || (names !== 'all' && !names.includes(name))) continue;
        if (t.dtype !== 'BF16') throw new Error(`${name}: ${t.dtype}, expected BF16`);
        const [from, to] = t.data_offsets;
        const bytes = Buffer.alloc(to - from);
        for (let i = 0; i < bytes.length; i += 2) bf16.copy(bytes, i);
        writeSync(fd, bytes, 0, bytes.length, 8 + n + from);
      }
    } finally {
      closeSync(fd);
    }
  }
}

test('two independent models sharing norms left at 1.0 are independent: constant identical tensors are not counted', async (t) => {
  const root = tempDir();
  synthesize('base', { out: join(root, 'a'), shape });
  synthesize('independent', { out: join(root, 'b'), like: join(root, 'a') });
  const norms = ['model.layers.0.input_layernorm.weight', 'model.layers.1.input_layernorm.weight'];
  for (const side of ['a', 'b']) fill(join(root, side), 1.0, norms);
  const report = await compareModels(join(root, 'a'), join(root, 'b'), { threads: 1 });
  t.is(report.weights.summary.identical, 2, 'the two norms are byte-identical, and reported so');
  t.is(report.verdict.label, 'independent', report.verdict.summary);
  const identity = report.verdict.evidence.find((e) => e.signal === 'byte-identical tensors')!;
  t.is(identity.value, 0);
  t.regex(identity.explanation, /not counted: 2 more identical tensor\(s\).*2 constant/);
  t.regex(report.verdict.summary, /no tensor is identical beyond 2/);
});

test('two all-zero models are inconclusive: cells on constant units are left out, with a note', async (t) => {
  const root = tempDir();
  synthesize('base', { out: join(root, 'a'), shape });
  synthesize('independent', { out: join(root, 'b'), like: join(root, 'a') });
  for (const side of ['a', 'b']) fill(join(root, side), 0, 'all');
  const report = await compareModels(join(root, 'a'), join(root, 'b'), { threads: 1 });
  t.true(report.weights.summary.identical > 0);
  t.is(report.verdict.label, 'inconclusive', report.verdict.summary);
  t.regex(report.verdict.summary, /weight matrices are constant/);
  const notes = report.controls!.alignment!.notes.join('\n');
  t.regex(notes, /attention: \d+ cell\(s\) left out: the matching gives the same value under every permutation/);
});

test('a copy is still derived: identity of trained tensors counts', async (t) => {
  const root = tempDir();
  synthesize('base', { out: join(root, 'a'), shape });
  const report = await compareModels(join(root, 'a'), join(root, 'a'), { threads: 1 });
  t.is(report.verdict.label, 'derived', report.verdict.summary);
  t.true((report.verdict.evidence.find((e) => e.signal === 'byte-identical tensors')!.value as number) > 0);
});

test('identity is evidence unless the tensor is constant or a buffer fixed by the configuration', (t) => {
  const tensor = (name: string, over: Partial<TensorReport>) => ({ name, nameB: name, identical: true, n: 100, centeredCosine: 1, ...over }) as TensorReport;
  t.true(identityIsEvidence(tensor('model.layers.0.mlp.up_proj.weight', {})));
  t.is(identicalByConstruction(tensor('model.layers.0.mlp.up_proj.weight', {})), null);
  t.is(identicalByConstruction(tensor('model.norm.weight', { centeredCosine: null })), 'a constant tensor');
  t.false(identityIsEvidence(tensor('model.norm.weight', { centeredCosine: null })));
  for (const name of ['model.layers.0.self_attn.rotary_emb.inv_freq', 'h.3.attn.bias', 'h.3.attn.masked_bias', 'embeddings.position_ids']) {
    t.false(identityIsEvidence(tensor(name, { n: null, centeredCosine: null })), name);
  }
  // A learned bias of an attention projection is not a buffer; a tensor hashed but not compared counts.
  t.true(identityIsEvidence(tensor('h.3.attn.c_attn.bias', {})));
  t.true(identityIsEvidence(tensor('model.layers.0.mlp.down_proj.qweight', { n: null, centeredCosine: null })));
  t.false(identityIsEvidence(tensor('model.norm.weight', { identical: false })));
});

test('components reused in some layers only, none new: partially-derived, and the summary says which are partial rather than calling anything new', async (t) => {
  const { root, a, i } = modelAndIndependent(61);
  // A whole but for layer 1's attention and MLP, taken from the independent model.
  const other = openCheckpoint(i);
  rewrite(a, join(root, 'mixed'), (name, shape, v) => [{ name, shape, values: /\.layers\.1\.(self_attn|mlp)\./.test(name) ? readTensor(other, name) : v }]);
  const report = await compareModels(a, addNoise(join(root, 'mixed'), join(root, 'mixed-f'), 0.01, 62), { threads: 1 });
  const finding = (name: string) => report.verdict.components.find((c) => c.component === name)?.finding;
  t.is(finding('attention'), 'mixed');
  t.is(finding('dense MLP'), 'mixed');
  t.false(report.verdict.components.some((c) => c.finding === 'unrelated'));
  t.is(report.verdict.label, 'partially-derived');
  t.regex(report.verdict.summary, /but attention, dense MLP only in some of the layers compared/);
  t.notRegex(report.verdict.summary, /new \(/);
});

test('trained tensors copied byte for byte into an otherwise independent model: partially-derived, and the summary names the identical tensors rather than an empty list', async (t) => {
  const { root, a, i } = modelAndIndependent(63);
  // The independent model with A's layer-0 norms (trained, not constant): no component's cells relate.
  const base = openCheckpoint(a);
  const copied = ['model.layers.0.input_layernorm.weight', 'model.layers.0.post_attention_layernorm.weight'];
  const mixed = rewrite(i, join(root, 'norms'), (name, shape, v) => [{ name, shape, values: copied.includes(name) ? readTensor(base, name) : v }]);
  const report = await compareModels(a, mixed, { threads: 1 });
  t.is(report.weights.summary.identical, 2);
  t.false(report.verdict.components.some((c) => c.finding === 'related' || c.finding === 'mixed' || c.finding === 'copied'), report.verdict.summary);
  t.is(report.verdict.label, 'partially-derived', report.verdict.summary);
  t.regex(report.verdict.summary, /^some components are reused \(no component by its cells, but 2 tensor\(s\) byte-identical to A's: model\.layers\.0\.input_layernorm\.weight, model\.layers\.0\.post_attention_layernorm\.weight\) while others are new \(/);
});
