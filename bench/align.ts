/**
 * The cost of the aligned tests (issue 11, item 6), in `npm run bench`:
 *  - the matching kernel alone (one MLP cell of a 4096-wide model: 64 neurons × 14,336 neurons ×
 *    768 floats), WebAssembly SIMD against the JavaScript loop;
 *  - the whole alignment on a 2-layer pair of that width (hidden 4096, 14,336 neurons, 32 heads,
 *    8 KV groups; bf16; a light fine-tune), against the weights pass on the same pair: the
 *    matchings must run at this size, not be skipped for budget.
 * Run alone: `node --import tsx bench/align.ts`.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { openCheckpoint } from '../core/src/checkpoint/folder.ts';
import { compareCheckpoints } from '../core/src/compare/weights.ts';
import { alignModels } from '../core/src/align/index.ts';
import { dots, dotsJs } from '../core/src/align/dots.ts';
import { synthesize } from '../core/src/synth/synth.ts';
import { Random } from '../core/src/synth/random.ts';

function timeIt<T>(f: () => T): [T, number] {
  const t0 = process.hrtime.bigint();
  const out = f();
  return [out, Number(process.hrtime.bigint() - t0) / 1e9];
}

export async function benchAlignment(root: string): Promise<void> {
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
  await benchAlignment(fileURLToPath(new URL('../.bench/', import.meta.url)));
}
