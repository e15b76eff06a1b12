/**
 * Synthetic checkpoints for demos, controls and tests:
 *  - base: fresh random weights of a chosen shape;
 *  - derivative: the model in `like` plus noise of relative size `drift` (b = a + drift·std(a)·z),
 *    as a fine-tune moves weights a little;
 *  - independent: fresh random weights with the same config as `like`, from another seed.
 * Tensors are written window by window: memory stays bounded whatever the size.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bytesPerElement, elementCount, type DType } from '../checkpoint/dtype.ts';
import { openCheckpoint, type TensorEntry } from '../checkpoint/folder.ts';
import { writeCheckpoint, WRITE_WINDOW_ELEMENTS, type TensorFiller, type TensorSpec } from '../checkpoint/writer.ts';
import { BadInputError } from '../errors.ts';
import { PreadReader } from '../io/pread.ts';
import { toFloat32 } from '../kernels/decode.ts';
import { configFor, DEFAULT_SHAPE, isNormTensor, shapeFromConfig, tensorsFor, type SynthShape } from './architecture.ts';
import { encodeFloats } from './encode.ts';
import { Random } from './random.ts';

export type SynthKind = 'base' | 'derivative' | 'independent';

export interface SynthOptions {
  out: string;
  like?: string;
  drift?: number;
  seed?: number;
  shape?: Partial<SynthShape>;
  /** Cut shards at this many bytes (default: one file). */
  shardBytes?: number;
}

export interface SynthResult {
  files: string[];
  tensors: number;
  bytes: number;
  config: Record<string, unknown>;
}

const MATRIX_STD = 0.02;
const NORM_STD = 0.05;

export function synthesize(kind: SynthKind, options: SynthOptions): SynthResult {
  prepareOut(options.out);
  const seed = options.seed ?? (kind === 'independent' ? 2 : 1);
  if (kind === 'base') {
    const shape = { ...DEFAULT_SHAPE, ...options.shape };
    return writeRandom(options.out, shape, configFor(shape), seed, options.shardBytes);
  }
  if (!options.like) throw new BadInputError(options.out, `a ${kind} needs --like DIR (the model it is derived from or shaped like)`);
  const like = openCheckpoint(options.like);
  if (!like.config) throw new BadInputError(options.like, 'has no config.json');
  if (kind === 'independent') {
    const dtype = (like.tensors[0]?.dtype ?? 'BF16') as DType;
    return writeRandom(options.out, shapeFromConfig(like.config, dtype), like.config, seed, options.shardBytes, like.tensors);
  }
  return writeDerivative(options.out, like.config, like.tensors, options.drift ?? 0.01, seed, options.shardBytes);
}

function prepareOut(out: string): void {
  if (existsSync(out) && readdirSync(out).some((f) => f.endsWith('.safetensors') || f === 'config.json')) {
    throw new BadInputError(out, 'already holds a checkpoint; choose an empty or new folder');
  }
  mkdirSync(out, { recursive: true });
}

function writeRandom(out: string, shape: SynthShape, config: Record<string, unknown>, seed: number, shardBytes?: number, template?: TensorEntry[]): SynthResult {
  // With a template (independent of `like`), copy its exact tensor list so names, shapes and dtypes match.
  const specs: TensorSpec[] = template
    ? template.filter((t) => ['BF16', 'F16', 'F32'].includes(t.dtype)).map((t) => ({ name: t.name, dtype: t.dtype as DType, shape: t.shape }))
    : tensorsFor(shape);
  const values = new Float32Array(WRITE_WINDOW_ELEMENTS);
  let random = new Random(seed);
  const fill: TensorFiller = (spec, first, count, raw) => {
    if (first === 0) random = new Random(seed, spec.name);
    const norm = isNormTensor(spec.name);
    for (let i = 0; i < count; i++) values[i] = norm ? 1 + NORM_STD * random.normal() : MATRIX_STD * random.normal();
    encodeFloats(spec.dtype, values, count, raw);
  };
  return finish(out, config, specs, fill, shardBytes);
}

function writeDerivative(out: string, config: Record<string, unknown>, source: TensorEntry[], drift: number, seed: number, shardBytes?: number): SynthResult {
  if (!(drift >= 0)) throw new BadInputError(out, `--drift must be a non-negative number, got ${drift}`);
  const byName = new Map(source.map((t) => [t.name, t]));
  const specs = source.filter((t) => ['BF16', 'F16', 'F32'].includes(t.dtype)).map((t) => ({ name: t.name, dtype: t.dtype as DType, shape: t.shape }));
  const reader = new PreadReader();
  const raw = new Uint8Array(WRITE_WINDOW_ELEMENTS * 4);
  const values = new Float32Array(WRITE_WINDOW_ELEMENTS);
  let random = new Random(seed);
  let scale = 0;
  const fill: TensorFiller = (spec, first, count, out) => {
    const t = byName.get(spec.name)!;
    const size = bytesPerElement(spec.dtype);
    if (first === 0) {
      // Its own stream: drawing the base's stream again would add a multiple of a to itself.
      random = new Random(seed, `drift:${spec.name}`);
      scale = drift * stdOf(t, reader, raw, values);
    }
    reader.readSync(t.file, t.offset + first * size, raw.subarray(0, count * size));
    toFloat32(spec.dtype, raw, values, count);
    for (let i = 0; i < count; i++) values[i] = values[i]! + scale * random.normal();
    encodeFloats(spec.dtype, values, count, out);
  };
  try {
    return finish(out, config, specs, fill, shardBytes);
  } finally {
    reader.close();
  }
}

/** Standard deviation of a stored tensor, read window by window (Welford per window, merged). */
function stdOf(t: TensorEntry, reader: PreadReader, raw: Uint8Array, values: Float32Array): number {
  const n = elementCount(t.shape);
  const size = bytesPerElement(t.dtype as DType);
  let count = 0, mean = 0, m2 = 0;
  for (let first = 0; first < n; first += WRITE_WINDOW_ELEMENTS) {
    const c = Math.min(WRITE_WINDOW_ELEMENTS, n - first);
    reader.readSync(t.file, t.offset + first * size, raw.subarray(0, c * size));
    toFloat32(t.dtype as DType, raw, values, c);
    for (let i = 0; i < c; i++) {
      count++;
      const d = values[i]! - mean;
      mean += d / count;
      m2 += d * (values[i]! - mean);
    }
  }
  return count > 1 ? Math.sqrt(m2 / count) : 0;
}

function finish(out: string, config: Record<string, unknown>, specs: TensorSpec[], fill: TensorFiller, shardBytes?: number): SynthResult {
  writeFileSync(join(out, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  const files = writeCheckpoint(out, specs, fill, shardBytes);
  const bytes = specs.reduce((s, t) => s + elementCount(t.shape) * bytesPerElement(t.dtype), 0);
  return { files, tensors: specs.length, bytes, config };
}
