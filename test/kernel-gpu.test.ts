/**
 * The gpu.js kernel, run by gpu.js on the CPU: 'cpu' (JavaScript, float64 arithmetic) and
 * 'webasm' (WebAssembly, float32 arithmetic like a GPU). Both must agree with the float64
 * reference kernel within 1e-6; a real GPU is checked by bench/gpu-check.
 */
import test from 'ava';
import { CELL, GpuKernel, MAX_CHUNK, MomentsAccumulator, type GpuMode } from '../core/src/kernels/gpu-kernel.ts';
import { JsKernel } from '../core/src/kernels/js-kernel.ts';
import type { Layout, PairKernel } from '../core/src/kernels/kernel.ts';
import { finalizeMoments, mergeMoments, emptyMoments, type Moments, type PairStatistics } from '../core/src/stats/moments.ts';
import { encodeFloats } from '../core/src/synth/encode.ts';

const probe = GpuKernel.probe();
const gpuTest = probe.available ? test : test.skip;
if (!probe.available) console.log(`kernel-gpu tests skipped: ${probe.reason}`);

/** Deterministic approximately-normal float32 values (Box–Muller over an LCG). */
function normals(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 4294967296;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  return out;
}

const map = (xs: Float32Array, f: (x: number, i: number) => number) => {
  const out = new Float32Array(xs.length);
  for (let i = 0; i < xs.length; i++) out[i] = f(xs[i]!, i);
  return out;
};

/** bf16 bytes of float32 values, rounded to nearest even (NaN stays NaN). */
function bf16(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * 2);
  encodeFloats('BF16', values, values.length, out);
  return out;
}

const bytesOf = (values: Float32Array) => new Uint8Array(values.buffer, values.byteOffset, values.byteLength);

function moments(kernel: PairKernel, layout: Layout, a: Uint8Array, b: Uint8Array, count: number): Moments {
  kernel.reset();
  kernel.accumulate({ layout, data: a }, { layout, data: b }, count);
  return kernel.result();
}

function assertAgree(t: { true(ok: boolean, message?: string): void; is(a: unknown, b: unknown, message?: string): void }, got: PairStatistics, want: PairStatistics): void {
  t.is(got.n, want.n, 'n');
  t.is(`${got.nanA} ${got.infA} ${got.nanB} ${got.infB}`, `${want.nanA} ${want.infA} ${want.nanB} ${want.infB}`, 'NaN/Inf counts');
  const near = (x: number | null, y: number | null, tol: number) => (x === null || y === null ? x === y : Math.abs(x - y) <= tol);
  for (const key of ['cosine', 'centeredCosine'] as const) t.true(near(got[key], want[key], 1e-6), `${key}: ${got[key]} vs ${want[key]}`);
  for (const key of ['relL2', 'mse', 'stdA', 'stdB'] as const) {
    const x = got[key], y = want[key];
    t.true(x === null || y === null ? x === y : Math.abs(x - y) <= 1e-6 * Math.abs(y), `${key}: ${x} vs ${y}`);
  }
  // A mean near 0 is the difference of large sums: its error scales with the spread.
  for (const [key, spread] of [['meanA', want.stdA], ['meanB', want.stdB]] as const) {
    const x = got[key], y = want[key];
    t.true(x === null || y === null ? x === y : Math.abs(x - y) <= 1e-6 * (Math.abs(y) + spread!), `${key}: ${x} vs ${y}`);
  }
  // a − b is formed in float32 on the GPU: equal to float64 within one rounding.
  t.true(near(got.maxAbsDiff, want.maxAbsDiff, 1e-7 * Math.abs(want.maxAbsDiff ?? 0)), `maxAbsDiff: ${got.maxAbsDiff} vs ${want.maxAbsDiff}`);
}

type Case = { name: string; a: Float32Array; b: Float32Array };

function cases(): Case[] {
  const n = 100_003; // not a multiple of the cell (128) nor of the reference's block (4096)
  const z1 = normals(n, 1), z2 = normals(n, 2), z3 = normals(n, 3);
  const withBad = (xs: Float32Array, bad: Array<[number, number]>) => { const out = xs.slice(); for (const [i, v] of bad) out[i] = v; return out; };
  return [
    { name: 'random normal matrices', a: map(z1, (x) => 0.02 * x), b: map(z2, (x) => 0.02 * x) },
    { name: 'nearly equal (fine-tune)', a: map(z1, (x) => 0.02 * x), b: map(z1, (x, i) => 0.02 * x + 1e-5 * z3[i]!) },
    { name: 'norm vectors near 1', a: map(z1, (x) => 1 + 0.001 * x), b: map(z2, (x) => 1 + 0.001 * x) },
    { name: 'related norm vectors near 1', a: map(z1, (x) => 1 + 0.001 * x), b: map(z1, (x, i) => 1 + 0.001 * x + 0.0002 * z3[i]!) },
    { name: 'offset mean, rows of different scale', a: map(z1, (x, i) => 3 + (1 + (i % 97)) * x), b: map(z2, (x, i) => -2 + (i % 13) * x + 0.5 * z1[i]!) },
    {
      name: 'NaN and Inf (cell heads, middles, tail)',
      a: withBad(z1, [[0, NaN], [CELL, Infinity], [5000, -Infinity], [n - 1, NaN], [70_001, NaN]]),
      b: withBad(z2, [[5000, 1], [7, -Infinity], [CELL * 9, NaN], [70_001, Infinity], [n - 2, Infinity]]),
    },
    { name: 'huge values (float32 sums overflow)', a: map(z1, (x) => 3e19 * x), b: map(z2, (x) => 3e19 * x) },
    { name: 'A all zeros', a: new Float32Array(1000), b: z2.subarray(0, 1000).slice() },
  ];
}

const modes: GpuMode[] = ['cpu', 'webasm'];

for (const mode of modes) {
  for (const layout of ['f32', 'bf16'] as const) {
    gpuTest(`gpu.js ${mode} ${layout}: agrees with the float64 reference within 1e-6`, (t) => {
      const kernel = new GpuKernel({ mode });
      try {
        for (const c of cases()) {
          const a = layout === 'f32' ? bytesOf(c.a) : bf16(c.a);
          const b = layout === 'f32' ? bytesOf(c.b) : bf16(c.b);
          const got = finalizeMoments(moments(kernel, layout, a, b, c.a.length));
          const want = finalizeMoments(moments(new JsKernel(), layout, a, b, c.a.length));
          t.log(`${c.name}: cosine ${got.cosine} centered ${got.centeredCosine} relL2 ${got.relL2}`);
          assertAgree(t, got, want);
        }
      } finally {
        kernel.dispose();
      }
    });
  }

  gpuTest(`gpu.js ${mode}: lengths around the cell size and windows of mixed layouts`, (t) => {
    const kernel = new GpuKernel({ mode });
    const n = 3 * CELL + 1;
    const x = normals(n, 7), y = map(normals(n, 8), (v, i) => v + x[i]!);
    for (const count of [1, 2, CELL - 1, CELL, CELL + 1, 2 * CELL, n]) {
      // A as bf16 bytes in the raw window, B as float32 in its scratch window, as a reader would.
      const w = kernel.windows(count);
      w.rawA.set(bf16(x.subarray(0, count)));
      w.f32B.set(y.subarray(0, count));
      kernel.reset();
      kernel.accumulate({ layout: 'bf16', data: w.rawA }, { layout: 'f32', data: w.f32B.subarray(0, count) }, count);
      const ref = new JsKernel();
      const rw = ref.windows(count);
      rw.rawA.set(w.rawA.subarray(0, 2 * count));
      rw.f32B.set(y.subarray(0, count));
      ref.reset();
      ref.accumulate({ layout: 'bf16', data: rw.rawA }, { layout: 'f32', data: rw.f32B.subarray(0, count) }, count);
      t.log(`count ${count}`);
      assertAgree(t, finalizeMoments(kernel.result()), finalizeMoments(ref.result()));
    }
    kernel.dispose();
  });
}

gpuTest('gpu.js cpu: a tensor longer than 2^24 elements is chunked and agrees with the reference', (t) => {
  const n = MAX_CHUNK + 1000;
  // Cheap long inputs: a table of normals indexed by an LCG; B is A plus small noise.
  const table = normals(1 << 16, 11);
  const a = new Float32Array(n), b = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = 1 + 0.01 * table[s >>> 16]!;
    b[i] = a[i]! + 0.001 * table[(s >>> 3) & 0xffff]!;
  }
  a[MAX_CHUNK + 5] = NaN; // past 2^24: must be seen and counted
  b[MAX_CHUNK - 1] = Infinity; // the last element of the first chunk
  for (const layout of ['bf16', 'f32'] as const) {
    const ab = layout === 'f32' ? bytesOf(a) : bf16(a);
    const bb = layout === 'f32' ? bytesOf(b) : bf16(b);
    const kernel = new GpuKernel({ mode: 'cpu' });
    const got = finalizeMoments(moments(kernel, layout, ab, bb, n));
    kernel.dispose();
    t.is(kernel.counters.kernelCalls, 2);
    t.true(kernel.counters.largestCall <= MAX_CHUNK);
    t.is(kernel.counters.cellsOnCpu, 2);
    const want = finalizeMoments(moments(new JsKernel(), layout, ab, bb, n));
    t.log(`${layout}: n ${got.n}, centered cosine ${got.centeredCosine} vs ${want.centeredCosine}`);
    t.is(got.n, n - 2);
    assertAgree(t, got, want);
  }
});

gpuTest('gpu.js: the worker thread gives bit-identical results, and repeated runs are identical', (t) => {
  const a = bytesOf(normals(50_001, 21)), b = bytesOf(normals(50_001, 22));
  const main = new GpuKernel({ mode: 'cpu' });
  const worker = new GpuKernel({ mode: 'cpu', thread: 'worker' });
  try {
    const first = moments(main, 'f32', a, b, 50_001);
    t.deepEqual(moments(main, 'f32', a, b, 50_001), first);
    // The worker reads shared windows directly; plain buffers are copied into shared scratch.
    const w = worker.windows(50_001);
    t.true(w.rawA.buffer instanceof SharedArrayBuffer);
    w.rawA.set(a); w.rawB.set(b);
    t.deepEqual(moments(worker, 'f32', w.rawA, w.rawB, 50_001), first);
    t.deepEqual(moments(worker, 'f32', a, b, 50_001), first);
  } finally {
    main.dispose();
    worker.dispose();
  }
  t.throws(() => moments(worker, 'f32', a, b, 50_001), { message: /closed/ });
});

gpuTest('gpu.js: probe says whether a real GPU backend exists, and why not', (t) => {
  t.true(typeof probe.backend === 'string' && probe.backend.length > 0);
  if (!probe.real) {
    t.true((probe.reason ?? '').length > 0);
    t.not(probe.backend, 'webgpu');
  }
  t.throws(() => new GpuKernel({ mode: 'webgpu', thread: 'main' }), { message: /asynchronous/ });
});

gpuTest('gpu.js: WebGPU (Dawn) is probed only when asked: threads loading Dawn in turn aborted lineage compare on an H200', (t) => {
  // Without webgpu the probe never starts Dawn, so its reason names no webgpu attempt.
  const plain = GpuKernel.probe({ refresh: true });
  t.not(plain.backend, 'webgpu');
  t.notRegex(plain.reason ?? '', /webgpu:/);
  const asked = GpuKernel.probe({ webgpu: true, refresh: true });
  if (asked.backend === 'webgpu') t.true(asked.real);
  else t.regex(asked.reason ?? '', /webgpu:/);
});

test('MomentsAccumulator merges exactly as mergeMoments does', (t) => {
  const z = normals(4000, 31);
  const blocks: Moments[] = [];
  for (let k = 0; k < 40; k++) {
    const m = emptyMoments();
    Object.assign(m, { n: k % 7 === 3 ? 0 : 1 + (k % 5) * 100, meanA: 1 + z[k]!, meanB: z[k + 40]!, m2a: Math.abs(z[k + 80]!), m2b: Math.abs(z[k + 120]!), cab: z[k + 160]!, sdd: Math.abs(z[k + 200]!), maxAbsDiff: Math.abs(z[k + 240]!), nanA: k % 3, infB: k % 2, excluded: k % 4 });
    blocks.push(m);
  }
  const acc = new MomentsAccumulator();
  let want = emptyMoments();
  for (const m of blocks) {
    acc.add(m);
    want = mergeMoments(want, m);
  }
  t.deepEqual(acc.result(), want);
});
