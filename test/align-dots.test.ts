/**
 * The matching kernel: WebAssembly SIMD dot products equal the JavaScript loop; bit for bit the
 * float32 arithmetic of the unblocked kernel it replaced; the binary matches its source.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { dots, dotsCompact, dotsJs, dotsSignFreeTail, freezeOperand, withDots } from '../core/src/align/dots.ts';
import { assembleDots } from '../core/src/align/wasm/build.ts';
import { Random } from '../core/src/synth/random.ts';

test('dots.wasm is the assembled source', async (t) => {
  const checkedIn = readFileSync(new URL('../core/src/align/wasm/dots.wasm', import.meta.url));
  t.deepEqual(Buffer.from(await assembleDots()), checkedIn);
});

for (const [n, m, w] of [[1, 1, 1], [3, 5, 17], [7, 300, 64], [16, 40, 250], [2, 3, 0]] as const) {
  test(`dots: ${n} × ${m} rows of ${w} floats agree with the JavaScript loop`, (t) => {
    const random = new Random(n * 1000 + m, 'dots');
    const x = Float32Array.from({ length: n * w }, () => random.normal() / Math.sqrt(w || 1));
    const y = Float32Array.from({ length: m * w }, () => random.normal() / Math.sqrt(w || 1));
    const fast = dots(x, n, y, m, w);
    const slow = dotsJs(x, n, y, m, w);
    t.is(fast.length, n * m);
    let worst = 0;
    fast.forEach((v, i) => { worst = Math.max(worst, Math.abs(v - slow[i]!)); });
    t.true(worst < 1e-5, `largest difference ${worst}`);
  });
}

test('withDots hands over the numbers dotsCompact returns, in place and valid during the call only', (t) => {
  const random = new Random(7, 'dots in place');
  const [n, m, w] = [33, 47, 34];
  const x = Float32Array.from({ length: n * w }, () => random.normal());
  const y = Float32Array.from({ length: m * w }, () => random.normal());
  const copied = dotsCompact(x, n, y, m, w);
  const before = Array.from(copied);
  const seen = withDots(x, n, y, m, w, (view) => Array.from(view));
  t.deepEqual(seen, before, 'the same numbers, bit for bit');
  // Another call overwrites the kernel's memory; what dotsCompact returned is a copy and stays.
  const other = withDots(y, m, x, n, w, (view) => view[1]);
  t.not(other, before[1]);
  t.deepEqual(Array.from(copied), before);
});

/**
 * The unblocked kernel's arithmetic, float32 by float32 (Math.fround after every multiply and
 * add): per dot product, four 4-lane sums over 16-float steps of the row padded with zeros (sum
 * c takes floats 4c..4c+3 of each step), each from +0; t = (s0 + s1) + (s2 + s3) lane by lane;
 * the result (t0 + t1) + (t2 + t3). The register-blocked kernel must give exactly these bits.
 */
function dotsUnblocked(x: Float32Array, n: number, y: Float32Array, m: number, w: number): Float32Array {
  const f = Math.fround;
  const wp = Math.ceil(w / 16) * 16;
  const out = new Float32Array(n * m);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      const s = [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]];
      for (let k = 0; k < wp; k += 16) {
        for (let c = 0; c < 4; c++) {
          for (let l = 0; l < 4; l++) {
            const at = k + 4 * c + l;
            const product = at < w ? f(x[i * w + at]! * y[j * w + at]!) : 0;
            s[c]![l] = f(s[c]![l]! + product);
          }
        }
      }
      const [s0, s1, s2, s3] = s as [number[], number[], number[], number[]];
      const t = [0, 1, 2, 3].map((l) => f(f(s0[l]! + s1[l]!) + f(s2[l]! + s3[l]!)));
      out[i * m + j] = f(f(t[0]! + t[1]!) + f(t[2]! + t[3]!));
    }
  }
  return out;
}

function sameBits(t: import('ava').ExecutionContext, got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  t.is(got.length, want.length, `${what}: length`);
  let differing = 0;
  let first = -1;
  for (let q = 0; q < want.length; q++) if (!Object.is(got[q], want[q])) { differing++; if (first < 0) first = q; }
  const show = (v: number | undefined) => (Object.is(v, -0) ? '-0' : String(v));
  t.is(differing, 0, `${what}: ${differing} of ${want.length} differ (first at ${first}: ${show(got[first])} vs ${show(want[first])})`);
}

// The kernel works in blocks of 2 rows of X × 4 rows of Y, over tiles of ~16 KB of Y's rows (84
// rows at 48 floats, 4 at 784): n even and odd (the single last row), m mod 4 = 0..3 (the single
// rows of Y), n = 1, m = 1, one step of 16 floats and many, rows padded (34, 100, 1), and m over
// several tiles with a partial last one (170 = 84 + 84 + 2 at 48 wide; 13 at 784).
const shapes = [
  [1, 1, 16], [1, 4, 16], [2, 1, 16], [1, 5, 48], [2, 4, 48], [3, 7, 48], [4, 6, 48], [5, 1, 256], [4, 6, 256],
  [6, 8, 256], [7, 9, 784], [6, 13, 784], [2, 3, 784], [33, 170, 34], [64, 87, 48], [9, 10, 100], [3, 2, 1],
] as const;
for (const [n, m, w] of shapes) {
  test(`dots: ${n} × ${m} rows of ${w} floats are the unblocked kernel's float32 arithmetic bit for bit`, (t) => {
    const random = new Random(n * 7919 + m * 31 + w, 'dots bits');
    const x = Float32Array.from({ length: n * w }, () => random.normal() / Math.sqrt(w));
    const y = Float32Array.from({ length: m * w }, () => random.normal() / Math.sqrt(w));
    const want = dotsUnblocked(x, n, y, m, w);
    sameBits(t, dotsCompact(x, n, y, m, w), want, 'dotsCompact');
    sameBits(t, dots(x, n, y, m, w), Float64Array.from(want), 'dots');
    withDots(x, n, y, m, w, (view) => sameBits(t, view, want, 'withDots'));
  });
}

test('dots: signed zeros come out as the unblocked kernel gives them (each sum starts from +0)', (t) => {
  // Rows of −0 and rows whose products are all −0: every sum is +0 + (−0) = +0, never −0.
  const [n, m, w] = [3, 5, 48];
  const random = new Random(5, 'dots zeros');
  const x = Float32Array.from({ length: n * w }, (_, q) => (q < w ? -0 : q < 2 * w ? random.normal() : 0));
  const y = Float32Array.from({ length: m * w }, (_, q) => (q < w ? -0 : q < 2 * w ? Math.abs(random.normal()) : random.normal()));
  x[2 * w + 3] = -1;
  const want = dotsUnblocked(x, n, y, m, w);
  t.true(want.some((v) => Object.is(v, 0)), 'the reference has +0 results');
  sameBits(t, dotsCompact(x, n, y, m, w), want, 'dotsCompact');
});

test('dots reuses its copy of a frozen operand only while it is the same operand in the same place; other operands are always copied afresh', (t) => {
  const random = new Random(11, 'dots operands');
  const w = 40; // padded to 48 in the kernel: rows are copied one by one
  const rows = (count: number) => Float32Array.from({ length: count * w }, () => random.normal());
  const [x, y1, y2] = [freezeOperand(rows(6)), freezeOperand(rows(9)), rows(9)];
  const bits = (a: Float64Array) => Array.from(new Uint32Array(a.buffer));
  // The same numbers as copies the kernel has never seen (fresh arrays are never reused).
  const fresh = (a: Float32Array) => Float32Array.from(a);
  const expect = (xa: Float32Array, n: number, ya: Float32Array, m: number, xRows: Int32Array | null = null) => bits(dots(fresh(xa), n, fresh(ya), m, w, xRows ? Int32Array.from(xRows) : null));
  const calls: [string, () => Float64Array, () => number[]][] = [
    ['x and y1', () => dots(x, 6, y1, 9, w), () => expect(x, 6, y1, 9)],
    ['x again, y1 again (both reused)', () => dots(x, 6, y1, 9, w), () => expect(x, 6, y1, 9)],
    ['x with the unfrozen y2', () => dots(x, 6, y2, 9, w), () => expect(x, 6, y2, 9)],
    ['fewer rows of x: y1 moves', () => dots(x, 4, y1, 9, w), () => expect(x, 4, y1, 9)],
    ['x as the second operand', () => dots(y1, 9, x, 6, w), () => expect(y1, 9, x, 6)],
    ['listed rows of x', () => dots(x, 3, y1, 9, w, freezeOperand(Int32Array.from([5, 0, 2]))), () => expect(x, 3, y1, 9, Int32Array.from([5, 0, 2]))],
    ['other listed rows of x', () => dots(x, 3, y1, 9, w, freezeOperand(Int32Array.from([1, 3, 4]))), () => expect(x, 3, y1, 9, Int32Array.from([1, 3, 4]))],
  ];
  for (const [what, run, reference] of calls) t.deepEqual(bits(run()), reference(), what);
  // An operand that is not frozen may change between calls: it is read again every time.
  dots(x, 6, y2, 9, w);
  y2.fill(0.5);
  t.deepEqual(bits(dots(x, 6, y2, 9, w)), expect(x, 6, y2, 9), 'a changed unfrozen operand');
  // Listed rows agree with the rows gathered by hand.
  const gathered = Float32Array.from([...x.subarray(2 * w, 3 * w), ...x.subarray(0, w)]);
  t.deepEqual(bits(dots(x, 2, y1, 9, w, Int32Array.from([2, 0]))), bits(dots(gathered, 2, y1, 9, w)), 'xRows picks those rows');
});

test('dotsSignFreeTail: head + |tail| of every pair, listed rows of x, any split and width, as two plain dot products give it; a frozen operand placed whole before is not taken for its columns', (t) => {
  const random = new Random(77, 'sign-free');
  for (const [n, m, w, at] of [[4, 9, 48, 16], [3, 7, 50, 17], [1, 1, 3, 1], [5, 12, 768, 256]] as const) {
    const x = freezeOperand(Float32Array.from({ length: n * w }, () => random.normal()));
    const y = freezeOperand(Float32Array.from({ length: m * w }, () => random.normal()));
    const rows = freezeOperand(Int32Array.from([n - 1, 0]));
    // Whole-row products first, so both operands sit placed whole in the kernel's memory.
    dots(x, n, y, m, w);
    for (const list of [null, rows]) {
      const got = dotsSignFreeTail(x, list ? list.length : n, y, m, w, at, list);
      for (let i = 0; i < (list ? list.length : n); i++) {
        const u = list ? list[i]! : i;
        for (let j = 0; j < m; j++) {
          let head = 0;
          let tail = 0;
          for (let c = 0; c < w; c++) (c < at ? (head += x[u * w + c]! * y[j * w + c]!) : (tail += x[u * w + c]! * y[j * w + c]!));
          const want = head + Math.abs(tail);
          t.true(Math.abs(got[i * m + j]! - want) < 1e-3 * (1 + Math.abs(want)), `${n}×${m}×${w} at ${at}, row ${u}, col ${j}: ${got[i * m + j]} vs ${want}`);
        }
      }
    }
  }
});
