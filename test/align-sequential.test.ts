/**
 * The aligned layer cells read their null sequentially (core/src/align/index.ts, layerCells): 5
 * draws first, the other 5 only for a cell whose reading they could still change. A derivative's
 * cells stop at 5, far beyond their null; every cell that stopped is settled by the rule (p ≤ 1e-4
 * combined, or each channel at p ≥ 0.1); the hidden alignment's null stops the same way. The
 * false-positive rate with the rule in place is the calibration test's (test/align.test.ts) and
 * `npm run eval`'s table.
 */
import test from 'ava';
import { join } from 'node:path';
import { openCheckpoint } from '../core/src/checkpoint/folder.ts';
import { alignModels, type AlignmentSection } from '../core/src/align/index.ts';
import { synthesize } from '../core/src/synth/synth.ts';
import { tempDir } from './helpers/tmpdir.ts';

const SHAPE = { layers: 6, hidden: 96, intermediate: 256, heads: 6, kvHeads: 3, vocab: 384 };

function pair(kind: 'derivative' | 'independent'): AlignmentSection {
  const dir = tempDir();
  const a = join(dir, 'a');
  const b = join(dir, 'b');
  synthesize('base', { out: a, shape: SHAPE, seed: 11 });
  synthesize(kind, { out: b, like: a, drift: 0.05, seed: 12 });
  const section = alignModels({ a: openCheckpoint(a), b: openCheckpoint(b), tokenPairs: Array.from({ length: SHAPE.vocab }, (_, i) => [i, i] as [number, number]) });
  if (!section) throw new Error('no alignment section');
  return section;
}

const layerCells = (s: AlignmentSection) => s.components.filter((c) => c.component === 'attention' || c.component === 'dense MLP').flatMap((c) => c.cells);

test('a derivative\'s layer cells and hidden alignment stop after 5 null draws, far beyond their null', (t) => {
  const s = pair('derivative');
  const cells = layerCells(s);
  t.true(cells.length >= 12, `${cells.length} layer cells`);
  const stopped = cells.filter((c) => c.nullDraws === 5);
  t.true(stopped.length >= cells.length / 2, `${stopped.length} of ${cells.length} cells stopped at 5 draws`);
  for (const c of stopped) t.true(c.pValue <= 1e-4, `a derivative's cell stopped at p ${c.pValue}`);
  t.true(cells.every((c) => c.related), 'every cell is related');
  t.is(s.hidden!.kind, 'identity');
  t.regex(s.hidden!.nullKind, /, 5 draws \(5, then up to 10 unless settled\)$/);
});

test('an independent pair\'s cells stop early only where settled, and read all 10 draws otherwise', (t) => {
  const s = pair('independent');
  const cells = layerCells(s);
  t.true(cells.length >= 12, `${cells.length} layer cells`);
  for (const c of cells) {
    t.true(c.nullDraws === 5 || c.nullDraws === 10, `${c.nullDraws} draws`);
    if (c.nullDraws === 5) {
      const settled = c.pValue <= 1e-4 || (c.directionPValue >= 0.1 && (c.magnitudePValue === null || c.magnitudePValue >= 0.1));
      t.true(settled, `a cell stopped at 5 draws with direction p ${c.directionPValue}, magnitude p ${c.magnitudePValue}`);
    }
  }
  t.true(cells.some((c) => c.nullDraws === 10), 'cells not settled read the whole null');
  t.is(cells.filter((c) => c.related).length <= 2, true, 'at most a chance cell related');
  t.is(s.hidden!.kind, 'none');
});
