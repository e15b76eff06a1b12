/** The pread reader: exact bytes at any offset of a 6 GiB sparse file, named errors otherwise. */
import test from 'ava';
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BadInputError, ReadFailedError } from '../core/src/errors.ts';
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

test('a read past the end is a BadInputError; a missing file or a refused read is a ReadFailedError (retryable), on both paths', async (t) => {
  const { file } = writeSparseFile();
  const reader = new PreadReader();
  try {
    const err = await t.throwsAsync(reader.read(file, SPARSE_SIZE - 10, new Uint8Array(20)), { instanceOf: BadInputError });
    t.is(err!.file, file);
    t.regex(err!.reason, /truncated/);
    t.throws(() => reader.readSync(file, SPARSE_SIZE - 10, new Uint8Array(20)), { instanceOf: BadInputError, message: /truncated/ });
    const missing = join(file, '..', 'missing.bin');
    const gone = await t.throwsAsync(reader.read(missing, 0, new Uint8Array(1)), { instanceOf: ReadFailedError });
    t.is(gone!.file, missing);
    t.is(gone!.reason, 'cannot open: ENOENT');
    t.true(gone!.retryable);
    t.is(t.throws(() => reader.readSync(missing, 0, new Uint8Array(1)), { instanceOf: ReadFailedError })!.reason, 'cannot open: ENOENT');
    // A folder opens, and the read itself is refused (EISDIR): the readSync path names it too.
    const folder = join(file, '..', 'folder');
    mkdirSync(folder);
    t.is((await t.throwsAsync(reader.read(folder, 0, new Uint8Array(1)), { instanceOf: ReadFailedError }))!.reason, 'cannot read: EISDIR');
    t.is(t.throws(() => reader.readSync(folder, 0, new Uint8Array(1)), { instanceOf: ReadFailedError })!.reason, 'cannot read: EISDIR');
  } finally {
    reader.close();
  }
});
