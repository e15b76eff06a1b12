/** The matching kernel: WebAssembly SIMD dot products equal the JavaScript loop; the binary matches its source. */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { dots, dotsCompact, dotsJs, withDots } from '../core/src/align/dots.ts';
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
