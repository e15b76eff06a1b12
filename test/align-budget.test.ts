/**
 * What the aligned tests read stays bounded as models grow: at most 12 evenly spaced layer pairs
 * get cells (their null partners drawn among them), the hidden alignment profiles at most 12
 * layers, and token rows are read row by row, not as whole embeddings. And the magnitude channel
 * of the neuron cells: invariant where it must be, weighed in each cell's p-value.
 */
import test from 'ava';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openCheckpoint } from '../core/src/checkpoint/folder.ts';
import { alignedCellsPart, alignHiddenPart, alignModels, cellSpecs, planAlignment } from '../core/src/align/index.ts';
import { alignHidden } from '../core/src/align/hidden.ts';
import { writeSafetensors } from '../core/src/checkpoint/writer.ts';
import { shuffled } from '../core/src/synth/rewrite.ts';
import { evenlySpaced } from '../core/src/align/stats.ts';
import { ModelView } from '../core/src/align/model-view.ts';
import { magnitudeCorrelation, mlpUnits } from '../core/src/align/units.ts';
import { rescale } from '../core/src/synth/transforms.ts';
import { preadBytesRead } from '../core/src/io/pread.ts';
import { synthesize } from '../core/src/synth/synth.ts';
import { tempDir } from './helpers/tmpdir.ts';

/** A base model (a), a light fine-tune of it (d) and an independent model of its shape (i), in a new folder. */
function trio(shape: { layers: number; hidden: number; intermediate: number; heads: number; kvHeads: number; vocab: number }): string {
  const root = tempDir();
  synthesize('base', { out: join(root, 'a'), shape });
  synthesize('derivative', { out: join(root, 'd'), like: join(root, 'a'), drift: 0.02 });
  synthesize('independent', { out: join(root, 'i'), like: join(root, 'a') });
  return root;
}

test('evenly spaced positions: both ends, no repeats, every long run hit', (t) => {
  t.deepEqual(evenlySpaced(5, 12), [0, 1, 2, 3, 4]);
  t.deepEqual(evenlySpaced(48, 12), [0, 4, 9, 13, 17, 21, 26, 30, 34, 38, 43, 47]);
  const chosen = evenlySpaced(61, 12);
  t.is(chosen.length, 12);
  // Any run of ⌈60/11⌉ + 1 = 7 consecutive layers holds a chosen one.
  for (let start = 0; start + 7 <= 61; start++) t.true(chosen.some((c) => c >= start && c < start + 7), `run at ${start}`);
});

test('a 20-layer pair: cells on 12 evenly spaced layers, still related for a derivative and at the null for an independent model', (t) => {
  t.timeout(300_000);
  const root = trio({ layers: 20, hidden: 64, intermediate: 128, heads: 4, kvHeads: 2, vocab: 512 });
  const [a, d, i] = ['a', 'd', 'i'].map((x) => openCheckpoint(join(root, x)));
  const plan = planAlignment(a!, d!, null);
  t.deepEqual(plan.pairs.map((p) => p[0]), evenlySpaced(20, 12));
  const tokens = Array.from({ length: 512 }, (_, k) => [k, k] as [number, number]);
  const derived = alignModels({ a: a!, b: d!, tokenPairs: tokens, seed: 2 })!;
  const independent = alignModels({ a: a!, b: i!, tokenPairs: tokens, seed: 2 })!;
  for (const name of ['attention', 'dense MLP'] as const) {
    const cd = derived.components.find((c) => c.component === name)!;
    const ci = independent.components.find((c) => c.component === name)!;
    t.is(cd.cells.length, 12, `${name}: 12 cells`);
    t.is(cd.finding, 'related', `${name}: derivative related`);
    t.is(ci.finding, 'unrelated', `${name}: independent at the null`);
  }
});

test('token rows are read row by row: the embedding cells read a small share of the embedding and lm_head', (t) => {
  t.timeout(120_000);
  const root = tempDir();
  synthesize('base', { out: join(root, 'a'), shape: { layers: 2, hidden: 64, intermediate: 128, heads: 4, kvHeads: 2, vocab: 16_000 } });
  const a = openCheckpoint(join(root, 'a'));
  const tokens = Array.from({ length: 16_000 }, (_, k) => [k, k] as [number, number]);
  const hidden = alignHiddenPart(a, a, tokens.slice(0, 1024), 1)!;
  const { specs } = cellSpecs(planAlignment(a, a, null), hidden, tokens, 1);
  const spec = specs.find((s) => s.group === 'embedding and lm_head')!;
  const before = preadBytesRead();
  const part = alignedCellsPart(a, a, spec);
  const read = preadBytesRead() - before;
  const whole = a.tensors.filter((x) => /embed_tokens|lm_head/.test(x.name)).reduce((s, x) => s + x.byteLength, 0) * 2;
  t.is(part.drafts.length, 2, 'embedding and lm_head cells');
  t.true(part.drafts.every((c) => c.observed!.statistic > 0.99), 'a model against itself');
  t.true(read < whole / 10, `read ${read} bytes of ${whole}`);
});

test('the magnitude channel: invariant under function-preserving rescaling, related for a derivative, at its null for an independent model', (t) => {
  t.timeout(300_000);
  const root = trio({ layers: 3, hidden: 64, intermediate: 256, heads: 4, kvHeads: 2, vocab: 512 });
  // up×s with down÷s per neuron, norms folded into the next matrices: the same function, other weights.
  rescale(join(root, 'a'), join(root, 'r'), 7);
  const [a, d, i, r] = ['a', 'd', 'i', 'r'].map((x) => new ModelView(openCheckpoint(join(root, x))));
  const dims = Int32Array.from({ length: 64 }, (_, k) => k);
  const ma = mlpUnits({ view: a!, layer: 1, dims }, 'mlp')!.build(dims, null).magnitude!;
  const mr = mlpUnits({ view: r!, layer: 1, dims }, 'mlp')!.build(dims, null).magnitude!;
  const order = Array.from(ma.keys());
  t.true(magnitudeCorrelation(ma, order, mr, order)! > 0.99, 'rescaled neurons keep their magnitudes');
  for (const v of [a, d, i, r]) v!.close();
  const tokens = Array.from({ length: 512 }, (_, k) => [k, k] as [number, number]);
  const [ca, cd, ci] = ['a', 'd', 'i'].map((x) => openCheckpoint(join(root, x)));
  const mlp = (b: typeof ca) => alignModels({ a: ca!, b: b!, tokenPairs: tokens, seed: 4 })!.components.find((c) => c.component === 'dense MLP')!;
  const derived = mlp(cd);
  const independent = mlp(ci);
  // The magnitude null includes A's dimensions shuffled, whose matches often keep their magnitudes:
  // a wide null, so this channel adds evidence (p < 0.05 here) rather than deciding alone.
  t.true(derived.cells.every((c) => c.magnitude !== null && c.magnitude > 0.9 && c.magnitudePValue! < 0.05), JSON.stringify(derived.cells.map((c) => [c.magnitude, c.magnitudePValue])));
  t.true(derived.cells.every((c) => c.related), 'every derived cell related');
  t.true(derived.cells.every((c) => c.pValue <= c.directionPValue * 100), 'the cell weighs both channels');
  t.true(independent.cells.every((c) => c.magnitudePValue === null || c.magnitudePValue > 0.001), JSON.stringify(independent.cells.map((c) => [c.magnitude, c.magnitudePValue])));
  t.is(independent.finding, 'unrelated');
});

/** A model of an embedding alone (no layer gives a profile feature): columns of B are A's permuted, plus noise. */
function embeddingOnlyPair(root: string, width: number, vocab: number): { a: string; b: string; perm: number[] } {
  let s = 12345;
  const normal = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const u = (s + 0.5) / 4294967296;
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * ((s + 0.5) / 4294967296));
  };
  const a = Float32Array.from({ length: vocab * width }, () => normal());
  const perm = shuffled(width, 5);
  // B's column i is A's column perm[i], with 20% noise: a fine-tune that permuted the hidden dimension.
  const b = Float32Array.from({ length: vocab * width }, (_, k) => a[Math.floor(k / width) * width + perm[k % width]!]! + 0.2 * normal());
  const write = (folder: string, values: Float32Array) => {
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'config.json'), JSON.stringify({ hidden_size: width, vocab_size: vocab, num_hidden_layers: 0 }));
    writeSafetensors(join(folder, 'model.safetensors'), [{ name: 'model.embed_tokens.weight', dtype: 'F32', shape: [vocab, width] }],
      (_spec, first, count, out) => out.set(new Uint8Array(values.buffer, first * 4, count * 4)));
  };
  write(join(root, 'a'), a);
  write(join(root, 'b'), b);
  return { a: join(root, 'a'), b: join(root, 'b'), perm };
}

test('with no profile feature the embedding-only matching keeps within its budget by reading fewer token rows, and still recovers the permutation', (t) => {
  const root = tempDir();
  const width = 96;
  const pair = embeddingOnlyPair(root, width, 1200);
  const tokenPairs = Array.from({ length: 1200 }, (_, i) => [i, i] as [number, number]);
  const run = (budget?: number) => {
    const a = new ModelView(openCheckpoint(pair.a));
    const b = new ModelView(openCheckpoint(pair.b));
    try {
      return alignHidden({ a, b, tokenPairs, seed: 1, ...(budget ? { embeddingOnlyBudget: budget } : {}) })!;
    } finally {
      a.close();
      b.close();
    }
  };
  const whole = run();
  t.true(whole.alignment.features < 3, 'no layer: only the embedding column norms, too few profile features');
  t.deepEqual(whole.alignment.sources, ['embedding columns over 1024 shared tokens'], 'under the default budget: every row picked (at most 1024)');
  // A budget of 300 rows' worth at this width: 300 rows; of 100 rows' worth: the floor, 256.
  const cut = run(width * width * 300);
  t.deepEqual(cut.alignment.sources, ['embedding columns over 300 shared tokens']);
  const floor = run(width * width * 100);
  t.deepEqual(floor.alignment.sources, ['embedding columns over 256 shared tokens']);
  for (const found of [whole, cut, floor]) {
    t.is(found.alignment.kind, 'permuted');
    let right = 0;
    pair.perm.forEach((old, i) => { if (found.map.toB[old] === i) right++; });
    t.is(right, width, 'every dimension recovered');
  }
});

test('an all-zero embedding gives no correspondence, without matching its columns', (t) => {
  const root = tempDir();
  for (const side of ['a', 'b']) {
    const folder = join(root, side);
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'config.json'), JSON.stringify({ hidden_size: 64, vocab_size: 500, num_hidden_layers: 0 }));
    writeSafetensors(join(folder, 'model.safetensors'), [{ name: 'model.embed_tokens.weight', dtype: 'F32', shape: [500, 64] }], (_s, _f, _c, out) => out.fill(0));
  }
  const a = new ModelView(openCheckpoint(join(root, 'a')));
  const b = new ModelView(openCheckpoint(join(root, 'b')));
  t.is(alignHidden({ a, b, tokenPairs: Array.from({ length: 500 }, (_, i) => [i, i] as [number, number]), seed: 1 }), null);
  a.close();
  b.close();
});
