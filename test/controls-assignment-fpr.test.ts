/**
 * The expert null's false-positive rate on independent weights (issue 12 item 3): pairs of
 * independent router matrices with within-model structure (a common direction, a low-rank
 * factor, unequal expert counts) are matched for real, and their optimal mean set against the
 * Gaussian null read two ways:
 *  - the empirical p-value analyzeLayer uses, (1 + draws ≥ observed)/(1 + R), at the draws the
 *    null runs for 128 experts (119): nominal rates 1/120 at p ≤ 0.01 and 12/120 at p ≤ 0.1;
 *  - the cheaper Student-t predictive p-value (null-pvalue.ts) on 39 draws: nominal 1%, 5%, 10%.
 * A valid null rejects at its nominal rate, within 99.9% binomial bounds.
 *
 * Seeds: the structures, sizes, trial counts and the predictive reading's draw count were set
 * on development seeds 100000–101499 and 200000–201499 (empirical, 119 draws: 10, 13, 10, 7 of
 * 1500 rejected at 1%; predictive, 39 draws: 14, 13, 10, 20, 13 of 1500 at 1% on five
 * structures, and 19 draws looked liberal at 10%: 172 and 176 of 1500, so 39 it is). This test
 * judges fresh seeds, 1–600 and 1001–1600, that played no part in those choices; the sequential
 * reading came after (first 9 draws, then stopped where more could not change the reading, judged
 * on seeds 2001–2600), and its present form (checked after 5 and 9 draws: experts.ts NULL_CHECKS,
 * bounds taken from the verdict's level, fitted to no seeds) is judged on seeds 3001–3600, unused before.
 */
import test from 'ava';
import { maximizeAssignmentFlat } from '../core/src/controls/assignment.ts';
import { assignmentNull, centerRows, EARLY_DRAWS, gram, NULL_CHECKS } from '../core/src/controls/experts.ts';
import { zigguratNormal } from '../core/src/controls/null-normals.ts';
import { expertNullPValue, PREDICTIVE_NULL_REPLICATES } from '../core/src/controls/null-pvalue.ts';
import { Random } from '../core/src/synth/random.ts';

const REPLICATES = 119;
const TRIALS = 600;
const FIRST_SEED = 1;

/** Rows of a model: common·c + Σ_q w_iq·basis_q + noise, centered and unit. */
function routerRows(random: Random, experts: number, d: number, common: number, rank: number) {
  const c = Array.from({ length: d }, () => zigguratNormal(random));
  const basis = Array.from({ length: rank * d }, () => zigguratNormal(random));
  const rows = new Float64Array(experts * d);
  for (let i = 0; i < experts; i++) {
    const w = Array.from({ length: rank }, () => zigguratNormal(random));
    for (let k = 0; k < d; k++) {
      let x = common * c[k]! + zigguratNormal(random);
      for (let q = 0; q < rank; q++) x += w[q]! * basis[q * d + k]!;
      rows[i * d + k] = x;
    }
  }
  return centerRows(rows, experts, d);
}

/** log P(X = k) for X ~ Binomial(n, p). */
function logBinomial(n: number, k: number, p: number): number {
  let logChoose = 0;
  for (let i = 1; i <= k; i++) logChoose += Math.log((n - k + i) / i);
  return logChoose + k * Math.log(p) + (n - k) * Math.log(1 - p);
}

/** The central interval holding all but `alpha` of Binomial(n, p): [lo, hi] with each tail ≤ alpha/2. */
function binomialInterval(n: number, p: number, alpha: number): [number, number] {
  const pmf = Array.from({ length: n + 1 }, (_, k) => Math.exp(logBinomial(n, k, p)));
  let lo = 0, below = 0;
  while (below + pmf[lo]! <= alpha / 2) below += pmf[lo++]!;
  let hi = n, above = 0;
  while (above + pmf[hi]! <= alpha / 2) above += pmf[hi--]!;
  return [lo, hi];
}

const STRUCTURES = [[16, 16, 64, 0, 0], [16, 16, 64, 0.8, 0], [12, 16, 96, 0.5, 0], [24, 24, 48, 0.3, 4]] as const;

/** p-values of `trials` independent pairs of one structure, seeds from `firstSeed` on. */
function nullPValues(
  structure: (typeof STRUCTURES)[number], firstSeed: number, replicates: number, read: (observed: number, draws: Float64Array) => number, drawsTaken?: number[],
): number[] {
  const [ea, eb, d, common, rank] = structure;
  const out: number[] = [];
  for (let trial = 0; trial < TRIALS; trial++) {
    const random = new Random(firstSeed + trial, 'fpr');
    const A = routerRows(random, ea, d, common, rank);
    const B = routerRows(random, eb, d, common, rank);
    const observed = maximizeAssignmentFlat(gram(A.rows, ea, B.rows, eb, d), ea, eb).total / Math.min(ea, eb);
    // With drawsTaken, the null is read sequentially as analyzeLayer reads it (the observed value given).
    const nul = assignmentNull(gram(A.rows, ea, A.rows, ea, d), ea, gram(B.rows, eb, B.rows, eb, d), eb, d - 1, replicates, 1, `fpr:${firstSeed + trial}`, drawsTaken ? observed : undefined);
    drawsTaken?.push(nul.values.length);
    out.push(read(observed, nul.values));
  }
  return out;
}

/** Rejections at each level within the 99.9% binomial interval of its nominal rate. */
function checkRates(t: import('ava').ExecutionContext, label: string, pValues: number[], levels: [level: number, nominal: number][], conservativeOk = false): void {
  for (const [level, nominal] of levels) {
    const rejected = pValues.filter((p) => p <= level).length;
    const [lo, hi] = binomialInterval(pValues.length, nominal, 0.001);
    t.log(`${label}: ${rejected}/${pValues.length} rejected at ${level} (nominal ${(nominal * pValues.length).toFixed(1)}, 99.9% binomial bounds ${lo}-${hi})`);
    t.true((conservativeOk || rejected >= lo) && rejected <= hi, `${label}, level ${level}: ${rejected} of ${pValues.length} outside ${conservativeOk ? 0 : lo}-${hi}`);
  }
}

for (const structure of STRUCTURES) {
  const [ea, eb, d, common, rank] = structure;
  const label = `${ea} × ${eb} experts, d = ${d}, common direction ${common}, low-rank factor ${rank}`;
  test(`empirical p-value, ${REPLICATES} draws: nominal false-positive rate on independent models, ${label}`, (t) => {
    const empirical = (observed: number, draws: Float64Array) => {
      let atLeast = 0;
      for (const v of draws) if (v >= observed - 1e-12) atLeast++;
      return (1 + atLeast) / (1 + draws.length);
    };
    // With 119 draws: P(p ≤ 0.01) = 1/120, P(p ≤ 0.1) = 12/120.
    checkRates(t, label, nullPValues(structure, FIRST_SEED, REPLICATES, empirical), [[0.01, 1 / 120], [0.1, 12 / 120]]);
  });
  test(`predictive p-value, ${PREDICTIVE_NULL_REPLICATES} draws: nominal false-positive rate on independent models, ${label}`, (t) => {
    checkRates(t, label, nullPValues(structure, FIRST_SEED + 1000, PREDICTIVE_NULL_REPLICATES, expertNullPValue), [[0.01, 0.01], [0.05, 0.05], [0.1, 0.1]]);
  });
  test(`predictive p-value read sequentially (checked after ${NULL_CHECKS.map((c) => c.draws).join(' and ')} draws): no more false positives than nominal, ${label}`, (t) => {
    // Stopping unrelated (p >= 0.5 after 5, p >= 0.1 after 9) can only lower the rate, so the lower
    // bound is not asked for; stopping at p <= 1e-6 adds at most 1e-6 at each check.
    const drawn: number[] = [];
    checkRates(t, label, nullPValues(structure, FIRST_SEED + 3000, PREDICTIVE_NULL_REPLICATES, expertNullPValue, drawn), [[0.01, 0.01], [0.05, 0.05], [0.1, 0.1]], true);
    const counts = [...NULL_CHECKS.map((c) => c.draws), PREDICTIVE_NULL_REPLICATES].map((n) => drawn.filter((d) => d === n).length);
    t.log(`nulls stopped after ${NULL_CHECKS.map((c) => c.draws).join(', ')} and ${PREDICTIVE_NULL_REPLICATES} draws: ${counts.join(', ')} of ${drawn.length}`);
    t.true(counts[0]! > drawn.length / 4, 'independent layers at or below the null mean stop after the first draws');
    t.true(counts[0]! + counts[1]! > (3 * drawn.length) / 4, 'most independent layers stop by the second check');
    t.true(drawn.every((n) => n === EARLY_DRAWS || n === NULL_CHECKS[1]!.draws || n === PREDICTIVE_NULL_REPLICATES));
  });
}
