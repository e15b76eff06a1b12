/**
 * The fast permutation null (issue 12 item 3) against its references: the WebAssembly products
 * against the JavaScript loops, the Jonker–Volgenant assignment (WebAssembly and JavaScript)
 * against brute force, against the plain Hungarian method it replaced and against each other, the ziggurat against the normal distribution, and the
 * null's draws as a pure function of their inputs.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { maximizeAssignmentFlat, transpose } from '../core/src/controls/assignment.ts';
import { assignmentNull, centerRows, choleskyPsd, gram, gramJs } from '../core/src/controls/experts.ts';
import { fillNormals, zigguratNormal } from '../core/src/controls/null-normals.ts';
import { gramWasm, NullProducts, nullProductJs } from '../core/src/controls/null-products.ts';
import { assignmentNullReference, hungarianTotal } from '../core/src/controls/null-reference.ts';
import { assembleNull } from '../core/src/controls/wasm/build.ts';
import { LineageError } from '../core/src/errors.ts';
import { Random } from '../core/src/synth/random.ts';

test('null.wasm is the assembled source', async (t) => {
  const checkedIn = readFileSync(new URL('../core/src/controls/wasm/null.wasm', import.meta.url));
  t.deepEqual(Buffer.from(await assembleNull()), checkedIn);
});

/** A Gram matrix of `e` unit centered rows of length d (rank-deficient when d ≤ e). */
function randomGram(random: Random, e: number, d: number): Float64Array {
  const rows = centerRows(Float64Array.from({ length: e * d }, () => random.normal()), e, d);
  return gram(rows.rows, e, rows.rows, e, d);
}

for (const [ea, eb, d] of [[1, 1, 8], [3, 5, 16], [4, 4, 32], [7, 9, 40], [13, 6, 64], [16, 16, 8], [33, 30, 96], [128, 128, 256]] as const) {
  test(`null products: WebAssembly equals the JavaScript loops, ${ea} × ${eb} experts (d = ${d})`, (t) => {
    const random = new Random(ea * 100 + eb, 'products');
    const la = choleskyPsd(randomGram(random, ea, d), ea);
    const lb = choleskyPsd(randomGram(random, eb, d), eb);
    const products = new NullProducts(la, ea, lb, eb);
    t.true(products.simd, 'WebAssembly SIMD runs here (Node 20)');
    const z = new Float64Array(ea * eb);
    for (let draw = 0; draw < 3; draw++) {
      fillNormals(random, z);
      const scale = 1 / Math.sqrt(d - 1);
      const fast = products.product(z, scale);
      const slow = nullProductJs(la, ea, lb, eb, z, scale);
      t.is(fast.length, ea * eb);
      let worst = 0;
      fast.forEach((v, i) => { worst = Math.max(worst, Math.abs(v - slow[i]!)); });
      t.true(worst <= 1e-12, `draw ${draw}: largest difference ${worst}`);
    }
  });
}

test('null products: two sets of factors used in turn on one thread each get their own products', (t) => {
  const random = new Random(31, 'interleaved');
  const sizes = [[20, 24], [9, 7]] as const;
  const factors = sizes.map(([ea, eb]) => ({ ea, eb, la: choleskyPsd(randomGram(random, ea, 48), ea), lb: choleskyPsd(randomGram(random, eb, 48), eb) }));
  const products = factors.map((f) => new NullProducts(f.la, f.ea, f.lb, f.eb));
  for (let round = 0; round < 4; round++) {
    const which = round % 2;
    const f = factors[which]!;
    const z = new Float64Array(f.ea * f.eb);
    fillNormals(random, z);
    const fast = Float64Array.from(products[which]!.product(z, 0.5));
    const slow = nullProductJs(f.la, f.ea, f.lb, f.eb, z, 0.5);
    let worst = 0;
    fast.forEach((v, i) => { worst = Math.max(worst, Math.abs(v - slow[i]!)); });
    t.true(worst <= 1e-12, `round ${round} (${f.ea} × ${f.eb}): largest difference ${worst}`);
  }
});

for (const [n, m, d] of [[1, 1, 1], [3, 5, 7], [16, 16, 256], [13, 6, 33], [128, 100, 64]] as const) {
  test(`router Gram products: WebAssembly equals the JavaScript loop, ${n} × ${m} rows of ${d}`, (t) => {
    const random = new Random(n * 31 + m, 'gram');
    const x = Float64Array.from({ length: n * d }, () => random.normal());
    const y = Float64Array.from({ length: m * d }, () => random.normal());
    const fast = gramWasm(x, n, y, m, d);
    t.truthy(fast, 'WebAssembly SIMD runs here (Node 20)');
    t.deepEqual(Array.from(fast!), Array.from(gramJs(x, n, y, m, d)), 'the same sums in the same order');
    t.deepEqual(Array.from(gram(x, n, y, m, d)), Array.from(fast!));
  });
}

/** The best total over every matching, by enumeration (rows ≤ 7). */
function bruteForce(values: Float64Array, rows: number, cols: number): number {
  const n = Math.min(rows, cols);
  const big = Math.max(rows, cols);
  const taken = new Uint8Array(big);
  let best = -Infinity;
  const walk = (k: number, sum: number) => {
    if (k === n) { best = Math.max(best, sum); return; }
    for (let j = 0; j < big; j++) {
      if (taken[j]) continue;
      taken[j] = 1;
      walk(k + 1, sum + (rows <= cols ? values[k * cols + j]! : values[j * cols + k]!));
      taken[j] = 0;
    }
  };
  walk(0, 0);
  return best;
}

function checkMatching(t: import('ava').ExecutionContext, rowToCol: number[], rows: number, cols: number, label: string): void {
  t.is(rowToCol.length, rows);
  const used = rowToCol.filter((j) => j >= 0);
  t.is(used.length, Math.min(rows, cols), `${label}: every row of the smaller side matched`);
  t.is(new Set(used).size, used.length, `${label}: one-to-one`);
  t.true(used.every((j) => j < cols), label);
}

test('linear assignment: the brute-force optimum on small square and rectangular matrices, ties included', (t) => {
  const random = new Random(17, 'brute');
  for (let trial = 0; trial < 600; trial++) {
    const rows = 1 + (trial % 7);
    const cols = 1 + (Math.floor(trial / 7) % 7);
    // A third of the matrices hold small integers: many ties, which the reductions must get right.
    const v = Float64Array.from({ length: rows * cols }, () => (trial % 3 === 0 ? Math.floor(random.uniform() * 4) : random.normal()));
    const best = bruteForce(v, rows, cols);
    for (const engine of ['auto', 'js'] as const) {
      const { rowToCol, total } = maximizeAssignmentFlat(v, rows, cols, engine);
      checkMatching(t, rowToCol, rows, cols, `${rows}×${cols} (${engine})`);
      t.true(Math.abs(total - best) < 1e-9, `${rows}×${cols} (${engine}): ${total} vs brute force ${best}`);
    }
  }
});

test('linear assignment: the same optimum as the Hungarian method it replaced, up to 70 × 70 and rectangular', (t) => {
  const random = new Random(23, 'reference');
  for (let trial = 0; trial < 300; trial++) {
    const rows = 1 + Math.floor(random.uniform() * 70);
    const cols = trial % 4 === 0 ? rows : 1 + Math.floor(random.uniform() * 70);
    const kind = trial % 3;
    const v = Float64Array.from({ length: rows * cols }, () => (kind === 0 ? Math.floor(random.uniform() * 5) : kind === 1 ? random.normal() * 0.06 : random.uniform()));
    const { rowToCol, total } = maximizeAssignmentFlat(v, rows, cols);
    checkMatching(t, rowToCol, rows, cols, `${rows}×${cols}`);
    t.deepEqual(maximizeAssignmentFlat(v, rows, cols, 'js').rowToCol, rowToCol, 'WebAssembly and JavaScript: the same matching');
    let recomputed = 0;
    rowToCol.forEach((j, i) => { if (j >= 0) recomputed += v[i * cols + j]!; });
    t.true(Math.abs(recomputed - total) < 1e-9, 'the total is the matching\'s');
    // The reference wants rows ≤ cols: its transpose otherwise.
    const reference = rows <= cols ? hungarianTotal(v, rows, cols) : hungarianTotal(transpose(v, rows, cols), cols, rows);
    t.true(Math.abs(total - reference) < 1e-9 * Math.max(1, Math.abs(reference)), `${rows}×${cols}: ${total} vs the Hungarian method ${reference}`);
  }
});

test('linear assignment: WebAssembly and JavaScript find the same matching on null-sized matrices (128 × 128, 256 × 256, 100 × 128, 128 × 100)', (t) => {
  const random = new Random(29, 'large');
  for (const [rows, cols] of [[128, 128], [256, 256], [100, 128], [128, 100]] as const) {
    for (let trial = 0; trial < 3; trial++) {
      // Rows and columns with their own offsets (as correlated router rows give), then noise.
      const rowShift = Array.from({ length: rows }, () => random.normal() * 0.05);
      const colShift = Array.from({ length: cols }, () => random.normal() * 0.05);
      const v = Float64Array.from({ length: rows * cols }, (_, k) => rowShift[Math.floor(k / cols)]! + colShift[k % cols]! + random.normal() * 0.03);
      const fast = maximizeAssignmentFlat(v, rows, cols);
      const js = maximizeAssignmentFlat(v, rows, cols, 'js');
      checkMatching(t, fast.rowToCol, rows, cols, `${rows}×${cols}`);
      t.deepEqual(fast.rowToCol, js.rowToCol, `${rows}×${cols}: the same matching`);
      t.is(fast.total, js.total);
    }
  }
});

test('linear assignment: a non-finite similarity is an error, not an endless search', (t) => {
  t.throws(() => maximizeAssignmentFlat(Float64Array.of(1, NaN, 0, 1), 2, 2), { instanceOf: LineageError, message: /non-finite/ });
  t.throws(() => maximizeAssignmentFlat(Float64Array.of(1, Infinity, 0), 1, 3), { message: /non-finite/ });
  t.throws(() => maximizeAssignmentFlat(Float64Array.of(1, NaN, 0, 1), 2, 2, 'js'), { message: /non-finite/ });
});

/** Standard normal upper tail P(Z > x), x ≥ 0: erf's Taylor series below z = 2, erfc's continued fraction above (both to ~1e-13). */
function normalUpper(x: number): number {
  const z = x / Math.SQRT2;
  if (z < 2) {
    let term = z, sum = z;
    for (let k = 1; k < 60; k++) { term *= -z * z / k; sum += term / (2 * k + 1); }
    return 0.5 - sum / Math.sqrt(Math.PI);
  }
  // erfc(z) = e^(−z²)/√π / (z + ½/(z + 1/(z + 3/2/(z + …)))), by Lentz's method.
  let f = z, c = z, d = 0;
  for (let k = 1; k < 200; k++) {
    d = 1 / (z + (k / 2) * d);
    c = z + (k / 2) / c;
    f *= c * d;
  }
  return Math.exp(-z * z) / Math.sqrt(Math.PI) / f / 2;
}

test('ziggurat normals: mean, variance and tails of the standard normal', (t) => {
  const random = new Random(5, 'ziggurat');
  const n = 400_000;
  const draws = new Float64Array(n);
  fillNormals(random, draws);
  let mean = 0, m2 = 0, m4 = 0;
  for (const x of draws) { mean += x; m2 += x * x; m4 += x ** 4; }
  mean /= n; m2 /= n; m4 /= n;
  t.true(Math.abs(mean) < 5 / Math.sqrt(n), `mean ${mean}`);
  t.true(Math.abs(m2 - 1) < 5 * Math.sqrt(2 / n), `variance ${m2}`);
  t.true(Math.abs(m4 - 3) < 5 * Math.sqrt(96 / n), `fourth moment ${m4}`);
  // Both tails beyond the strip edges and the tail start (R = 3.44), against binomial spread.
  for (const x of [0.5, 1, 2, 3, 3.44, 4]) {
    const p = normalUpper(x);
    const upper = draws.filter((v) => v > x).length;
    const lower = draws.filter((v) => v < -x).length;
    const sd = Math.sqrt(n * p * (1 - p));
    t.true(Math.abs(upper - n * p) < 5 * sd + 1, `P(Z > ${x}): ${upper / n} vs ${p}`);
    t.true(Math.abs(lower - n * p) < 5 * sd + 1, `P(Z < −${x}): ${lower / n} vs ${p}`);
  }
  // Kolmogorov–Smirnov on a sorted sub-sample: the whole shape, not just a few points.
  const sorted = Float64Array.from(draws.subarray(0, 50_000)).sort();
  let ks = 0;
  sorted.forEach((x, i) => {
    const cdf = x >= 0 ? 1 - normalUpper(x) : normalUpper(-x);
    ks = Math.max(ks, Math.abs(cdf - i / sorted.length), Math.abs(cdf - (i + 1) / sorted.length));
  });
  t.true(ks < 1.95 / Math.sqrt(sorted.length), `KS distance ${ks} (0.1% critical value ${(1.95 / Math.sqrt(sorted.length)).toFixed(5)})`);
  t.true(Number.isFinite(zigguratNormal(new Random(1, 'one'))));
});

test('the null is a pure function of its inputs: same draws for the same seed and stream, others for another stream', (t) => {
  const random = new Random(3, 'pure');
  const [ea, eb, d] = [10, 12, 64];
  const ga = randomGram(random, ea, d);
  const gb = randomGram(random, eb, d);
  const first = assignmentNull(ga, ea, gb, eb, d - 1, 25, 7, 'experts:3');
  const again = assignmentNull(ga, ea, gb, eb, d - 1, 25, 7, 'experts:3');
  const other = assignmentNull(ga, ea, gb, eb, d - 1, 25, 7, 'experts:4');
  t.deepEqual(Array.from(again.values), Array.from(first.values));
  t.notDeepEqual(Array.from(other.values), Array.from(first.values));
  t.true(first.sd > 0 && first.mean > 0);
});

test('the fast null has the distribution of the null as first written (same Gram matrices, other draws)', (t) => {
  const random = new Random(9, 'same-null');
  for (const [ea, eb, d] of [[24, 24, 64], [10, 20, 128]] as const) {
    const ga = randomGram(random, ea, d);
    const gb = randomGram(random, eb, d);
    const draws = 600;
    const fast = assignmentNull(ga, ea, gb, eb, d - 1, draws, 1, 'same');
    const slow = assignmentNullReference(ga, ea, gb, eb, d - 1, draws, 1, 'same');
    const se = Math.sqrt((fast.sd ** 2 + slow.sd ** 2) / draws);
    t.log(`${ea} × ${eb}: fast ${fast.mean.toFixed(4)} ± ${fast.sd.toFixed(4)}, as first written ${slow.mean.toFixed(4)} ± ${slow.sd.toFixed(4)}`);
    t.true(Math.abs(fast.mean - slow.mean) < 4 * se, 'same centre');
    t.true(Math.abs(fast.sd / slow.sd - 1) < 0.2, 'same spread');
  }
});
