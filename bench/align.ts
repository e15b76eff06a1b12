/**
 * The cost of the aligned tests (issue 11, item 6), in `npm run bench`:
 *  - the matching kernel alone (one MLP cell of a 4096-wide model: 64 neurons × 14,336 neurons ×
 *    768 floats), WebAssembly SIMD against the JavaScript loop;
 *  - the register-blocked kernel against the unblocked one it replaced (same numbers bit for bit),
 *    in this process, at the hidden alignment's shape (short rows) and the unit matchings';
 *  - the whole alignment on a 2-layer pair of that width (hidden 4096, 14,336 neurons, 32 heads,
 *    8 KV groups; bf16; a light fine-tune), against the weights pass on the same pair: the
 *    matchings must run at this size, not be skipped for budget.
 *  - the hidden alignment's greedy matching at 4096 dimensions (random similarities, as its null
 *    draws give, and a near-identity, as a derivative's), WebAssembly against the JavaScript;
 * Run alone: `node --import tsx bench/align.ts`; the kernels alone (seconds):
 * `node --import tsx bench/align.ts --kernel`.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { openCheckpoint } from '../core/src/checkpoint/folder.ts';
import { compareCheckpoints } from '../core/src/compare/weights.ts';
import { alignModels } from '../core/src/align/index.ts';
import { dots, dotsJs } from '../core/src/align/dots.ts';
import { greedyMatchJs } from '../core/src/align/hidden.ts';
import { greedyMatchInWasm, greedySimilarities, greedySimilarities32 } from '../core/src/align/greedy-wasm.ts';
import { synthesize } from '../core/src/synth/synth.ts';
import { dotsSource } from '../core/src/align/wasm/source.ts';
import { assembleWat } from '../core/src/kernels/wasm/build.ts';
import { Random } from '../core/src/synth/random.ts';

function timeIt<T>(f: () => T): [T, number] {
  const t0 = process.hrtime.bigint();
  const out = f();
  return [out, Number(process.hrtime.bigint() - t0) / 1e9];
}

/**
 * The dots kernel before register blocking (commit 129295b): each dot product on its own, four
 * f32x4 sums. Kept here only to measure the blocked kernel against it.
 */
function unblockedDotsSource(): string {
  return `(module
  (memory (export "memory") 1)
  (func (export "dots") (param $x i32) (param $n i32) (param $y i32) (param $m i32) (param $w i32) (param $out i32)
    (local $i i32) (local $j i32) (local $px i32) (local $py i32) (local $end i32) (local $rowBytes i32)
    (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128)
    (local.set $rowBytes (i32.shl (local.get $w) (i32.const 2)))
    (local.set $j (i32.const 0))
    (block $doneJ (loop $rowsY
      (br_if $doneJ (i32.ge_u (local.get $j) (local.get $m)))
      (local.set $i (i32.const 0))
      (block $doneI (loop $rowsX
        (br_if $doneI (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $px (i32.add (local.get $x) (i32.mul (local.get $i) (local.get $rowBytes))))
        (local.set $py (i32.add (local.get $y) (i32.mul (local.get $j) (local.get $rowBytes))))
        (local.set $end (i32.add (local.get $py) (local.get $rowBytes)))
        (local.set $s0 (v128.const f32x4 0 0 0 0))
        (local.set $s1 (v128.const f32x4 0 0 0 0))
        (local.set $s2 (v128.const f32x4 0 0 0 0))
        (local.set $s3 (v128.const f32x4 0 0 0 0))
        (block $doneK (loop $cols
          (br_if $doneK (i32.ge_u (local.get $py) (local.get $end)))
          (local.set $s0 (f32x4.add (local.get $s0) (f32x4.mul (v128.load (local.get $px)) (v128.load (local.get $py)))))
          (local.set $s1 (f32x4.add (local.get $s1) (f32x4.mul (v128.load offset=16 (local.get $px)) (v128.load offset=16 (local.get $py)))))
          (local.set $s2 (f32x4.add (local.get $s2) (f32x4.mul (v128.load offset=32 (local.get $px)) (v128.load offset=32 (local.get $py)))))
          (local.set $s3 (f32x4.add (local.get $s3) (f32x4.mul (v128.load offset=48 (local.get $px)) (v128.load offset=48 (local.get $py)))))
          (local.set $px (i32.add (local.get $px) (i32.const 64)))
          (local.set $py (i32.add (local.get $py) (i32.const 64)))
          (br $cols)))
        (local.set $s0 (f32x4.add (f32x4.add (local.get $s0) (local.get $s1)) (f32x4.add (local.get $s2) (local.get $s3))))
        (f32.store (i32.add (local.get $out) (i32.shl (i32.add (i32.mul (local.get $i) (local.get $m)) (local.get $j)) (i32.const 2)))
          (f32.add (f32.add (f32x4.extract_lane 0 (local.get $s0)) (f32x4.extract_lane 1 (local.get $s0)))
                   (f32.add (f32x4.extract_lane 2 (local.get $s0)) (f32x4.extract_lane 3 (local.get $s0)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rowsX)))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $rowsY)))))
`;
}

interface DotsKernel {
  memory: WebAssembly.Memory;
  dots(x: number, n: number, y: number, m: number, w: number, out: number): void;
}

/**
 * The blocked kernel (dotsSource) against the unblocked one, each in its own instance with the
 * same rows placed once: only the kernel is timed (best of 5 rounds, taken in turn, after warm-up
 * calls so that both run optimized code), and their outputs are compared bit for bit.
 */
export async function benchDotsKernels(): Promise<void> {
  console.log('\nthe dots kernel: register-blocked (2 rows of X × 4 of Y) against unblocked, same process');
  const instance = async (name: string, source: string) => new WebAssembly.Instance(new WebAssembly.Module((await assembleWat(name, source)).slice()), {}).exports as unknown as DotsKernel;
  const kernels = [await instance('unblocked.wat', unblockedDotsSource()), await instance('dots.wat', dotsSource())] as const;
  const random = new Random(3, 'bench dots kernels');
  for (const [n, m, w] of [[1024, 1024, 48], [4096, 4096, 48], [64, 512, 256], [64, 2048, 768]] as const) {
    const x = Float32Array.from({ length: n * w }, () => random.normal() / Math.sqrt(w));
    const y = Float32Array.from({ length: m * w }, () => random.normal() / Math.sqrt(w));
    const outAt = 4 * (n + m) * w;
    const outs = kernels.map((k) => {
      const bytes = outAt + 4 * n * m;
      if (bytes > k.memory.buffer.byteLength) k.memory.grow(Math.ceil((bytes - k.memory.buffer.byteLength) / 65536));
      new Float32Array(k.memory.buffer).set(x, 0);
      new Float32Array(k.memory.buffer).set(y, n * w);
      const call = () => k.dots(0, n, 4 * n * w, m, w, outAt);
      for (let warm = 0; warm < 4; warm++) call();
      return { call, out: () => new Uint32Array(k.memory.buffer, outAt, n * m) };
    });
    const [a, b] = [outs[0]!.out(), outs[1]!.out()];
    let differing = 0;
    for (let q = 0; q < n * m; q++) if (a[q] !== b[q]) differing++;
    const reps = Math.max(1, Math.round(5e7 / (n * m * w)));
    const best = [Infinity, Infinity];
    for (let round = 0; round < 5; round++) {
      outs.forEach(({ call }, v) => {
        const t0 = process.hrtime.bigint();
        for (let r = 0; r < reps; r++) call();
        best[v] = Math.min(best[v]!, Number(process.hrtime.bigint() - t0) / 1e9 / reps);
      });
    }
    const gflops = (s: number) => (2 * n * m * w / s / 1e9).toFixed(1);
    console.log(`  ${n} × ${m} rows of ${w}: unblocked ${gflops(best[0]!)} GFLOP/s, blocked ${gflops(best[1]!)} GFLOP/s (${(best[0]! / best[1]!).toFixed(2)}×); ${differing === 0 ? 'outputs equal bit for bit' : `${differing} OUTPUTS DIFFER`}`);
  }
}

/** The greedy matching of 4096 dimensions (matchDimensions beyond 1024): WebAssembly in place against the JavaScript, best of 5 each, the same matching checked. */
export function benchGreedy(): void {
  console.log('\nthe hidden alignment\'s greedy matching, 4096 x 4096 similarities (WebAssembly float64 in 4 SIMD lanes and float32 in 8, against the JavaScript; best of 5)');
  const n = 4096;
  const random = new Random(5, 'bench greedy');
  const sim = greedySimilarities(n, n);
  const sim32 = greedySimilarities32(n, n);
  if (!sim || !sim32) { console.log('  WebAssembly SIMD unavailable: skipped'); return; }
  for (const [what, value] of [
    ['random (a null draw)', () => random.uniform()],
    ['near-identity (a derivative)', (i: number, j: number) => (i === j ? 0.9 : 0) + 0.1 * random.uniform()],
  ] as const) {
    // Float32 values, so both widths hold the same numbers (as the profiles' correlations are).
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) sim[i * n + j] = Math.fround((value as (i: number, j: number) => number)(i, j));
    sim32.set(sim);
    const best = (f: () => Int32Array | null): [Int32Array | null, number] => {
      let out: Int32Array | null = null;
      let fastest = Infinity;
      for (let r = 0; r < 5; r++) { const [o, s] = timeIt(f); out = o; fastest = Math.min(fastest, s); }
      return [out, fastest];
    };
    const [wasm, sw] = best(() => greedyMatchInWasm(sim, n, n));
    const [wasm32, s32] = best(() => greedyMatchInWasm(sim32, n, n));
    const [js, sj] = best(() => greedyMatchJs(sim, n, n));
    const same = !!wasm && !!wasm32 && !!js && wasm.every((v, i) => v === js[i] && v === wasm32[i]);
    console.log(`  ${what.padEnd(30)} WebAssembly float64 ${(sw * 1000).toFixed(0)} ms, float32 ${(s32 * 1000).toFixed(0)} ms, JavaScript ${(sj * 1000).toFixed(0)} ms (${(sj / sw).toFixed(1)}x, ${(sj / s32).toFixed(1)}x); ${same ? 'the same matching' : 'MATCHINGS DIFFER'}`);
  }
}

export async function benchAlignment(root: string): Promise<void> {
  await benchDotsKernels();
  benchGreedy();
  console.log('\naligned tests (matchings under the hidden alignment)');
  const [n, m, w] = [64, 14336, 768];
  const random = new Random(1, 'bench dots');
  const x = Float32Array.from({ length: n * w }, () => random.normal());
  const y = Float32Array.from({ length: m * w }, () => random.normal());
  const flops = 2 * n * m * w;
  const [, wasm] = timeIt(() => dots(x, n, y, m, w));
  const [, js] = timeIt(() => dotsJs(x, n, y, m, w));
  console.log(`  one MLP cell's dot products (${n} × ${m} × ${w}): WebAssembly SIMD ${(flops / wasm / 1e9).toFixed(2)} GFLOP/s, JavaScript ${(flops / js / 1e9).toFixed(2)} GFLOP/s (${(js / wasm).toFixed(1)}×)`);

  const dirA = join(root, 'align-4096-base');
  const dirB = join(root, 'align-4096-tuned');
  const shape = { layers: 2, hidden: 4096, intermediate: 14336, heads: 32, kvHeads: 8, vocab: 2048 };
  if (!existsSync(join(dirB, 'config.json'))) {
    synthesize('base', { out: dirA, shape, seed: 1 });
    synthesize('derivative', { out: dirB, like: dirA, drift: 0.01, seed: 2 });
  }
  const a = openCheckpoint(dirA);
  const b = openCheckpoint(dirB);
  const bytes = a.totalBytes + b.totalBytes;
  const [, weights] = await (async () => { const t0 = Date.now(); await compareCheckpoints(a, b, { threads: 1 }); return [null, (Date.now() - t0) / 1000] as const; })();
  const [section, aligned] = timeIt(() => alignModels({ a, b, tokenPairs: Array.from({ length: shape.vocab }, (_, i) => [i, i] as [number, number]), seed: 1 }));
  const mlp = section?.components.find((c) => c.component === 'dense MLP');
  console.log(`  4096-wide pair, 2 layers, 14,336 neurons (${(bytes / 1e9).toFixed(2)} GB both sides): weights pass ${weights.toFixed(1)} s (${(bytes / 1e9 / weights).toFixed(2)} GB/s), aligned tests ${aligned.toFixed(1)} s (${(bytes / 1e9 / aligned).toFixed(2)} GB/s; ${(aligned / weights).toFixed(2)}× the weights pass); dense MLP ${mlp ? `${mlp.related}/${mlp.cells.length} cells related` : 'not tested'}`);
  console.log('  (node --import tsx bench/align.ts)');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--kernel')) { await benchDotsKernels(); benchGreedy(); }
  else await benchAlignment(fileURLToPath(new URL('../.bench/', import.meta.url)));
}
