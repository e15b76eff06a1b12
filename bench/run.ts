/**
 * `npm run bench`: throughput of `lineage compare` on a generated pair of multi-GB bf16
 * checkpoints (page cache warm), as GB/s of both checkpoints' bytes, with ratios against the
 * single-thread run and against a chunked numpy reference in the same process run.
 * Set LINEAGE_BENCH_LAYERS to change the size (default 6 layers ≈ 2.4 GB per model).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { openCheckpoint } from '../core/src/checkpoint/folder.ts';
import { compareCheckpoints } from '../core/src/compare/weights.ts';
import { PreadReader } from '../core/src/io/pread.ts';
import { createStreamingHash } from '../core/src/hash/content-hash.ts';
import { WasmKernel } from '../core/src/kernels/wasm-kernel.ts';
import { JsKernel } from '../core/src/kernels/js-kernel.ts';
import type { PairKernel } from '../core/src/kernels/kernel.ts';
import { synthesize } from '../core/src/synth/synth.ts';
import { getThreadPool } from '../core/src/exec/thread-pool.ts';

const root = fileURLToPath(new URL('../.bench/', import.meta.url));
const layers = Number(process.env.LINEAGE_BENCH_LAYERS ?? 6);
const dirA = `${root}base-${layers}`;
const dirB = `${root}derived-${layers}`;

function gbps(bytes: number, seconds: number): number {
  return bytes / 1e9 / seconds;
}

function line(name: string, bytes: number, seconds: number, reference?: number): number {
  const rate = gbps(bytes, seconds);
  const ratio = reference ? `  ${(rate / reference).toFixed(2)}× reference` : '';
  console.log(`${name.padEnd(44)} ${rate.toFixed(2).padStart(6)} GB/s  (${(bytes / 1e9).toFixed(2)} GB in ${seconds.toFixed(2)} s)${ratio}`);
  return rate;
}

async function time<T>(f: () => Promise<T> | T): Promise<[T, number]> {
  const t0 = performance.now();
  const out = await f();
  return [out, (performance.now() - t0) / 1000];
}

function prepare(): void {
  if (existsSync(`${dirB}/config.json`)) return;
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  console.log(`generating a bf16 pair of ${layers} layers (hidden 4096) under ${root} …`);
  const shape = { layout: 'dense' as const, layers, hidden: 4096, intermediate: 11008, heads: 32, kvHeads: 8, vocab: 32000 };
  synthesize('base', { out: dirA, shape, shardBytes: 1_000_000_000 });
  synthesize('derivative', { out: dirB, like: dirA, drift: 0.01, shardBytes: 1_000_000_000 });
}

async function kernelAlone(kernel: PairKernel, elements: number, rounds: number): Promise<number> {
  const w = kernel.windows(elements);
  // Realistic bf16 weights (|x| ~ 0.02): arbitrary bytes would hit subnormals, which x86 SIMD runs ~100× slower.
  const a = new Uint16Array(w.rawA.buffer, w.rawA.byteOffset, elements);
  const b = new Uint16Array(w.rawB.buffer, w.rawB.byteOffset, elements);
  for (let i = 0; i < elements; i++) { a[i] = 0x3c00 + ((i * 2654435761) >>> 20) % 0x300; b[i] = 0xbc00 + ((i * 40503) >>> 4) % 0x300; }
  const [, seconds] = await time(() => {
    for (let r = 0; r < rounds; r++) {
      kernel.reset();
      kernel.accumulate({ layout: 'bf16', data: w.rawA }, { layout: 'bf16', data: w.rawB }, elements);
    }
  });
  return line(`kernel alone: ${kernel.name} (bf16, in cache)`, rounds * elements * 4, seconds);
}

async function main(): Promise<void> {
  const { benchStartup } = await import('./startup.ts');
  await benchStartup(root);
  console.log('');
  prepare();
  const a = openCheckpoint(dirA);
  const b = openCheckpoint(dirB);
  const bytes = a.totalBytes + b.totalBytes;
  console.log(`pair: ${(bytes / 1e9).toFixed(2)} GB (${a.tensors.length} tensors per model)\n`);

  // Warm the page cache and the JIT.
  await compareCheckpoints(a, b, { threads: 2 });

  let numpy: number | undefined;
  const python = spawnSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' });
  if (python.status === 0) {
    const out = execFileSync('python3', [fileURLToPath(new URL('./numpy_reference.py', import.meta.url)), dirA, dirB], { encoding: 'utf8' });
    const { bytes: nb, seconds } = JSON.parse(out) as { bytes: number; seconds: number };
    numpy = line('reference: chunked numpy (float64, 1 thread)', nb, seconds);
  } else {
    console.log('reference: python3 with numpy not found, skipped');
  }

  const [, s1] = await time(() => compareCheckpoints(a, b, { threads: 1 }));
  const one = line('lineage compare, 1 thread (xxh3-128 hashes)', bytes, s1, numpy);
  const [, s2] = await time(() => compareCheckpoints(a, b, { threads: 2 }));
  const two = line('lineage compare, 2 threads (xxh3-128 hashes)', bytes, s2, numpy);
  console.log(`${''.padEnd(44)} 2 threads / 1 thread: ${(two / one).toFixed(2)}×`);
  console.log(`${''.padEnd(44)} executor threads started by this process so far: ${getThreadPool().threadsStarted} (one pool, core/src/exec/thread-pool.ts)`);
  const [, s6] = await time(() => compareCheckpoints(a, b, { threads: 1, overlapReads: false }));
  line('lineage compare, 1 thread, reads not overlapped', bytes, s6, numpy);
  const [, s7] = await time(() => compareCheckpoints(a, b, { threads: 1, sample: 0.1 }));
  console.log(`${'lineage compare, 1 thread, --sample 0.1'.padEnd(44)} ${s7.toFixed(2).padStart(6)} s = ${(100 * s7 / s1).toFixed(1)}% of the exact time (target ≤ 20%)`);
  const [, s3] = await time(() => compareCheckpoints(a, b, { threads: 1, hash: 'none' }));
  line('lineage compare, 1 thread, no hashes', bytes, s3, numpy);
  const [, s4] = await time(() => compareCheckpoints(a, b, { threads: 1, hash: 'sha256' }));
  line('lineage compare, 1 thread, sha256', bytes, s4, numpy);
  try {
    const [, s5] = await time(() => compareCheckpoints(a, b, { threads: 1, reader: 'mmap' }));
    line('lineage compare, 1 thread, mmap reader', bytes, s5, numpy);
  } catch (err) {
    console.log(`mmap reader: unavailable (${(err as Error).message})`);
  }

  console.log('');
  await kernelAlone(new WasmKernel(), 1 << 20, 400);
  await kernelAlone(new JsKernel(), 1 << 20, 10);
  const reader = new PreadReader();
  const buffer = new Uint8Array(4 << 20);
  const [, sr] = await time(async () => {
    for (const t of a.tensors) for (let at = 0; at < t.byteLength; at += buffer.length) reader.readSync(t.file, t.offset + at, buffer.subarray(0, Math.min(buffer.length, t.byteLength - at)));
  });
  line('pread alone (4 MiB windows)', a.totalBytes, sr);
  reader.close();
  for (const algorithm of ['xxh3-128', 'sha256'] as const) {
    const h = await createStreamingHash(algorithm);
    const [, sh] = await time(() => { h.init(); for (let i = 0; i < 256; i++) h.update(buffer); h.digest(); });
    line(`hash alone: ${algorithm} (in cache)`, 256 * buffer.length, sh);
  }
}

await main();
console.log('');
const { benchClusterOverhead, benchSolarPlanning } = await import('./cluster.ts');
await benchClusterOverhead(dirA, dirB, root);
await benchSolarPlanning(root);
const { benchClusterMoe } = await import('./cluster-moe.ts');
await benchClusterMoe(root);
const { benchAdmission } = await import('./admission.ts');
await benchAdmission(root);
const { benchAlignment } = await import('./align.ts');
await benchAlignment(root);
(await import('./nulls.ts')).benchNulls();
await (await import('./sample-moe.ts')).benchSampleMoe(root);
const controlsBench = await import('./controls.ts');
await controlsBench.benchSolarControls(root);
await controlsBench.benchSolarCompare(root);
await controlsBench.benchControls(root);
await controlsBench.benchWideControls(root);
await (await import('./controls-cost.ts')).benchControlsCost(root);
await (await import('./moe-numpy.ts')).benchMoeAgainstNumpy(root);
