/**
 * Sampled controls (issue 12 item 5): under --sample F the controls plan about F of their work:
 * the expert matching on max(4, ⌈F·L⌉) evenly spaced MoE layers (the others reported skipped, "not
 * sampled"), aligned cells on max(4, ⌈12·F⌉) layer pairs (each still with ≥ 10 null draws), the
 * expert weight check on about F of each small expert matrix's rows; and the verdicts stand
 * (derived, hidden-permuted, partly reused and independent models of 12 layers).
 */
import test from 'ava';
import { join } from 'node:path';
import { openCheckpoint } from '../core/src/checkpoint/folder.ts';
import { compareModels, prepareComparison } from '../core/src/compare/model-report.ts';
import { computeControls, localControlExecutor, type ControlExecutor } from '../core/src/controls/index.ts';
import { analyzeExperts } from '../core/src/controls/experts.ts';
import { parseControlTask } from '../core/src/controls/tasks.ts';
import { LineageError } from '../core/src/errors.ts';
import { sampledCellPairs, sampledExpertLayers, sampledRowRuns } from '../core/src/sample/controls.ts';
import { synthesize } from '../core/src/synth/synth.ts';
import { addNoise, permuteHidden } from '../core/src/synth/transforms.ts';
import { Random } from '../core/src/synth/random.ts';
import { tempDir } from './helpers/tmpdir.ts';
import { readTensor, rewrite, shuffled } from './helpers/rewrite.ts';

test('the sampling rules: about F of the layers and cell pairs, never fewer than 4, evenly spaced; rows in a few runs', (t) => {
  const layers = Array.from({ length: 48 }, (_, i) => i);
  const { chosen, left } = sampledExpertLayers(layers, 0.1);
  t.deepEqual(chosen, [0, 12, 24, 35, 47], '⌈0.1 × 48⌉ = 5 layers, both ends kept');
  t.is(left.length, 43);
  t.deepEqual(sampledExpertLayers(layers.slice(0, 6), 0.1).chosen.length, 4, 'at least 4');
  t.deepEqual(sampledExpertLayers(layers.slice(0, 3), 0.1), { chosen: [0, 1, 2], left: [] }, 'a short MoE keeps every layer');
  t.deepEqual(sampledExpertLayers(layers, null), { chosen: layers, left: [] }, 'exact: every layer');
  t.is(sampledExpertLayers(layers, 0.5).chosen.length, 24);
  t.is(sampledCellPairs(12, 0.1), 4);
  t.is(sampledCellPairs(12, 0.5), 6);
  t.is(sampledCellPairs(12, 0.99), 12);
  t.is(sampledCellPairs(12, null), 12);

  const runs = sampledRowRuns(256, 0.1, new Random(1, 'rows'))!;
  t.is(runs.length, 4);
  const rows = runs.reduce((s, r) => s + r.count, 0);
  t.true(rows >= 26 && rows <= 32, `${rows} of 256 rows`);
  runs.forEach((r, i) => {
    t.true(r.first >= 0 && r.first + r.count <= 256);
    if (i > 0) t.true(r.first >= runs[i - 1]!.first + runs[i - 1]!.count, 'disjoint, in row order');
  });
  t.deepEqual(sampledRowRuns(256, 0.1, new Random(1, 'rows')), runs, 'seeded');
  t.is(sampledRowRuns(8, 0.1, new Random(1, 'rows')), null, 'a matrix of a few rows is read whole');
  t.is(sampledRowRuns(64, 0.6, new Random(1, 'rows')), null, 'so is one where the sample would be most of it');
});

test('an expert task carries the row fraction, checked like every other field', (t) => {
  const task = (rows: unknown) => JSON.stringify({ id: 0, label: 'experts', models: { a: '/a', b: '/b' }, seed: 1, part: { kind: 'experts', layers: [0, 4], rows } });
  t.is((parseControlTask(task(0.1)).part as { rows?: number }).rows, 0.1);
  t.is((parseControlTask(JSON.stringify({ id: 0, label: 'experts', models: { a: '/a', b: '/b' }, seed: 1, part: { kind: 'experts', layers: [0] } })).part as { rows?: number }).rows, undefined);
  for (const bad of [0, 1, 1.5, -0.1, 'half', null]) {
    const err = t.throws(() => parseControlTask(task(bad)), { instanceOf: LineageError }, String(bad));
    t.regex(err!.message, /experts: rows/);
  }
});

test('--sample 0.1 on a 12-layer MoE: fewer expert layers and cell pairs, reported as sampled; derived still related, independent not', async (t) => {
  t.timeout(300_000);
  const root = tempDir();
  const [base, derived, independent] = ['base', 'derived', 'independent'].map((x) => join(root, x));
  synthesize('base', { out: base!, shape: { layout: 'moe', layers: 12, experts: 8, hidden: 64, moeIntermediate: 64, heads: 4, kvHeads: 2, vocab: 256 } });
  synthesize('derivative', { out: derived!, like: base!, drift: 0.02 });
  synthesize('independent', { out: independent!, like: base! });

  const exact = await compareModels(base!, derived!, { threads: 1 });
  const sampled = await compareModels(base!, derived!, { threads: 1, sample: 0.1 });
  const unrelated = await compareModels(base!, independent!, { threads: 1, sample: 0.1 });

  // Exact: every layer, and no sampling fields (an exact report keeps its shape).
  const ce = exact.controls!;
  t.is(ce.experts.length, 12);
  t.false('sampled' in ce);
  t.false('expertsSkipped' in ce);
  // Exact: the expert weights are a control, read at its own 5% (small matrices as 5% of their rows), never whole.
  t.true(ce.experts[0]!.experts!.sampled, 'exact: small expert matrices read as a share of their rows');
  t.true(ce.experts[0]!.experts!.elements <= 0.1 * 3 * 4096, `exact: ${ce.experts[0]!.experts!.elements} elements of 3 x 4096`);

  for (const report of [sampled, unrelated]) {
    const c = report.controls!;
    t.deepEqual(c.experts.map((l) => l.layer), [0, 4, 7, 11], 'max(4, ⌈0.1 × 12⌉) evenly spaced layers');
    t.deepEqual(c.expertsSkipped!.map((s) => s.layer), [1, 2, 3, 5, 6, 8, 9, 10]);
    t.true(c.expertsSkipped!.every((s) => s.reason === 'not sampled (--sample 0.1)'));
    t.is(c.sampled!.fraction, 0.1);
    t.deepEqual(c.sampled!.expertLayers, { analysed: 4, of: 12 });
    t.deepEqual(c.sampled!.alignedLayerPairs, { chosen: 4, of: 12 });
    const layerCells = c.alignment!.components.flatMap((x) => x.cells).filter((cell) => cell.layerA !== null);
    t.true(layerCells.length > 0);
    t.deepEqual([...new Set(layerCells.map((cell) => cell.layerA))].sort((x, y) => x! - y!), [0, 4, 7, 11], 'cells on 4 evenly spaced layer pairs');
    // Layer cells draw their nulls from the other chosen pairs' layers, topped up to 10 by
    // dimension shuffles; expert cells from mismatched experts (7 of 8 here, as in an exact run).
    // Both read them sequentially: at least 5, where the cell's reading was settled after 5
    // (align/index.ts); the token rows always 10.
    for (const x of c.alignment!.components) {
      const least = x.component === 'embedding' || x.component === 'lm_head' ? 10 : 5;
      t.true(x.cells.every((cell) => cell.nullDraws >= least), `${x.component}: ≥ ${least} null draws per cell`);
    }
    // The weight check reads about a tenth of each pair's expert weights (3 roles of 64 × 64).
    for (const layer of c.experts) {
      t.true(layer.experts!.sampled);
      t.true(layer.experts!.elements >= 0.1 * 3 * 4096 && layer.experts!.elements <= 0.2 * 3 * 4096, `${layer.experts!.elements} elements`);
    }
  }
  t.true(sampled.controls!.alignment!.components.flatMap((x) => x.cells).length < ce.alignment!.components.flatMap((x) => x.cells).length);
  // Not all of it scales with F: the layer alignment reads two roles of every layer of both models
  // whatever the fraction (here whole 64 x 64 tensors, ~0.4 MB of the sampled run's ~3.3 MB).
  t.true(sampled.run.controls!.bytes! < 0.55 * exact.run.controls!.bytes!, `controls read ${sampled.run.controls!.bytes} bytes sampled, ${exact.run.controls!.bytes} exact`);

  t.is(exact.verdict.label, 'derived');
  t.is(sampled.verdict.label, 'derived');
  t.true(sampled.controls!.experts.every((l) => l.pValue <= 0.01 && (l.experts!.z ?? 0) > 5), 'every sampled layer matches its experts, weights confirming');
  t.true(sampled.controls!.alignment!.components.every((x) => x.finding === 'related'));
  t.is(unrelated.verdict.label, 'independent');
  t.true(unrelated.controls!.alignment!.components.every((x) => x.finding !== 'related'));
});

test('without router rows, the sampled expert weights (rows of every expert) still find a reordering, and nothing between independent models', async (t) => {
  t.timeout(120_000);
  const root = tempDir();
  const p = (x: string) => join(root, x);
  synthesize('base', { out: p('base'), seed: 11, shape: { layout: 'moe', layers: 2, hidden: 64, heads: 4, kvHeads: 2, vocab: 128, intermediate: 128, experts: 8, moeIntermediate: 64 } });
  synthesize('derivative', { out: p('derived'), like: p('base'), drift: 0.05, seed: 12 });
  synthesize('independent', { out: p('independent'), like: p('base'), seed: 13 });
  const perm = shuffled(8, 1);
  // Routers dropped; expert e of the output is expert perm[e] of the source.
  const noRouter = (src: string, out: string, order: number[]) => rewrite(p(src), p(out), (name, shape, values) => {
    if (/\.mlp\.gate\.weight$/.test(name)) return [];
    const m = /^(model\.layers\.\d+\.mlp\.experts\.)(\d+)(\..*)$/.exec(name);
    return [{ name: m ? `${m[1]}${order.indexOf(Number(m[2]))}${m[3]}` : name, shape, values }];
  });
  const identity = Array.from({ length: 8 }, (_, i) => i);
  noRouter('base', 'base-nr', identity);
  noRouter('derived', 'reordered-nr', perm);
  noRouter('independent', 'independent-nr', identity);
  const open = (x: string) => openCheckpoint(p(x));

  const found = await analyzeExperts(open('base-nr'), open('reordered-nr'), { seed: 5, rows: 0.1 });
  t.is(found.length, 2);
  for (const layer of found) {
    t.regex(layer.basis, /^expert weights.*about 0\.1 of each small expert matrix's rows/);
    t.true(layer.assignment.every((x) => perm[x.b] === x.a), `layer ${layer.layer}: the reordering found`);
    t.true(layer.pValue <= 0.01);
  }
  const unrelated = await analyzeExperts(open('base-nr'), open('independent-nr'), { seed: 5, rows: 0.1 });
  for (const layer of unrelated) t.true(layer.pValue > 0.01 && Math.abs(layer.z!) < 4, `independent, layer ${layer.layer}: p = ${layer.pValue}`);
});

test('layers an expert answer reports skipped reach the report only if its task asked for them, each with a short reason', async (t) => {
  t.timeout(120_000);
  const root = tempDir();
  synthesize('base', { out: join(root, 'a'), shape: { layout: 'moe', layers: 6, experts: 4, hidden: 64, moeIntermediate: 32, heads: 4, kvHeads: 2, vocab: 128 } });
  synthesize('derivative', { out: join(root, 'b'), like: join(root, 'a'), drift: 0.02 });
  const prepared = await prepareComparison(join(root, 'a'), join(root, 'b'));
  const inner = localControlExecutor({ threads: 1, models: { a: prepared.a, b: prepared.b } });
  // What a worker could answer: the layers its task asked for, plus others and malformed entries.
  const tampering: ControlExecutor = {
    async run(tasks) {
      const out = await inner.run(tasks);
      return out.map((o, i) => {
        const part = tasks[i]!.part;
        if (!o.ok || part.kind !== 'experts') return o;
        const value = o.value as { skipped: unknown[] };
        value.skipped.push({ layer: part.layers[0], reason: 'x'.repeat(10_000) }, { layer: 99, reason: 'not asked' }, { layer: part.layers[0], reason: 5 }, null);
        return o;
      });
    },
  };
  const controls = await computeControls(prepared, [], { executor: tampering, sample: 0.5 });
  // max(4, ⌈0.5 × 6⌉) = 4 of 6 layers analysed; the 2 others not sampled; one reason per asked task, cut.
  t.deepEqual(controls.experts.map((l) => l.layer), [0, 2, 3, 5]);
  const skipped = controls.expertsSkipped!;
  t.deepEqual(skipped.filter((s) => s.reason.startsWith('not sampled')).map((s) => s.layer), [1, 4]);
  t.true(skipped.every((s) => s.layer !== 99 && typeof s.reason === 'string' && s.reason.length <= 500));
  t.is(skipped.filter((s) => s.reason.startsWith('xxx')).length, 1, 'one expert task (4 layers), one reported reason kept');
});

test('--sample 0.1 on a 12-layer MoE: a hidden-permuted derivative is derived, one with half its layers reused partially derived', async (t) => {
  t.timeout(300_000);
  const root = tempDir();
  const p = (x: string) => join(root, x);
  synthesize('base', { out: p('base'), seed: 3, shape: { layout: 'moe', layers: 12, experts: 8, hidden: 64, moeIntermediate: 64, heads: 4, kvHeads: 2, vocab: 256 } });
  synthesize('independent', { out: p('independent'), like: p('base'), seed: 4 });
  addNoise(permuteHidden(p('base'), p('permuted'), 5), p('tuned'), 0.02, 6);
  // Layers 0-5 (and embeddings, lm_head) of the base, layers 6-11 of the independent model.
  const independent = openCheckpoint(p('independent'));
  rewrite(p('base'), p('partial'), (name, shape, values) => {
    const layer = /^model\.layers\.(\d+)\./.exec(name);
    return [{ name, shape, values: layer && Number(layer[1]) >= 6 ? readTensor(independent, name) : values }];
  });
  const tuned = await compareModels(p('base'), p('tuned'), { threads: 1, sample: 0.1 });
  t.is(tuned.verdict.label, 'derived');
  t.deepEqual(tuned.controls!.sampled!.alignedLayerPairs, { chosen: 4, of: 12 });
  const partial = await compareModels(p('base'), p('partial'), { threads: 1, sample: 0.1 });
  t.is(partial.verdict.label, 'partially-derived');
  // The 4 sampled pairs (layers 0, 4, 7, 11) fall on both halves.
  const attention = partial.controls!.alignment!.components.find((c) => c.component === 'attention')!;
  t.deepEqual(attention.cells.map((c) => [c.layerA, c.related]), [[0, true], [4, true], [7, false], [11, false]]);
});
