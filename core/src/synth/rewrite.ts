/**
 * Builds checkpoints from others, tensor by tensor: each tensor read as float32, transformed, and
 * written back in its dtype. For the transformations the evaluation set and the tests apply
 * (permutations, rescaling, pruning, quantization): small models, held whole.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { elementCount, type DType } from '../checkpoint/dtype.ts';
import { openCheckpoint, type Checkpoint } from '../checkpoint/folder.ts';
import { writeCheckpoint } from '../checkpoint/writer.ts';
import { PreadReader } from '../io/pread.ts';
import { toFloat32 } from '../kernels/decode.ts';
import { encodeFloats } from './encode.ts';
import { Random } from './random.ts';

export function readTensor(ck: Checkpoint, name: string): Float32Array {
  const t = ck.tensors.find((x) => x.name === name)!;
  const raw = new Uint8Array(t.byteLength);
  const reader = new PreadReader();
  reader.readSync(t.file, t.offset, raw);
  reader.close();
  const out = new Float32Array(elementCount(t.shape));
  toFloat32(t.dtype as DType, raw, out, out.length);
  return out;
}

export interface RewrittenTensor {
  name: string;
  shape: number[];
  values: Float32Array;
}

/**
 * Rewrites a checkpoint tensor by tensor: `make` returns the output tensors for one source tensor
 * (renamed, reshaped, rewritten), or [] to drop it; `config` maps the config.json.
 */
export function rewrite(
  src: string, out: string,
  make: (name: string, shape: number[], values: Float32Array, ck: Checkpoint) => RewrittenTensor[],
  config?: (c: Record<string, unknown>) => Record<string, unknown>,
): string {
  const ck = openCheckpoint(src);
  const produced: (RewrittenTensor & { dtype: DType })[] = [];
  for (const t of ck.tensors) for (const p of make(t.name, t.shape, readTensor(ck, t.name), ck)) produced.push({ ...p, dtype: t.dtype as DType });
  const byName = new Map(produced.map((p) => [p.name, p]));
  mkdirSync(out, { recursive: true });
  writeCheckpoint(out, produced.map(({ name, shape, dtype }) => ({ name, shape, dtype })), (spec, first, count, raw) => {
    encodeFloats(spec.dtype, byName.get(spec.name)!.values.subarray(first, first + count), count, raw);
  });
  writeFileSync(join(out, 'config.json'), JSON.stringify((config ?? ((c) => c))(ck.config!)));
  return out;
}

/** A seeded permutation of 0..n-1. */
export function shuffled(n: number, seed: number): number[] {
  const random = new Random(seed, 'perm');
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random.uniform() * (i + 1));
    [p[i], p[j]] = [p[j]!, p[i]!];
  }
  return p;
}
