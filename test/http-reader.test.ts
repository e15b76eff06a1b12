/**
 * The HTTP Range reader against a real server on loopback (test/helpers/range-server.ts): bytes
 * equal to the file's, the token kept to the hub's origin, coalescing, the limit on requests in
 * flight, faults survived by retrying, and failures named (404, 416, 401, a changed file).
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openCheckpoint } from '../core/src/checkpoint/folder.ts';
import { openModel } from '../core/src/checkpoint/remote.ts';
import { BadInputError, ReadFailedError } from '../core/src/errors.ts';
import { HttpRangeReader, RemoteContentChangedError, type HttpReadOptions } from '../core/src/io/http.ts';
import { synthesize } from '../core/src/synth/synth.ts';
import { RangeServer } from './helpers/range-server.ts';
import { tempDir } from './helpers/tmpdir.ts';

const root = tempDir('lineage-http-reader-');
const modelDir = join(root, 'model');
const COMMIT = 'c0ffee'.padEnd(40, '0');
const TOKEN = 'hf_test_token';
/** Fast retries so fault tests stay quick. */
const FAST: HttpReadOptions = { token: TOKEN, backoffMs: 5, maxBackoffMs: 20, timeoutMs: 2000 };

let server: RangeServer;

test.before(async () => {
  synthesize('base', { out: modelDir, shardBytes: 1 << 20, seed: 7 });
  // A file for the raw (no revision) routes: 3 MiB of known bytes.
  const blob = new Uint8Array(3 << 20);
  for (let i = 0; i < blob.length; i++) blob[i] = (i * 2654435761) >>> 24;
  writeFileSync(join(modelDir, 'blob.safetensors.bin'), blob);
  server = await RangeServer.start({ repos: { 'org/model': { folder: modelDir, commit: COMMIT } }, token: TOKEN, redirectWeights: true });
});

test.after.always(async () => {
  await server?.close();
});

const local = (file: string, start: number, end: number) => readFileSync(join(modelDir, file)).subarray(start, end);

test.serial('reads equal the file bytes, through the redirect, with the token only on the hub origin', async (t) => {
  const ck = await openModel(server.folderUrl('org/model'), FAST);
  const localCk = openCheckpoint(modelDir);
  t.is(ck.tensors.length, localCk.tensors.length);
  const reader = new HttpRangeReader({ ...FAST, coalesceBytes: 0 });
  try {
    for (const tensor of ck.tensors) {
      const mine = localCk.tensors.find((x) => x.name === tensor.name)!;
      t.is(tensor.offset, mine.offset);
      // An odd sub-range of each tensor, so boundaries are exercised.
      const from = Math.floor(tensor.byteLength / 3);
      const buf = new Uint8Array(tensor.byteLength - from - 1);
      await reader.read(tensor.file, tensor.offset + from, buf);
      t.true(Buffer.from(buf).equals(readFileSync(mine.file).subarray(mine.offset + from, mine.offset + tensor.byteLength - 1)), tensor.name);
    }
  } finally {
    reader.close();
  }
  const hub = server.requests.filter((r) => r.origin === 'hub');
  const cdn = server.requests.filter((r) => r.origin === 'cdn');
  t.true(cdn.length > 0, 'weights were redirected to the CDN origin');
  t.true(hub.every((r) => r.authorization === `Bearer ${TOKEN}`));
  t.true(cdn.every((r) => r.authorization === null), 'the token never went to the other origin');
  // Every weight request after opening names the pinned commit, not the branch.
  t.true(hub.filter((r) => r.path.endsWith('.safetensors')).every((r) => r.path.includes(`/resolve/${COMMIT}/`)));
});

test.serial('long reads go out as parallel parts within the concurrency limit', async (t) => {
  const url = server.rawUrl('org/model', 'blob.safetensors.bin');
  server.maxInFlight = 0;
  const reader = new HttpRangeReader({ partBytes: 128 * 1024, concurrency: 3, coalesceBytes: 0 });
  const before = server.requests.length;
  const buf = new Uint8Array((3 << 20) - 1000);
  await reader.read(url, 1000, buf);
  reader.close();
  t.true(Buffer.from(buf).equals(local('blob.safetensors.bin', 1000, 3 << 20)));
  t.is(server.requests.length - before, Math.ceil(buf.length / (128 * 1024)));
  t.true(server.maxInFlight <= 3 && server.maxInFlight >= 2, `max in flight ${server.maxInFlight}`);
});

test.serial('whole small tensors next to each other are fetched in one request', async (t) => {
  const ck = await openModel(server.folderUrl('org/model'), FAST);
  const inShard = (shard: string) => ck.tensors.filter((x) => x.file === shard).sort((x, y) => x.offset - y.offset);
  const shard = [...ck.shards].sort((x, y) => inShard(y).length - inShard(x).length)[0]!;
  const tensors = inShard(shard);
  t.true(tensors.length >= 4, `${tensors.length} tensors`);
  const reader = new HttpRangeReader(FAST);
  const before = server.requests.filter((r) => r.origin === 'cdn').length;
  for (const tensor of tensors) {
    const buf = new Uint8Array(tensor.byteLength);
    await reader.read(tensor.file, tensor.offset, buf);
    const file = shard.split('#')[0]!.split('/').at(-1)!;
    t.true(Buffer.from(buf).equals(local(file, tensor.offset, tensor.offset + tensor.byteLength)));
  }
  const log = reader.drainLog();
  reader.close();
  const requests = server.requests.filter((r) => r.origin === 'cdn').length - before;
  // One request for the header (the reader learns the layout), one or two for the tensors.
  t.true(requests <= 3, `${requests} requests for ${tensors.length} tensors`);
  const url = shard.split('#')[0]!;
  t.deepEqual(log.served[url], [[tensors[0]!.offset, tensors.at(-1)!.offset + tensors.at(-1)!.byteLength]]);
});

test.serial('the SHA-256 of every run fetched matches the bytes of the file', async (t) => {
  const ck = await openModel(server.folderUrl('org/model'), FAST);
  const reader = new HttpRangeReader(FAST);
  for (const tensor of ck.tensors.slice(0, 12)) await reader.read(tensor.file, tensor.offset, new Uint8Array(tensor.byteLength));
  const log = reader.drainLog();
  reader.close();
  t.true(log.runs.length > 0);
  for (const run of log.runs) {
    const file = run.url.split('/').at(-1)!;
    t.is(run.sha256, createHash('sha256').update(local(file, run.start, run.end)).digest('hex'), `${file} [${run.start}, ${run.end})`);
  }
  for (const run of (ck as { remote?: { openLog: { runs: typeof log.runs } } }).remote!.openLog.runs) {
    const file = run.url.split('/').at(-1)!;
    t.is(run.sha256, createHash('sha256').update(local(file, run.start, run.end)).digest('hex'));
  }
});

test.serial('resets, dropped bodies, 503s and slow answers are retried; the bytes are still right', async (t) => {
  const url = server.rawUrl('org/model', 'blob.safetensors.bin');
  const reader = new HttpRangeReader({ ...FAST, timeoutMs: 300, partBytes: 1 << 20, coalesceBytes: 0 });
  const faults = [
    { kind: 'reset' as const, times: 2 },
    { kind: 'drop' as const, times: 2, afterBytes: 70_000 },
    { kind: '503' as const, times: 3, retryAfter: 0 },
    { kind: 'slow' as const, times: 1, delayMs: 1500 },
  ];
  for (const fault of faults) {
    server.clearFaults();
    server.inject({ ...fault, match: /blob\.safetensors\.bin$/ });
    const buf = new Uint8Array(2 << 20);
    await reader.read(url, 4096, buf);
    t.true(Buffer.from(buf).equals(local('blob.safetensors.bin', 4096, 4096 + buf.length)), fault.kind);
  }
  server.clearFaults();
  const stats = reader.drainLog().stats[url]!;
  reader.close();
  t.true(stats.retries >= 8, `retries ${stats.retries}`);
  // A dropped body resumes where it broke off instead of starting again.
  const resumed = server.requests.filter((r) => r.path.endsWith('blob.safetensors.bin') && r.range && !/^bytes=(4096|1052672)-/.test(r.range));
  t.true(resumed.length >= 2, 'resumed ranges');
});

test.serial('a server that keeps failing gives a ReadFailedError (retryable, not bad input) naming the URL after the retries', async (t) => {
  const url = server.rawUrl('org/model', 'blob.safetensors.bin');
  server.clearFaults();
  server.inject({ kind: '503', times: 100, match: /blob/ });
  const reader = new HttpRangeReader({ ...FAST, retries: 2 });
  const err = await t.throwsAsync(reader.read(url, 0, new Uint8Array(100)), { instanceOf: ReadFailedError });
  reader.close();
  server.clearFaults();
  t.true(err!.retryable);
  t.is(err!.file, url);
  t.regex(err!.message, /HTTP 503 \(gave up after 3 attempts\)/);
});

test.serial('404, 416, 401 and a server that ignores Range are named clearly', async (t) => {
  const missing = server.rawUrl('org/model', 'nope.safetensors');
  const reader = new HttpRangeReader(FAST);
  const notFound = await t.throwsAsync(reader.read(missing, 0, new Uint8Array(10)), { instanceOf: BadInputError });
  t.is(notFound!.message, `${missing}: not found (HTTP 404)`);

  const blob = server.rawUrl('org/model', 'blob.safetensors.bin');
  const beyond = await t.throwsAsync(reader.read(blob, 3 << 20, new Uint8Array(10)), { instanceOf: BadInputError });
  t.regex(beyond!.message, /HTTP 416\): the file has 3145728 bytes/);
  const truncated = await t.throwsAsync(reader.read(blob, (3 << 20) - 5, new Uint8Array(10)), { instanceOf: BadInputError });
  t.regex(truncated!.message, /truncated: wanted bytes \[3145723, 3145733\) but the file ends at 3145728/);

  server.inject({ kind: 'ignore-range', match: /blob/ });
  const ignored = await t.throwsAsync(reader.read(blob, 100, new Uint8Array(10)), { instanceOf: BadInputError });
  t.regex(ignored!.message, /ignored the Range request/);
  reader.close();

  const noToken = await t.throwsAsync(openModel(server.folderUrl('org/model'), { ...FAST, token: undefined }), { instanceOf: BadInputError });
  t.regex(noToken!.message, /config\.json: access denied \(HTTP 401\); a gated or private model needs a token \(--hub-token or HF_TOKEN\)/);
  t.notRegex(noToken!.message, new RegExp(TOKEN));

  const noRepo = await t.throwsAsync(openModel(server.folderUrl('org/other'), FAST), { instanceOf: BadInputError });
  t.regex(noRepo!.message, /org\/other\/resolve\/main\/: no weights: neither model\.safetensors\.index\.json nor model\.safetensors/);
});

test.serial('an empty shard is a 416 named on opening; a header that lies is named like a local one', async (t) => {
  const dir = join(root, 'broken');
  const serverDir = tempDir('lineage-http-broken-');
  writeFileSync(join(serverDir, 'model.safetensors'), new Uint8Array(0));
  const broken = await RangeServer.start({ repos: { empty: { folder: serverDir, commit: COMMIT } } });
  try {
    const err = await t.throwsAsync(openModel(broken.folderUrl('empty'), FAST), { instanceOf: BadInputError });
    t.regex(err!.message, /model\.safetensors: bytes \[0, 65536\) are not satisfiable \(HTTP 416\): the file has 0 bytes/);
    // A header that claims more bytes than the file holds: the same words as the local reader.
    const header = Buffer.from(JSON.stringify({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }));
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(header.length));
    writeFileSync(join(serverDir, 'model.safetensors'), Buffer.concat([length, header, Buffer.alloc(8)]));
    const lying = await t.throwsAsync(openModel(broken.folderUrl('empty'), FAST), { instanceOf: BadInputError });
    t.regex(lying!.message, /tensor 'w': data_offsets \[0, 16\] run past the end of the file \(data section is 8 bytes; truncated\?\)/);
  } finally {
    await broken.close();
  }
  void dir;
});

test.serial('a file that changes after opening fails its reads instead of mixing versions', async (t) => {
  const serverDir = tempDir('lineage-http-change-');
  synthesize('base', { out: serverDir, seed: 3 });
  const changing = await RangeServer.start({ repos: { m: { folder: serverDir, commit: COMMIT } } });
  try {
    const ck = await openModel(changing.folderUrl('m'), FAST);
    const tensor = ck.tensors.find((x) => x.byteLength > 1000)!;
    const original = readFileSync(join(serverDir, 'model.safetensors'));
    const reader = new HttpRangeReader({ ...FAST, coalesceBytes: 0 });
    await reader.read(tensor.file, tensor.offset, new Uint8Array(100));
    // Same length, other bytes: only the ETag tells.
    const edited = Buffer.from(original);
    edited[tensor.offset] = edited[tensor.offset]! ^ 0xff;
    changing.replaceFile('m', 'model.safetensors', edited);
    const etag = await t.throwsAsync(reader.read(tensor.file, tensor.offset, new Uint8Array(100)), { instanceOf: RemoteContentChangedError });
    t.regex(etag!.message, /model\.safetensors: changed since it was opened: ETag "0-.*" then, "1-.*" now/);
    // Shorter: the length tells.
    changing.replaceFile('m', 'model.safetensors', original.subarray(0, original.length - 2));
    const fresh = new HttpRangeReader(FAST);
    const length = await t.throwsAsync(fresh.read(tensor.file, tensor.offset, new Uint8Array(100)), { instanceOf: RemoteContentChangedError });
    t.regex(length!.message, /changed since it was opened: \d+ bytes then, \d+ now/);
    t.deepEqual(reader.drainLog().changes.map((c) => c.url), [tensor.file.split('#')[0]]);
    reader.close();
    fresh.close();
  } finally {
    await changing.close();
  }
});
