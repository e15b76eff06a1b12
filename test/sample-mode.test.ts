import test from 'ava';
import { join } from 'node:path';
import { compareWeights } from '../core/src/compare/weights.ts';
import { drawBlocks, planSample } from '../core/src/sample/blocks.ts';
import { normalQuantile, studentQuantile } from '../core/src/sample/quantile.ts';
import { synthesize } from '../core/src/synth/synth.ts';
import { tempDir } from './helpers/tmpdir.ts';

const root = tempDir();
const base = join(root, 'base');
const derived = join(root, 'derived');
test.before(() => {
  synthesize('base', { out: base, shape: { layers: 2, hidden: 512, intermediate: 4096, vocab: 16384 } });
  synthesize('derivative', { out: derived, like: base, drift: 0.2 });
});

test('block draws are seeded, without replacement, sorted, and grow as prefixes', (t) => {
  const a = drawBlocks(1000, 50, 3, 'x');
  t.deepEqual(a, drawBlocks(1000, 50, 3, 'x'));
  t.notDeepEqual(a, drawBlocks(1000, 50, 4, 'x'));
  t.notDeepEqual(a, drawBlocks(1000, 50, 3, 'y'));
  t.is(new Set(a).size, 50);
  t.deepEqual(a, [...a].sort((x, y) => x - y));
  const more = new Set(drawBlocks(1000, 100, 3, 'x'));
  t.true(a.every((b) => more.has(b)), 'a larger sample keeps the blocks of a smaller one');
});

test('small tensors are read whole even in sampled mode', (t) => {
  t.is(planSample([512], 0.1, 1, 'norm'), null);
  t.is(planSample([512, 512], 0.1, 1, 'small matrix'), null);
  const plan = planSample([16384, 512], 0.1, 1, 'embedding')!;
  t.truthy(plan);
  t.true(plan.blocks.length >= 40 && plan.blocks.length < plan.totalBlocks / 2);
});

test('quantiles', (t) => {
  t.true(Math.abs(normalQuantile(0.975) - 1.959964) < 1e-5);
  t.true(Math.abs(studentQuantile(0.975, 30) - 2.042272) < 1e-3);
  t.true(Math.abs(studentQuantile(0.975, 10) - 2.228139) < 2e-3);
  // Few degrees of freedom (a sampled expert read in two to five blocks): exact to 1e-6.
  const table: [number, number, number][] = [[0.975, 1, 12.706205], [0.975, 2, 4.302653], [0.975, 3, 3.182446], [0.975, 4, 2.776445], [0.95, 3, 2.353363], [0.025, 2, -4.302653]];
  for (const [p, df, q] of table) t.true(Math.abs(studentQuantile(p, df) - q) < 1e-6, `t(${p}, ${df}) = ${studentQuantile(p, df)}`);
});

test('exact mode: zero-width intervals of the same shape, mode exact', async (t) => {
  const w = await compareWeights(base, derived);
  t.is(w.mode, 'exact');
  t.is(w.sampling, null);
  for (const x of w.tensors) {
    t.is(x.sampled, null);
    t.deepEqual(x.ci.cosine, [x.cosine, x.cosine]);
    t.deepEqual(x.ci.relL2, [x.relL2, x.relL2]);
  }
  t.deepEqual(w.roles[0]!.ci.cosine, [w.roles[0]!.cosine, w.roles[0]!.cosine]);
});

test('sampled mode: large tensors sampled (not hashed), the rest exact; the same for 1 and 2 threads', async (t) => {
  const one = await compareWeights(base, derived, { sample: 0.1, seed: 5, threads: 1 });
  const two = await compareWeights(base, derived, { sample: 0.1, seed: 5, threads: 2, targetTaskBytes: 1_000_000 });
  t.is(JSON.stringify(one), JSON.stringify(two));
  t.is(one.mode, 'sampled');
  t.true(one.sampling!.fractionRead < 0.5);
  const embed = one.tensors.find((x) => x.role === 'embedding')!;
  t.truthy(embed.sampled);
  t.is(embed.hashA, null);
  t.is(embed.identical, null);
  t.regex(embed.note!, /sampled \d+ of \d+ row blocks/);
  t.true(embed.ci.cosine![0] < embed.cosine! && embed.cosine! < embed.ci.cosine![1]);
  const norm = one.tensors.find((x) => x.group === 'norm')!;
  t.is(norm.sampled, null);
  t.regex(norm.hashA!, /^[0-9a-f]{32}$/);
  const mlp = one.roles.find((r) => r.role === 'mlp.up')!;
  t.true(mlp.ci.cosine![1] - mlp.ci.cosine![0] > 0, 'pooled intervals of sampled tensors have width');
});

test('--target-halfwidth: sampling grows until every interval is narrow enough', async (t) => {
  const coarse = await compareWeights(base, derived, { sample: 0.01, seed: 2 });
  const halfwidths = coarse.tensors.filter((x) => x.sampled).flatMap((x) => [x.ci.cosine!, x.ci.centeredCosine!, x.ci.relL2!].map(([lo, hi]) => (hi - lo) / 2));
  const W = Math.max(...halfwidths) / 3;
  t.true(halfwidths.some((h) => h > W), 'the coarse sample leaves some intervals wider than W');
  const fine = await compareWeights(base, derived, { sample: 0.01, seed: 2, targetHalfwidth: W });
  t.is(fine.sampling!.targetHalfwidth, W);
  for (const x of fine.tensors) {
    for (const stat of ['cosine', 'centeredCosine', 'relL2'] as const) {
      const [lo, hi] = x.ci[stat]!;
      t.true((hi - lo) / 2 <= W * (1 + 1e-9), `${x.name} ${stat}: ±${(hi - lo) / 2}`);
    }
  }
  t.true(fine.sampling!.fractionRead > coarse.sampling!.fractionRead);
});
