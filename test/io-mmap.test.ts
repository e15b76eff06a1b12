/**
 * The mmap reader: same bytes as pread at every offset of a 6 GiB sparse file (which the upstream
 * mmap-io, truncating offsets to 32 bits, gets wrong), named errors, and bounded memory while
 * streaming. Serial: the memory test reads this process's RSS.
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import { mkdirSync, openSync, closeSync, ftruncateSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { BadInputError, LineageError, ReadFailedError, UsageError } from '../core/src/errors.ts';
import { createReader, mmapAvailable, MmapReader, PreadReader, type ReaderKind } from '../core/src/io/index.ts';
import { GiB, SPARSE_SIZE, writeSparseFile } from './helpers/sparse-file.ts';
import { tempDir } from './helpers/tmpdir.ts';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const MiB = 1024 ** 2;

const availability = mmapAvailable();
if (!availability.ok) console.log(`mmap tests skipped: ${availability.reason}`);
const mmapTest = availability.ok ? test.serial : test.serial.skip;

test.serial('createReader gives each kind, or says why mmap is unavailable', (t) => {
  t.is(createReader('pread').kind, 'pread');
  if (availability.ok) {
    const reader = createReader('mmap');
    t.is(reader.kind, 'mmap');
    reader.close();
  } else {
    t.true((availability.reason ?? '').length > 0);
    const err = t.throws(() => createReader('mmap'), { instanceOf: LineageError });
    t.is(err!.code, 'UNSUPPORTED');
    t.true(err!.message.includes(availability.reason!));
  }
  t.throws(() => createReader('http' as ReaderKind), { instanceOf: UsageError });
});

mmapTest('both readers give the known bytes below 2 GiB, in [2, 4) GiB, above 4 GiB and across both', async (t) => {
  const { file, regions } = writeSparseFile();
  const readers = [new PreadReader(), new MmapReader()];
  try {
    for (const region of regions) {
      const got = readers.map(() => Buffer.alloc(region.bytes.length));
      for (const [i, reader] of readers.entries()) await reader.read(file, region.offset, got[i]);
      for (const [i, reader] of readers.entries()) {
        t.true(got[i].equals(region.bytes), `${reader.kind}: ${region.name}`);
        t.is(sha256(got[i]), sha256(region.bytes), `${reader.kind}: ${region.name}`);
      }
    }
  } finally {
    for (const reader of readers) reader.close();
  }
});

mmapTest('reads spanning several small windows, and repeated reads, match pread', async (t) => {
  const { file, regions } = writeSparseFile();
  const across4 = regions.find((r) => r.name === 'across 4 GiB')!;
  const pread = new PreadReader();
  const mmap = new MmapReader({ windowBytes: 64 * 1024, maxWindows: 2 });
  try {
    // 1 MiB + 3 bytes from an unaligned offset: 17 windows, with the 4 GiB edge among them.
    for (const [offset, length] of [[4 * GiB - 512 * 1024 + 1, MiB + 3], [across4.offset, across4.bytes.length], [SPARSE_SIZE - 70_000, 70_000]]) {
      const want = Buffer.alloc(length);
      const got = Buffer.alloc(length);
      await pread.read(file, offset, want);
      for (let pass = 0; pass < 2; pass++) {
        got.fill(0xee);
        await mmap.read(file, offset, got);
        t.is(sha256(got), sha256(want), `[${offset}, +${length}) pass ${pass}`);
      }
    }
    // Closing releases everything; the reader can be used again afterwards.
    mmap.close();
    const got = Buffer.alloc(across4.bytes.length);
    await mmap.read(file, across4.offset, got);
    t.true(got.equals(across4.bytes));
  } finally {
    pread.close();
    mmap.close();
  }
});

mmapTest('a read past the end or a folder is a BadInputError naming it; a missing file is a ReadFailedError', async (t) => {
  const { file } = writeSparseFile();
  const reader = new MmapReader();
  try {
    for (const [offset, length] of [[SPARSE_SIZE - 10, 20], [SPARSE_SIZE, 1], [SPARSE_SIZE + 4 * GiB, 8]]) {
      const err = await t.throwsAsync(reader.read(file, offset, new Uint8Array(length)), { instanceOf: BadInputError });
      t.is(err!.file, file);
      t.regex(err!.reason, /truncated/);
    }
    const missing = join(file, '..', 'missing.bin');
    t.is((await t.throwsAsync(reader.read(missing, 0, new Uint8Array(1)), { instanceOf: ReadFailedError }))!.file, missing);
    const folder = join(file, '..', 'folder');
    mkdirSync(folder);
    t.is((await t.throwsAsync(reader.read(folder, 0, new Uint8Array(1)), { instanceOf: BadInputError }))!.file, folder);
    // The file still reads after the errors.
    await reader.read(file, SPARSE_SIZE - 1, new Uint8Array(1));
  } finally {
    reader.close();
  }
});

mmapTest('memory stays bounded while streaming 3 GiB through mapped windows', async (t) => {
  const file = join(tempDir('lineage-io-'), 'hole.bin');
  const fd = openSync(file, 'w');
  ftruncateSync(fd, 3 * GiB + 5 * GiB);
  closeSync(fd);

  // Control: a mapping left to GC keeps every touched page resident, so RSS does see mapped pages.
  const mmapIo = createRequire(import.meta.url)('mmap-io') as {
    PROT_READ: number; MAP_SHARED: number; map(size: number, prot: number, flags: number, fd: number, offset: number): Buffer; unmap(b: Buffer): void;
  };
  const controlFd = openSync(file, 'r');
  const before = process.memoryUsage().rss;
  const raw = mmapIo.map(512 * MiB, mmapIo.PROT_READ, mmapIo.MAP_SHARED, controlFd, 5 * GiB);
  let sum = 0;
  for (let i = 0; i < raw.length; i += 4096) sum += raw[i];
  const controlGrowth = process.memoryUsage().rss - before;
  mmapIo.unmap(raw);
  closeSync(controlFd);
  t.is(sum, 0);
  t.true(controlGrowth > 400 * MiB, `control grew RSS by ${controlGrowth / MiB} MiB`);

  const reader = new MmapReader();
  const target = new Uint8Array(4 * MiB);
  const start = process.memoryUsage().rss;
  let peak = start;
  try {
    // Starts above 4 GiB plus an odd amount, so reads straddle window edges throughout.
    for (let offset = 4 * GiB + 4097; offset < 4 * GiB + 4097 + 3 * GiB; offset += target.length) {
      await reader.read(file, offset, target);
      if (target[target.length - 1] !== 0) t.fail('a hole read as nonzero');
      peak = Math.max(peak, process.memoryUsage().rss);
    }
  } finally {
    reader.close();
  }
  const growth = peak - start;
  t.log(`RSS growth while streaming 3 GiB: ${(growth / MiB).toFixed(1)} MiB (control, 512 MiB mapped and kept: ${(controlGrowth / MiB).toFixed(1)} MiB)`);
  t.true(growth < 256 * MiB, `RSS grew by ${growth / MiB} MiB`);
});
