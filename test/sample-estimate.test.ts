/**
 * The sampled intervals' arithmetic (core/src/sample/estimate.ts): stratifiedIntervals makes the
 * three statistics' intervals in one pass over the same deletions, and must give each exactly what
 * stratifiedInterval gives it alone, including where one statistic has no value and the others do.
 */
import test from 'ava';
import { INTERVAL_STATS, statFromSums, stratifiedInterval, stratifiedIntervals, type Stratum, type Sums } from '../core/src/sample/estimate.ts';
import { generator } from './helpers/draws.ts';

/** Sums of a block of `n` pairs (a, b = a·k + noise), as the kernel would add them up. */
function block(g: ReturnType<typeof generator>, n: number, k: number, constantB = false): Sums {
  const s: Sums = [n, 0, 0, 0, 0, 0, 0];
  for (let i = 0; i < n; i++) {
    const a = g.normal();
    const b = constantB ? 0.5 : a * k + 0.3 * g.normal();
    s[1] += a; s[2] += b; s[3] += a * a; s[4] += b * b; s[5] += a * b; s[6] += (a - b) ** 2;
  }
  return s;
}

const sampled = (blocks: Sums[], totalBlocks: number): Stratum => ({ blocks, totalBlocks, exact: false });
const exact = (sums: Sums): Stratum => ({ blocks: [sums], totalBlocks: 1, exact: true });

test('stratifiedIntervals gives each statistic what stratifiedInterval gives it alone, bit for bit', (t) => {
  const g = generator(11);
  const cases: [string, Stratum[]][] = [
    ['two sampled strata', [sampled([block(g, 64, 0.9), block(g, 64, 0.8), block(g, 64, 1.1)], 40), sampled([block(g, 32, 0.2), block(g, 32, 0.1)], 9)]],
    ['exact and sampled', [exact(block(g, 500, 0.5)), sampled([block(g, 64, 0.9), block(g, 64, 0.7), block(g, 64, 0.95), block(g, 64, 1)], 12)]],
    ['a sampled stratum of one block (unknown)', [sampled([block(g, 64, 0.9)], 10), sampled([block(g, 64, 0.9), block(g, 64, 0.9)], 10)]],
    ['a sampled stratum with no block read', [sampled([], 10), exact(block(g, 100, 1))]],
    ['all exact', [exact(block(g, 100, 1)), exact(block(g, 50, -1))]],
    ['B constant: no centered cosine, the others defined', [sampled([block(g, 16, 0, true), block(g, 16, 0, true), block(g, 16, 0, true)], 30)]],
  ];
  for (const [label, strata] of cases) {
    const together = stratifiedIntervals(strata, 0.95);
    const alone = Object.fromEntries(INTERVAL_STATS.map((stat) => [stat, stratifiedInterval(strata, stat, 0.95)]));
    t.deepEqual(Object.keys(together), [...INTERVAL_STATS], label);
    for (const stat of INTERVAL_STATS) {
      for (const key of ['estimate', 'low', 'high', 'halfwidth'] as const) t.true(Object.is(together[stat][key], alone[stat]![key]), `${label}: ${stat}.${key}`);
    }
  }
  const constantB = stratifiedIntervals(cases[5]![1], 0.95);
  t.is(constantB.centeredCosine.estimate, null, 'the constant side leaves no centered cosine');
  t.not(constantB.relL2.halfwidth, null, 'relL2 still has its interval');
  // The estimate is the expansion estimate: the strata's totals weighed by totalBlocks / blocks read.
  const [h1, h2] = cases[0]![1] as [Stratum, Stratum];
  const grand: Sums = [0, 0, 0, 0, 0, 0, 0];
  for (const h of [h1, h2]) for (const b of h.blocks) for (let k = 0; k < 7; k++) grand[k] += (h.totalBlocks / h.blocks.length) * b[k]!;
  t.true(Math.abs(stratifiedIntervals([h1, h2], 0.95).cosine.estimate! - statFromSums(grand, 'cosine')!) < 1e-12);
  t.true(stratifiedIntervals([h1, h2], 0.95).cosine.halfwidth! > 0);
});
