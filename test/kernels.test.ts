import test from 'ava';
import { JsKernel } from '../core/src/kernels/js-kernel.ts';
import type { PairKernel } from '../core/src/kernels/kernel.ts';
import { WasmKernel } from '../core/src/kernels/wasm-kernel.ts';
import { finalizeMoments, mergeMoments, emptyMoments } from '../core/src/stats/moments.ts';
import { close, referenceStats } from './helpers/reference.ts';
import { bf16Bytes } from './helpers/safetensors-file.ts';

/** Deterministic approximately-normal values (Box–Muller over an LCG): independent of core/. */
function normals(n: number, seed: number): number[] {
  let s = seed >>> 0;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 4294967296;
  return Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()));
}

const round32 = (xs: number[]) => Array.from(Float32Array.from(xs));
const roundBf16 = (xs: number[]) => {
  const bits = new Uint16Array(bf16Bytes(xs).buffer);
  const out = new Float32Array(xs.length);
  const o = new Uint32Array(out.buffer);
  bits.forEach((b, i) => { o[i] = b << 16; });
  return Array.from(out);
};

type Case = { name: string; a: number[]; b: number[] };

function cases(): Case[] {
  const n = 100_003; // not a multiple of 8 nor of the block
  const z1 = normals(n, 1), z2 = normals(n, 2), z3 = normals(n, 3);
  return [
    { name: 'independent matrices', a: z1.map((x) => 0.02 * x), b: z2.map((x) => 0.02 * x) },
    { name: 'fine-tune (nearly equal)', a: z1.map((x) => 0.02 * x), b: z1.map((x, i) => 0.02 * x + 1e-5 * z3[i]!) },
    { name: 'norm vectors near 1 (the LayerNorm trap)', a: z1.map((x) => 1 + 0.001 * x), b: z2.map((x) => 1 + 0.001 * x) },
    { name: 'related norm vectors near 1', a: z1.map((x) => 1 + 0.001 * x), b: z1.map((x, i) => 1 + 0.001 * x + 0.0002 * z3[i]!) },
    { name: 'rows of different scale, offset mean', a: z1.map((x, i) => 3 + (1 + (i % 97)) * x), b: z2.map((x, i) => -2 + (i % 13) * x + 0.5 * z1[i]!) },
    { name: 'short (7 elements)', a: z1.slice(0, 7), b: z2.slice(0, 7) },
  ];
}

function run(kernel: PairKernel, layout: 'bf16' | 'f32', a: number[], b: number[]) {
  const n = a.length;
  const w = kernel.windows(n);
  if (layout === 'f32') {
    new Float32Array(w.rawA.buffer, w.rawA.byteOffset, n).set(a);
    new Float32Array(w.rawB.buffer, w.rawB.byteOffset, n).set(b);
  } else {
    w.rawA.set(bf16Bytes(a));
    w.rawB.set(bf16Bytes(b));
  }
  kernel.reset();
  kernel.accumulate({ layout, data: w.rawA }, { layout, data: w.rawB }, n);
  return finalizeMoments(kernel.result());
}

for (const Kernel of [WasmKernel, JsKernel]) {
  for (const layout of ['f32', 'bf16'] as const) {
    for (const c of cases()) {
      test(`${new Kernel().name} ${layout}: ${c.name} agrees with float64 within 1e-6`, (t) => {
        const a = layout === 'f32' ? round32(c.a) : roundBf16(c.a);
        const b = layout === 'f32' ? round32(c.b) : roundBf16(c.b);
        const got = run(new Kernel(), layout, a, b);
        const want = referenceStats(a, b);
        t.is(got.n, want.n);
        for (const key of ['cosine', 'centeredCosine'] as const) t.true(close(got[key], want[key], 1e-6), `${key}: ${got[key]} vs ${want[key]}`);
        for (const key of ['relL2', 'mse'] as const) t.true(close(got[key]! / want[key]!, 1, 1e-6), `${key}: ${got[key]} vs ${want[key]}`);
        // a − b is formed in float32 by the SIMD kernel: equal to float64 within one rounding.
        t.true(close(got.maxAbsDiff! / want.maxAbsDiff!, 1, 1e-6), `maxAbsDiff: ${got.maxAbsDiff} vs ${want.maxAbsDiff}`);
      });
    }
  }

  test(`${new Kernel().name}: NaN and Inf are counted and left out`, (t) => {
    const a = round32(normals(20_000, 4));
    const b = round32(normals(20_000, 5));
    a[10] = NaN; a[5000] = Infinity; b[5000] = 1; b[7] = -Infinity; b[19_999] = NaN;
    const got = run(new Kernel(), 'f32', a, b);
    const want = referenceStats(a, b);
    t.is(got.n, 20_000 - 4);
    t.deepEqual([got.nanA, got.infA, got.nanB, got.infB], [1, 1, 1, 1]);
    t.true(close(got.cosine, want.cosine, 1e-6));
    t.true(close(got.centeredCosine, want.centeredCosine, 1e-6));
    t.regex(got.notes.join(), /4 pair\(s\) with a non-finite value left out/);
  });

  test(`${new Kernel().name}: zero and constant tensors give null with a reason, never NaN`, (t) => {
    const got = run(new Kernel(), 'f32', new Array(1000).fill(0), round32(normals(1000, 6)));
    t.is(got.cosine, null);
    t.is(got.centeredCosine, null);
    t.is(got.relL2, null);
    t.regex(got.notes.join(), /A is all zeros/);
    const constant = run(new Kernel(), 'f32', new Array(1000).fill(1), round32(normals(1000, 7)));
    t.is(constant.centeredCosine, null);
    t.not(constant.cosine, null);
    t.regex(constant.notes.join(), /A is constant/);
  });
}

test('the WASM kernel is deterministic and merges windows exactly like one pass', (t) => {
  const a = roundBf16(normals(3 * 4096 + 100, 8));
  const b = roundBf16(normals(3 * 4096 + 100, 9));
  const whole = run(new WasmKernel(), 'bf16', a, b);
  t.deepEqual(run(new WasmKernel(), 'bf16', a, b), whole);
  // Accumulating block-aligned windows one after another equals a single call.
  const k = new WasmKernel();
  const w = k.windows(a.length);
  w.rawA.set(bf16Bytes(a)); w.rawB.set(bf16Bytes(b));
  k.reset();
  k.accumulate({ layout: 'bf16', data: w.rawA.subarray(0, 8192) }, { layout: 'bf16', data: w.rawB.subarray(0, 8192) }, 4096);
  k.accumulate({ layout: 'bf16', data: w.rawA.subarray(8192) }, { layout: 'bf16', data: w.rawB.subarray(8192) }, a.length - 4096);
  t.deepEqual(finalizeMoments(k.result()), whole);
});

test('mergeMoments with an empty side is the identity', (t) => {
  const k = new JsKernel();
  const m = (() => { run(k, 'f32', round32(normals(500, 1)), round32(normals(500, 2))); return k.result(); })();
  t.deepEqual(mergeMoments(emptyMoments(), m), m);
  t.deepEqual(mergeMoments(m, emptyMoments()), m);
});

test("kernel 'auto' is the CPU kernel (gpu.js measured slower on an H200), the controls' pairs too; an unknown kernel is a usage error", async (t) => {
  const { cpuKernel, resolveKernel } = await import('../core/src/kernels/select.ts');
  const { CROSS_PAIRS_KERNEL } = await import('../core/src/compare/cross-pairs.ts');
  t.is(cpuKernel(), 'wasm-simd');
  t.is(await resolveKernel('auto'), 'wasm-simd');
  t.is(CROSS_PAIRS_KERNEL, 'wasm-simd');
  t.is(await resolveKernel('gpu.js'), 'gpu.js');
  await t.throwsAsync(() => resolveKernel('cuda' as never), { name: 'UsageError', message: /unknown kernel 'cuda'/ });
});
