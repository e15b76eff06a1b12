/** The pread reader: exact bytes at any offset of a 6 GiB sparse file, named errors otherwise. */
import test from 'ava';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { BadInputError } from '../core/src/errors.ts';
import { createReader, PreadReader } from '../core/src/io/index.ts';
import { GiB, SPARSE_SIZE, writeSparseFile } from './helpers/sparse-file.ts';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

test('reads known bytes below 2 GiB, in [2, 4) GiB, above 4 GiB and across both boundaries', async (t) => {
  const { file, regions } = writeSparseFile();
  const reader = createReader('pread');
  t.is(reader.kind, 'pread');
  try {
    for (const region of regions) {
      const got = Buffer.alloc(region.bytes.length);
      await reader.read(file, region.offset, got);
      t.true(got.equals(region.bytes), region.name);
      t.is(sha256(got), sha256(region.bytes), region.name);
    }
    // A hole reads as zeros, and the last known byte sits right before the end.
    const hole = Buffer.alloc(4096, 0xff);
    await reader.read(file, 5 * GiB, hole);
    t.true(hole.every((b) => b === 0));
  } finally {
    reader.close();
  }
});

test('a read past the end, or of a missing file, is a BadInputError naming the file', async (t) => {
  const { file } = writeSparseFile();
  const reader = new PreadReader();
  try {
    const err = await t.throwsAsync(reader.read(file, SPARSE_SIZE - 10, new Uint8Array(20)), { instanceOf: BadInputError });
    t.is(err!.file, file);
    t.regex(err!.reason, /truncated/);
    const missing = join(file, '..', 'missing.bin');
    const gone = await t.throwsAsync(reader.read(missing, 0, new Uint8Array(1)), { instanceOf: BadInputError });
    t.is(gone!.file, missing);
  } finally {
    reader.close();
  }
});
