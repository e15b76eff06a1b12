/**
 * What the aligned tests read stays bounded as models grow: at most 12 evenly spaced layer pairs
 * get cells (their null partners drawn among them), the hidden alignment profiles at most 12
 * layers, and token rows are read row by row, not as whole embeddings.
 */
import test from 'ava';
import { join } from 'node:path';
import { openCheckpoint } from '../core/src/checkpoint/folder.ts';
import { alignedCellsPart, alignHiddenPart, alignModels, cellSpecs, planAlignment } from '../core/src/align/index.ts';
import { evenlySpaced } from '../core/src/align/stats.ts';
import { preadBytesRead } from '../core/src/io/pread.ts';
import { synthesize } from '../core/src/synth/synth.ts';
import { tempDir } from './helpers/tmpdir.ts';

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
  const root = tempDir();
  const shape = { layers: 20, hidden: 64, intermediate: 128, heads: 4, kvHeads: 2, vocab: 512 };
  synthesize('base', { out: join(root, 'a'), shape });
  synthesize('derivative', { out: join(root, 'd'), like: join(root, 'a'), drift: 0.02 });
  synthesize('independent', { out: join(root, 'i'), like: join(root, 'a') });
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
