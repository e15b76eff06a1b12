/**
 * Issue 12's end-to-end figure: `lineage compare` on the 22-layer, 16-expert bf16 MoE pair
 * (1.4 GB a side), controls and report included, against the chunked numpy reference
 * (bench/numpy_reference.py: the same weights statistics, no controls, no hashes) in the same run,
 * on one thread and on two. Goal: >= 3x numpy on one thread, >= 5x on two, two never slower than
 * one. Then the same on the pair at Solar-Open-100B's tensor widths (4 layers of 16 experts, 3.0 GB
 * a side): where tensors are real-sized, whether the controls, fixed by structure, still leave
 * the ratio. Alone: `node --import tsx bench/moe-numpy.ts [ROOT] [--threads 1,2,4,…]
 * [--kernel K]` (more thread counts on a machine with more cores; K as in `lineage compare`);
 * `npm run bench` calls it with threads 1 and 2 and the default kernel.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { moe22x16Pair } from './controls-cost.ts';
import { widePair } from './controls.ts';

const BUILT = fileURLToPath(new URL('../dist/client/src/main.js', import.meta.url));

/** Seconds of `lineage compare` from the build (what a user runs), with the report's own split. */
interface Options { threads: number[]; kernel?: string }

function lineageCompare(a: string, b: string, threads: number, json: string, kernel?: string): { wall: number; duration: number; controls: number; beside: number; kernel: string } {
  const t0 = performance.now();
  execFileSync(process.execPath, [BUILT, 'compare', a, b, '--threads', String(threads), ...(kernel ? ['--kernel', kernel] : []), '--quiet', '--json', json], { stdio: 'ignore' });
  const wall = (performance.now() - t0) / 1000;
  const report = JSON.parse(readFileSync(json, 'utf8')) as { run: { durationSeconds: number; controls?: { seconds: number; besideWeightsSeconds?: number } }; weights?: { kernel?: string } };
  const run = report.run;
  return { wall, duration: run.durationSeconds, controls: run.controls?.seconds ?? 0, beside: run.controls?.besideWeightsSeconds ?? 0, kernel: String(report.weights?.kernel ?? '?') };
}

export async function benchMoeAgainstNumpy(root: string, options: Options = { threads: [1, 2] }): Promise<void> {
  const pair = moe22x16Pair(root);
  await againstNumpy(root, '22-layer, 16-expert MoE pair', pair.base, pair.derived, options);
  const wide = widePair(root);
  await againstNumpy(root, "Solar-Open-100B's tensor widths, 4 layers x 16 experts", wide.base, wide.derived, options);
}

async function againstNumpy(root: string, label: string, base: string, derived: string, options: Options): Promise<void> {
  console.log(`\n${label} against numpy (bench/moe-numpy.ts; lineage compare ${base} ${derived} --threads T${options.kernel ? ` --kernel ${options.kernel}` : ''})`);
  if (spawnSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status !== 0) {
    console.log('  reference: python3 with numpy not found, skipped');
    return;
  }
  const json = join(root, 'moe-numpy-report.json');
  lineageCompare(base, derived, 2, json, options.kernel); // warms the page cache
  const ref = JSON.parse(execFileSync('python3', [fileURLToPath(new URL('./numpy_reference.py', import.meta.url)), base, derived], { encoding: 'utf8' })) as { bytes: number; seconds: number };
  const numpy = ref.bytes / 1e9 / ref.seconds;
  console.log(`  reference: chunked numpy (float64, 1 thread, weights only)   ${numpy.toFixed(2)} GB/s (${ref.seconds.toFixed(2)} s)`);
  const rates = new Map<number, number>();
  for (const threads of options.threads) {
    const r = lineageCompare(base, derived, threads, json, options.kernel);
    const rate = ref.bytes / 1e9 / r.wall;
    rates.set(threads, rate);
    const goal = threads === 1 ? ' (goal >= 3x)' : threads === 2 ? ' (goal >= 5x)' : '';
    console.log(`  lineage compare, ${threads} thread(s), kernel ${r.kernel}, end to end   ${rate.toFixed(2)} GB/s (${r.wall.toFixed(2)} s: controls ${r.controls.toFixed(2)} s after the weights pass${r.beside ? ` (their first tasks beside it for ${r.beside.toFixed(2)} s)` : ''}, the rest ${(r.wall - r.controls).toFixed(2)} s)  ${(rate / numpy).toFixed(2)}x numpy${goal}`);
  }
  const one = rates.get(1);
  for (const [threads, rate] of rates) {
    if (one !== undefined && threads !== 1) console.log(`  ${threads} threads / 1 thread: ${(rate / one).toFixed(2)}x${threads === 2 ? ' (goal: never slower)' : ''}`);
  }
  rmSync(json, { force: true });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const flag = (name: string) => { const i = args.indexOf(name); return i < 0 ? undefined : args.splice(i, 2)[1]; };
  const threadsList = flag('--threads');
  const kernel = flag('--kernel');
  const threads = threadsList === undefined ? [1, 2] : threadsList.split(',').map(Number);
  if (threads.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--threads needs a comma-separated list of positive integers, got ${threadsList}`);
  await benchMoeAgainstNumpy(args[0] ?? fileURLToPath(new URL('../.bench/', import.meta.url)), { threads, kernel });
}
