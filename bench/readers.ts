/**
 * Throughput of each range reader streaming a cached 1 GiB file into a reused 4 MiB buffer (the
 * way a kernel's input window is filled). Run directly: `node --import tsx bench/readers.ts`.
 */
import { closeSync, openSync, readSync, rmSync, writeSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MmapReader, mmapAvailable, PreadReader, type RangeReader } from '../core/src/io/index.ts';

const FILE_BYTES = 1024 ** 3;
const BUFFER_BYTES = 4 * 1024 ** 2;
const ROUNDS = 5;

async function streamOnce(reader: RangeReader, file: string, target: Uint8Array): Promise<number> {
  const started = process.hrtime.bigint();
  for (let offset = 0; offset < FILE_BYTES; offset += target.length) await reader.read(file, offset, target);
  return Number(process.hrtime.bigint() - started) / 1e9;
}

/** Median GB/s (10^9 bytes per second) over a few rounds for each reader available here. */
export async function benchReaders(): Promise<{ name: string; gbPerSec: number }[]> {
  const dir = mkdtempSync(join(tmpdir(), 'lineage-bench-'));
  const file = join(dir, 'cached.bin');
  try {
    // Nonzero data, written then read once so that every page is in the page cache.
    const fd = openSync(file, 'w+');
    const chunk = Buffer.alloc(16 * 1024 ** 2);
    for (let i = 0; i < chunk.length; i += 4) chunk.writeUInt32LE((i * 2654435761) >>> 0, i);
    for (let offset = 0; offset < FILE_BYTES; offset += chunk.length) writeSync(fd, chunk, 0, chunk.length, offset);
    for (let offset = 0; offset < FILE_BYTES; offset += chunk.length) readSync(fd, chunk, 0, chunk.length, offset);
    closeSync(fd);

    const readers: Array<[string, () => RangeReader]> = [['pread', () => new PreadReader()]];
    if (mmapAvailable().ok) readers.push([`mmap (${new MmapReader().windowBytes / 1024 ** 2} MiB windows)`, () => new MmapReader()]);
    const target = new Uint8Array(BUFFER_BYTES);
    const seconds = new Map<string, number[]>(readers.map(([name]) => [name, []]));
    // Rounds interleave the readers so that a noisy neighbour hurts both alike.
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, make] of readers) {
        const reader = make();
        try {
          seconds.get(name)!.push(await streamOnce(reader, file, target));
        } finally {
          reader.close();
        }
      }
    }
    return readers.map(([name]) => {
      const sorted = seconds.get(name)!.sort((a, b) => a - b);
      return { name, gbPerSec: FILE_BYTES / sorted[Math.floor(sorted.length / 2)] / 1e9 };
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const availability = mmapAvailable();
  if (!availability.ok) console.log(`mmap reader skipped: ${availability.reason}`);
  for (const { name, gbPerSec } of await benchReaders()) {
    console.log(`${name.padEnd(24)} ${gbPerSec.toFixed(2)} GB/s (1 GiB cached file, 4 MiB reused buffer, median of ${ROUNDS})`);
  }
}
