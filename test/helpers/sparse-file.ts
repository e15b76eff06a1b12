/**
 * A sparse 6 GiB file (ftruncate, so it costs no disk) with known bytes at offsets that 32-bit
 * arithmetic gets wrong: below 2 GiB, in [2, 4) GiB, above 4 GiB, across both boundaries, and at
 * the very end.
 */
import { closeSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './tmpdir.ts';

export const GiB = 1024 ** 3;
export const SPARSE_SIZE = 6 * GiB;

export interface KnownRegion {
  name: string;
  offset: number;
  bytes: Buffer;
}

// Regions must not overlap: each is checked against the bytes written there.
const LAYOUT: Array<[name: string, offset: number, length: number]> = [
  ['below 2 GiB', 1000, 100_000],
  ['across 2 GiB', 2 * GiB - 3000, 6000],
  ['in [2, 4) GiB', 3 * GiB + 777, 100_000],
  ['across 4 GiB', 4 * GiB - 6000, 12_000],
  ['above 4 GiB, unaligned', 4 * GiB + 12_345, 100_000],
  ['the last bytes', SPARSE_SIZE - 4097, 4097],
];

/** Deterministic bytes, different for every seed (xorshift32). */
export function patternBytes(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** Writes the sparse file in a fresh temporary folder (removed at exit); returns its path and regions. */
export function writeSparseFile(): { file: string; regions: KnownRegion[] } {
  const file = join(tempDir('lineage-io-'), 'sparse.bin');
  const fd = openSync(file, 'w');
  const regions: KnownRegion[] = [];
  try {
    ftruncateSync(fd, SPARSE_SIZE);
    LAYOUT.forEach(([name, offset, length], i) => {
      const bytes = patternBytes(length, i + 1);
      writeSync(fd, bytes, 0, length, offset);
      regions.push({ name, offset, bytes });
    });
  } finally {
    closeSync(fd);
  }
  return { file, regions };
}
