/**
 * `bench/gpu-check` (run through the bash script of that name): the gpu.js kernel on every
 * backend gpu.js offers here, against the WASM kernel on the same tensors: agreement (max abs
 * difference of each statistic over a set of hard cases) and throughput (GB/s of both tensors'
 * bytes). Ends with one summary line. Exit status 0 when every backend that ran agrees (also
 * when no GPU backend is usable), 1 when one disagrees.
 *
 * Options: --elements N (throughput tensor length, default 2^25 + 777), --window N (elements
 * per accumulate call, default 2^24), --case-elements N (agreement case length, default 2^20 + 3).
 */
import { CELL, GpuKernel, type GpuMode } from '../core/src/kernels/gpu-kernel.ts';
import type { Layout, PairKernel } from '../core/src/kernels/kernel.ts';
import { WasmKernel } from '../core/src/kernels/wasm-kernel.ts';
import { finalizeMoments, type PairStatistics } from '../core/src/stats/moments.ts';
import { encodeFloats } from '../core/src/synth/encode.ts';

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = Number(process.argv[i + 1]);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name} needs a positive integer`);
  return value;
}

const ELEMENTS = option('elements', 2 ** 25 + 777);
const WINDOW = option('window', 2 ** 24);
const CASE_ELEMENTS = option('case-elements', 2 ** 20 + 3);

// ---------------------------------------------------------------------------------------------
// Data: a table of normals indexed by an LCG (fast to make, realistic magnitudes: no subnormals).

function normals(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 4294967296;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  return out;
}

const TABLE = normals(1 << 16, 99);

function series(n: number, seed: number, f: (z: number, w: number, i: number) => number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = f(TABLE[s >>> 16]!, TABLE[(s >>> 4) & 0xffff]!, i);
  }
  return out;
}

function bf16(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * 2);
  encodeFloats('BF16', values, values.length, out);
  return out;
}

interface Pair { name: string; a: Float32Array; b: Float32Array }

function agreementCases(n: number): Pair[] {
  const base = series(n, 1, (z) => 0.02 * z);
  const poke = (xs: Float32Array, at: Array<[number, number]>) => { for (const [i, v] of at) xs[i] = v; return xs; };
  return [
    { name: 'random normal', a: base, b: series(n, 2, (z) => 0.02 * z) },
    { name: 'nearly equal', a: base, b: series(n, 3, (z, _w, i) => base[i]! + 1e-5 * z) },
    { name: 'norm-like (mean 1, spread 1e-3)', a: series(n, 4, (z) => 1 + 1e-3 * z), b: series(n, 5, (z) => 1 + 1e-3 * z) },
    { name: 'related norm-like', a: series(n, 6, (z) => 1 + 1e-3 * z), b: series(n, 6, (z, w) => 1 + 1e-3 * z + 2e-4 * w) },
    {
      name: 'NaN/Inf (cell heads, tail)',
      a: poke(series(n, 7, (z) => z), [[0, NaN], [CELL, Infinity], [n - 1, NaN], [12_345, -Infinity]]),
      b: poke(series(n, 8, (z) => z), [[7, -Infinity], [CELL * 9, NaN], [12_345, Infinity], [n - 2, Infinity]]),
    },
    { name: 'huge values (float32 overflow)', a: series(n, 9, (z) => 3e19 * z), b: series(n, 10, (z) => 3e19 * z) },
  ];
}

// ---------------------------------------------------------------------------------------------

/** Runs a kernel over a pair the way the executor does: windows filled, then accumulate. Returns stats and seconds in accumulate. */
function runPair(kernel: PairKernel, layout: Layout, a: Uint8Array, b: Uint8Array, n: number): { stats: PairStatistics; seconds: number } {
  const size = layout === 'bf16' ? 2 : 4;
  const w = kernel.windows(Math.min(WINDOW, n));
  let seconds = 0;
  kernel.reset();
  for (let start = 0; start < n; start += WINDOW) {
    const count = Math.min(WINDOW, n - start);
    w.rawA.set(a.subarray(start * size, (start + count) * size));
    w.rawB.set(b.subarray(start * size, (start + count) * size));
    const t0 = performance.now();
    kernel.accumulate({ layout, data: w.rawA }, { layout, data: w.rawB }, count);
    seconds += (performance.now() - t0) / 1000;
  }
  return { stats: finalizeMoments(kernel.result()), seconds };
}

const KEYS = ['cosine', 'centeredCosine', 'relL2', 'mse', 'maxAbsDiff', 'meanA', 'meanB', 'stdA', 'stdB'] as const;
type Key = typeof KEYS[number];

interface Agreement { maxAbs: Record<Key, number>; maxRel: Record<Key, number>; ok: boolean; problems: string[] }

function compare(got: PairStatistics, want: PairStatistics, label: string, into: Agreement): void {
  if (got.n !== want.n || got.nanA !== want.nanA || got.infA !== want.infA || got.nanB !== want.nanB || got.infB !== want.infB) {
    into.ok = false;
    into.problems.push(`${label}: counts n/NaN/Inf ${[got.n, got.nanA, got.infA, got.nanB, got.infB]} vs ${[want.n, want.nanA, want.infA, want.nanB, want.infB]}`);
  }
  for (const key of KEYS) {
    const x = got[key], y = want[key];
    if (x === null || y === null) {
      if (x !== y) { into.ok = false; into.problems.push(`${label}: ${key} ${x} vs ${y}`); }
      continue;
    }
    const d = Math.abs(x - y);
    into.maxAbs[key] = Math.max(into.maxAbs[key], d);
    if (y !== 0) into.maxRel[key] = Math.max(into.maxRel[key], d / Math.abs(y));
    // cosines: absolute; scale-dependent statistics: relative (means: relative to the spread).
    const spread = key === 'meanA' ? want.stdA! : key === 'meanB' ? want.stdB! : 0;
    const tol = key === 'cosine' || key === 'centeredCosine' ? 1e-6 : 1e-6 * (Math.abs(y) + spread);
    if (!(d <= tol)) { into.ok = false; into.problems.push(`${label}: ${key} ${x} vs ${y} (|Δ| ${d.toExponential(2)})`); }
  }
}

const fmt = (x: number) => (x === 0 ? '0' : x.toExponential(1));
const gbps = (bytes: number, seconds: number) => bytes / 1e9 / seconds;

interface Candidate { mode: GpuMode; thread: 'main' | 'worker'; gpu: boolean }

function main(): number {
  const started = performance.now();
  console.log(`gpu-check: node ${process.version}, cell ${CELL} elements, window ${WINDOW}, throughput tensors ${ELEMENTS} elements`);
  const probe = GpuKernel.probe({ webgpu: true });
  console.log(`probe: ${JSON.stringify(probe)}`);
  if (!probe.available) {
    console.log(`gpu-check: gpu.js unusable here (${probe.reason}); nothing checked`);
    return 0;
  }

  // WebGPU last, and its thread closed only after the summary: Dawn's Node binding (webgpu 0.2.9)
  // aborts the process (napi_throw in AsyncRunner::ScheduleProcessEvents) when the thread that
  // loaded it is terminated. On the H200 at 3671c64 that cost the CPU modes and the summary,
  // printed after it; now everything is printed first and the abort (exit status 134) comes after
  // the summary line, which is the result. `lineage compare` never loads Dawn (kernels/select.ts).
  const candidates: Candidate[] = [
    { mode: 'headlessgl', thread: 'main', gpu: true },
    { mode: 'webasm', thread: 'main', gpu: false },
    { mode: 'cpu', thread: 'main', gpu: false },
    { mode: 'webgpu', thread: 'worker', gpu: true },
  ];
  const closeLater: GpuKernel[] = [];
  console.log('webgl, webgl2: browser-only backends, not offered in Node');

  const cases = agreementCases(CASE_ELEMENTS);
  const big = { a: series(ELEMENTS, 11, (z) => 0.02 * z), b: series(ELEMENTS, 12, (z, w) => 0.02 * z + 0.002 * w) };
  const layouts: Layout[] = ['bf16', 'f32'];
  const bytes = (layout: Layout, x: Float32Array) => (layout === 'bf16' ? bf16(x) : new Uint8Array(x.buffer, x.byteOffset, x.byteLength));
  const caseBytes = layouts.map((layout) => cases.map((c) => ({ name: c.name, a: bytes(layout, c.a), b: bytes(layout, c.b) })));
  const bigBytes = layouts.map((layout) => ({ a: bytes(layout, big.a), b: bytes(layout, big.b) }));

  // The CPU reference: the WASM kernel on the same bytes and windows.
  const wasm = new WasmKernel();
  const reference = layouts.map((layout, l) => caseBytes[l]!.map((c) => runPair(wasm, layout, c.a, c.b, CASE_ELEMENTS).stats));
  const wasmRate: Record<string, number> = {};
  const bigReference = layouts.map((layout, l) => {
    runPair(wasm, layout, bigBytes[l]!.a, bigBytes[l]!.b, Math.min(WINDOW, ELEMENTS));
    const run = runPair(wasm, layout, bigBytes[l]!.a, bigBytes[l]!.b, ELEMENTS);
    wasmRate[layout] = gbps(bigBytes[l]!.a.length * 2, run.seconds);
    return run.stats;
  });
  console.log(`wasm-simd (reference): bf16 ${wasmRate.bf16!.toFixed(2)} GB/s, f32 ${wasmRate.f32!.toFixed(2)} GB/s`);

  const results: Array<{ c: Candidate; backend: string; agreement?: Agreement; rates?: Record<string, number>; error?: string; device?: string }> = [];
  for (const c of candidates) {
    let kernel: GpuKernel;
    try {
      kernel = new GpuKernel({ mode: c.mode, thread: c.thread });
    } catch (error) {
      const why = String(error instanceof Error ? error.message : error).split('\n')[0]!;
      console.log(`${c.mode}: not usable here (${why})`);
      results.push({ c, backend: c.mode, error: why });
      continue;
    }
    try {
      const zeros = () => Object.fromEntries(KEYS.map((k) => [k, 0])) as Record<Key, number>;
      const agreement: Agreement = { maxAbs: zeros(), maxRel: zeros(), ok: true, problems: [] };
      layouts.forEach((layout, l) => caseBytes[l]!.forEach((cb, i) => {
        compare(runPair(kernel, layout, cb.a, cb.b, CASE_ELEMENTS).stats, reference[l]![i]!, `${layout} ${cb.name}`, agreement);
      }));
      const rates: Record<string, number> = {};
      layouts.forEach((layout, l) => {
        runPair(kernel, layout, bigBytes[l]!.a, bigBytes[l]!.b, Math.min(WINDOW, ELEMENTS)); // warm-up: compile, allocate, JIT
        const run = runPair(kernel, layout, bigBytes[l]!.a, bigBytes[l]!.b, ELEMENTS);
        compare(run.stats, bigReference[l]!, `${layout} throughput tensor`, agreement);
        rates[layout] = gbps(bigBytes[l]!.a.length * 2, run.seconds);
      });
      const device = c.mode === 'webgpu' && probe.backend === 'webgpu' ? probe.device : undefined;
      console.log(`${c.mode} (backend ${kernel.backend}${device ? `, ${device}` : ''}): ${agreement.ok ? 'agrees' : 'DISAGREES'} with wasm over ${cases.length} cases × 2 dtypes + the throughput tensors`);
      console.log(`  max |Δ|:     ${KEYS.map((k) => `${k} ${fmt(agreement.maxAbs[k])}`).join(', ')}`);
      console.log(`  max |Δ|/|x|: ${KEYS.filter((k) => !k.endsWith('osine')).map((k) => `${k} ${fmt(agreement.maxRel[k])}`).join(', ')}`);
      for (const p of agreement.problems.slice(0, 10)) console.log(`  ${p}`);
      console.log(`${c.mode}: bf16 ${rates.bf16!.toFixed(2)} GB/s, f32 ${rates.f32!.toFixed(2)} GB/s; ${kernel.counters.kernelCalls} kernel calls, ${kernel.counters.cellsOnCpu} cells redone on the CPU`);
      results.push({ c, backend: kernel.backend, agreement, rates, device });
    } catch (error) {
      const why = String(error instanceof Error ? error.message : error).split('\n')[0]!;
      console.log(`${c.mode}: failed (${why})`);
      results.push({ c, backend: c.mode, error: why });
    } finally {
      if (c.mode === 'webgpu') closeLater.push(kernel);
      else kernel.dispose();
    }
  }

  const ran = results.filter((r) => r.agreement);
  const disagree = ran.filter((r) => !r.agreement!.ok);
  const worst = (r: (typeof results)[number]) => fmt(Math.max(r.agreement!.maxAbs.cosine, r.agreement!.maxAbs.centeredCosine));
  const describe = (r: (typeof results)[number]) =>
    `${r.c.mode}${r.backend !== r.c.mode ? `→${r.backend}` : ''} ${r.agreement!.ok ? 'agrees' : 'DISAGREES'} (cos |Δ| ≤ ${worst(r)}, bf16 ${r.rates!.bf16!.toFixed(2)} GB/s, f32 ${r.rates!.f32!.toFixed(2)} GB/s)`;
  // A backend only counts as a GPU when gpu.js actually ran it there (not a fallback to cpu/webasm).
  const gpuRuns = ran.filter((r) => r.c.gpu && r.backend === r.c.mode);
  const seconds = ((performance.now() - started) / 1000).toFixed(0);
  const wasmPart = `wasm bf16 ${wasmRate.bf16!.toFixed(2)} GB/s, f32 ${wasmRate.f32!.toFixed(2)} GB/s`;
  if (gpuRuns.length === 0) {
    const why = results.filter((r) => r.c.gpu).map((r) => `${r.c.mode}: ${r.error ?? `fell back to ${r.backend}`}`).join('; ');
    console.log(`gpu-check: NO GPU BACKEND USABLE (${why}); CPU-mode agreement: ${ran.map(describe).join('; ')}; ${wasmPart} [${seconds} s]`);
  } else {
    console.log(`gpu-check: GPU ${gpuRuns.map((r) => `${describe(r)}${r.device ? ` on ${r.device}` : ''}`).join('; ')}; CPU modes: ${ran.filter((r) => !gpuRuns.includes(r)).map(describe).join('; ')}; ${wasmPart} [${seconds} s]`);
  }
  for (const kernel of closeLater) kernel.dispose();
  return disagree.length > 0 ? 1 : 0;
}

process.exitCode = main();
