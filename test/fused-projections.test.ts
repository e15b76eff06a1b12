/**
 * Fused projections (roles/fused.ts, align/model-view.ts): a model written with q, k and v as one
 * matrix and gate and up as one (Phi-3's `qkv_proj` and `gate_up_proj`, InternLM2's grouped
 * `wqkv`), or with all of a layer's routed experts in one 3-D tensor (Transformers 5, Llama 4,
 * gpt-oss), computes what the split model computes. The alignment reads the fused matrix's rows as
 * its parts, by the layout the declared architecture cuts them in, through every read path a view
 * has; so a derivative converted to a fused architecture still shows its attention and MLP as
 * A's. Before, those parts were never compared: rotated, converted and given a new token
 * interface, a derivative read independent; A's experts in independent blocks, stored fused, too.
 */
import test from 'ava';
import { join } from 'node:path';
import { openCheckpoint } from '../core/src/checkpoint/folder.ts';
import { ModelView, physicalRanges } from '../core/src/align/model-view.ts';
import { splitFused, splitFusedExperts } from '../core/src/roles/fused.ts';
import { compareModels } from '../core/src/compare/model-report.ts';
import { synthesize } from '../core/src/synth/synth.ts';
import { addNoise, fuseExperts, fuseProjections, permuteHeads, replaceEmbeddings, rotateHidden } from '../core/src/synth/transforms.ts';
import { readTensor, rewrite } from '../core/src/synth/rewrite.ts';
import { tempDir } from './helpers/tmpdir.ts';

const config = (modelType: string, heads: number, kvHeads: number) => ({ model_type: modelType, hidden_size: 64, num_hidden_layers: 2, vocab_size: 300, num_attention_heads: heads, num_key_value_heads: kvHeads });

test('a fused qkv splits by its architecture: all q then k then v (Phi-3), or per KV group (InternLM2, GPT-NeoX)', (t) => {
  const concat = splitFused('attn.qkv', [(4 + 2 * 2) * 16, 64], config('phi3', 4, 2));
  t.deepEqual('parts' in concat && concat.parts, [{ role: 'attn.q', rows: [[0, 64]] }, { role: 'attn.k', rows: [[64, 32]] }, { role: 'attn.v', rows: [[96, 32]] }]);
  t.regex('layout' in concat ? concat.layout : '', /\(phi3\)$/);
  const grouped = splitFused('attn.qkv', [(4 + 2 * 2) * 16, 64], config('internlm2', 4, 2));
  // Group g: its 2 query heads, its key head, its value head (4 heads of 16 rows a group).
  t.deepEqual('parts' in grouped && grouped.parts, [
    { role: 'attn.q', rows: [[0, 32], [64, 32]] }, { role: 'attn.k', rows: [[32, 16], [96, 16]] }, { role: 'attn.v', rows: [[48, 16], [112, 16]] },
  ]);
  const neox = splitFused('attn.qkv', [3 * 64, 64], config('gpt_neox', 4, 4));
  t.deepEqual('parts' in neox && neox.parts[1], { role: 'attn.k', rows: [[16, 16], [64, 16], [112, 16], [160, 16]] }, 'one head a group: q, k, v of each head in turn');
  const unknown = splitFused('attn.qkv', [128, 64], config('acme', 4, 2));
  t.regex('layout' in unknown ? unknown.layout : '', /assumed, model_type 'acme' is not one whose layout we know/);
  t.deepEqual(splitFused('mlp.gate_up', [256, 64], config('phi3', 4, 2)), { parts: [{ role: 'mlp.gate', rows: [[0, 128]] }, { role: 'mlp.up', rows: [[128, 128]] }], layout: 'gate rows, then up rows' });
});

test('a fused matrix that does not fit the config is not split, and says why', (t) => {
  const reason = (s: ReturnType<typeof splitFused>) => ('reason' in s ? s.reason : '');
  t.regex(reason(splitFused('attn.qkv', [100, 64], config('phi3', 4, 2))), /100 rows where 4 query and 2 × 2 key\/value heads of 16 make 128/);
  t.regex(reason(splitFused('attn.qkv', [64, 192], config('gpt2', 4, 4))), /transposed layout/);
  t.regex(reason(splitFused('mlp.gate_up', [129, 64], config('phi3', 4, 2))), /odd number of rows/);
  t.regex(reason(splitFused('attn.qkv', [128, 64], null)), /no config/);
});

test('ranges of a part map onto its runs, a range across two runs as two reads', (t) => {
  const runs = [{ offset: 1000, length: 10 }, { offset: 2000, length: 10 }];
  t.deepEqual(physicalRanges(runs, [{ offset: 0, length: 4 }, { offset: 8, length: 4 }, { offset: 19, length: 1 }]), [
    { offset: 1000, length: 4 }, { offset: 1008, length: 2 }, { offset: 2000, length: 2 }, { offset: 2009, length: 1 },
  ]);
  t.throws(() => physicalRanges(runs, [{ offset: 15, length: 10 }]), { instanceOf: RangeError });
});

for (const layout of ['concat', 'grouped'] as const) {
  test(`a view of a ${layout} fused model reads each part as the split model's tensor, by every read path`, (t) => {
    const root = tempDir();
    const split = join(root, 'split');
    synthesize('base', { out: split, shape: { layers: 2, hidden: 64, intermediate: 128, heads: 4, kvHeads: 2, vocab: 300 }, seed: 5 });
    const fused = fuseProjections(split, join(root, 'fused'), layout);
    t.true(openCheckpoint(fused).tensors.some((x) => /(qkv_proj|query_key_value)\.weight$/.test(x.name)), 'the fused model has its fused qkv');
    t.false(openCheckpoint(fused).tensors.some((x) => /q_proj\.weight$/.test(x.name)));
    const [vs, vf] = [new ModelView(openCheckpoint(split)), new ModelView(openCheckpoint(fused))];
    try {
      t.is(vf.fusedNotes.length, 2);
      t.deepEqual(vf.attention(), vs.attention());
      const cols = Int32Array.from([0, 5, 17, 63]);
      for (const role of ['attn.q', 'attn.k', 'attn.v', 'mlp.gate', 'mlp.up']) {
        for (const layer of [0, 1]) {
          const what = `${role} of layer ${layer}`;
          t.deepEqual(vf.matrix(role, layer), vs.matrix(role, layer), `${what}: whole`);
          t.deepEqual(vf.effective(role, layer), vs.effective(role, layer), `${what}: norm folded`);
          const rows = [0, 1, 15, 16, 17, vs.tensor(role, layer)!.shape[0]! - 1];
          t.deepEqual(vf.rows(role, layer, rows, true), vs.rows(role, layer, rows, true), `${what}: rows`);
          t.deepEqual(vf.columns(role, layer, cols, true), vs.columns(role, layer, cols, true), `${what}: columns`);
          t.deepEqual(vf.columnsReference(role, layer, cols), vs.columnsReference(role, layer, cols), `${what}: columns (JavaScript)`);
          t.deepEqual(vf.lineSquares(role, layer, true), vs.lineSquares(role, layer, true), `${what}: row norms`);
          t.deepEqual(vf.lineSquaresReference(role, layer, false), vs.lineSquaresReference(role, layer, false), `${what}: column norms (JavaScript)`);
        }
      }
    } finally {
      vs.close();
      vf.close();
    }
  });
}

test('a derivative rotated, written with fused projections (grouped) and given a new token interface shows its blocks as A\'s', async (t) => {
  const root = tempDir();
  const p = (name: string) => join(root, name);
  synthesize('base', { out: p('a'), shape: { layers: 2, hidden: 96, intermediate: 256, heads: 4, kvHeads: 2, vocab: 1500 }, seed: 31 });
  synthesize('independent', { out: p('i'), like: p('a') });
  let at = rotateHidden(p('a'), p('r'), 32);
  at = permuteHeads(at, p('h'), 33);
  at = fuseProjections(at, p('f'), 'grouped');
  at = replaceEmbeddings(at, p('e'), 34);
  const derived = addNoise(at, p('b'), 0.01, 35);
  const report = await compareModels(p('a'), derived, {});
  const finding = (c: string) => report.verdict.components?.find((x) => x.component === c)?.finding;
  t.is(report.verdict.label, 'partially-derived', report.verdict.summary);
  t.is(finding('attention'), 'related', report.verdict.summary);
  t.is(finding('dense MLP'), 'related', report.verdict.summary);
  t.true(report.controls!.alignment!.notes.some((n) => /^B's model\.layers\.\*\.self_attn\.query_key_value\.weight read as its parts q, k, v: per KV group/.test(n)), report.controls!.alignment!.notes.join('\n'));

  // The same conversion of an independent model: its parts compared, and unrelated.
  const independent = fuseProjections(p('i'), p('if'), 'concat');
  const other = await compareModels(p('a'), independent, {});
  const otherFinding = (c: string) => other.verdict.components?.find((x) => x.component === c)?.finding;
  t.is(other.verdict.label, 'independent', other.verdict.summary);
  t.is(otherFinding('attention'), 'unrelated');
  t.is(otherFinding('dense MLP'), 'unrelated');
});

test('fused experts split by their shapes: stored as a Linear or transposed, gate and up in halves or alternating (gpt-oss); the model_type decides only where the shapes cannot', (t) => {
  const moe = (modelType: string) => ({ ...config(modelType, 4, 2), num_local_experts: 8, moe_intermediate_size: 32 });
  t.deepEqual(splitFusedExperts('expert.gate_up', [8, 64, 64], moe('qwen3_moe')), { parts: [{ role: 'expert.gate', first: 0, count: 32, step: 1 }, { role: 'expert.up', first: 32, count: 32, step: 1 }], transposed: false, layout: 'stored as a Linear (64 × 64), gate then up' });
  const llama4 = splitFusedExperts('expert.gate_up', [8, 64, 64], moe('llama4_text'));
  t.true('transposed' in llama4 && llama4.transposed, '2I = H: the model_type says transposed');
  const oss = splitFusedExperts('expert.gate_up', [8, 64, 128], moe('gpt_oss'));
  t.deepEqual('parts' in oss && oss.parts, [{ role: 'expert.gate', first: 0, count: 64, step: 2 }, { role: 'expert.up', first: 1, count: 64, step: 2 }]);
  t.true('transposed' in oss && oss.transposed);
  const down = splitFusedExperts('expert.down', [8, 32, 64], moe('qwen3_moe'));
  t.deepEqual(down, { parts: [{ role: 'expert.down', first: 0, count: 64, step: 1 }], transposed: true, layout: 'stored transposed (32 × 64, x times it)' });
  t.deepEqual('transposed' in splitFusedExperts('expert.down', [8, 64, 32], moe('qwen3_moe')) && splitFusedExperts('expert.down', [8, 64, 32], moe('qwen3_moe')), { parts: [{ role: 'expert.down', first: 0, count: 64, step: 1 }], transposed: false, layout: 'stored as a Linear (64 × 32)' });
  t.regex(String((splitFusedExperts('expert.gate_up', [8, 48, 96], moe('qwen3_moe')) as { reason: string }).reason), /no side of the hidden size 64/);
  t.regex(String((splitFusedExperts('expert.gate_up', [8, 64], moe('qwen3_moe')) as { reason: string }).reason), /not one matrix per expert/);
});

const moeShape = { layout: 'moe' as const, layers: 2, hidden: 64, experts: 4, moeIntermediate: 48, heads: 4, kvHeads: 2, vocab: 300 };

for (const layout of ['linear', 'transposed', 'alternating'] as const) {
  test(`a view of experts fused (${layout}) reads each expert's gate, up and down as the per-expert model's, by every read path`, (t) => {
    const root = tempDir();
    const split = join(root, 'split');
    synthesize('base', { out: split, shape: moeShape, seed: 7 });
    const fused = fuseExperts(split, join(root, 'fused'), layout);
    t.false(openCheckpoint(fused).tensors.some((x) => /experts\.\d+\./.test(x.name)), 'no per-expert tensor left');
    const [vs, vf] = [new ModelView(openCheckpoint(split)), new ModelView(openCheckpoint(fused))];
    try {
      t.is(vf.fusedNotes.length, 2);
      t.deepEqual(vf.experts('expert.down', 1), [0, 1, 2, 3]);
      const cols = Int32Array.from([0, 3, 40, 47]);
      for (const role of ['expert.gate', 'expert.up', 'expert.down']) {
        for (const [layer, expert] of [[0, 0], [1, 3]] as const) {
          const what = `${role} of expert ${expert} in layer ${layer}`;
          const width = vs.tensor(role, layer, expert)!.shape[1]!;
          const some = Int32Array.from([...cols].filter((c) => c < width));
          t.deepEqual(vf.matrix(role, layer, expert), vs.matrix(role, layer, expert), `${what}: whole`);
          t.deepEqual(vf.effective(role, layer, expert), vs.effective(role, layer, expert), `${what}: norm folded`);
          t.deepEqual(vf.rows(role, layer, [0, 1, 30], true, expert), vs.rows(role, layer, [0, 1, 30], true, expert), `${what}: rows`);
          t.deepEqual(vf.columns(role, layer, some, true, expert), vs.columns(role, layer, some, true, expert), `${what}: columns`);
        }
      }
    } finally {
      vs.close();
      vf.close();
    }
  });
}

test("A's router and routed experts in independent blocks, the experts stored as gpt-oss stores them: their cells relate (independent before); the experts' weight check reads gate, up and down of a Linear-stored fused tensor", async (t) => {
  const root = tempDir();
  const p = (name: string) => join(root, name);
  // The labelled set's MoE shape: in smaller ones the experts' cells have too few dimensions to find A's without the blocks' help.
  synthesize('base', { out: p('a'), shape: { layout: 'moe', layers: 2, hidden: 256, experts: 4, moeIntermediate: 512, vocab: 4096 }, seed: 21 });
  synthesize('independent', { out: p('i'), like: p('a'), seed: 23 });
  const a = openCheckpoint(p('a'));
  // With A's router: an independent router pairs A's experts with B's at random (the cells pair through the routers).
  rewrite(p('i'), p('spliced'), (name, shape, v) => [{ name, shape, values: /\.experts\.|\.mlp\.gate\.weight$/.test(name) ? readTensor(a, name) : v }]);
  const transplant = addNoise(fuseExperts(p('spliced'), p('fused'), 'alternating'), p('b'), 0.01, 42);
  const report = await compareModels(p('a'), transplant, {});
  const finding = (c: string) => report.verdict.components.find((x) => x.component === c)?.finding;
  t.is(report.verdict.label, 'partially-derived', report.verdict.summary);
  t.true(['related', 'mixed'].includes(finding('routed experts')!), report.verdict.summary);
  t.is(finding('attention'), 'unrelated');

  // Stored as a Linear, the expert control's weight check reads every part of every expert.
  const linear = addNoise(fuseExperts(p('a'), p('linear'), 'linear'), p('linear-b'), 0.01, 43);
  const copy = await compareModels(p('a'), linear, {});
  t.is(copy.verdict.label, 'derived', copy.verdict.summary);
  t.deepEqual(copy.controls!.experts![0]!.experts!.roles, ['expert.down', 'expert.gate', 'expert.up']);
});
