import test from 'ava';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { createStreamingHash } from '../core/src/hash/content-hash.ts';

const { xxh3 } = createRequire(import.meta.url)('@node-rs/xxhash') as { xxh3: { xxh128(b: Uint8Array): bigint } };

// Lengths around XXH3's internal boundaries (16, 128, 240 bytes, 1 KiB blocks), streamed in odd pieces.
const LENGTHS = [0, 1, 3, 16, 17, 128, 129, 240, 241, 1024, 1025, 100_003, 3_000_017];
const data = Uint8Array.from({ length: 3_000_017 }, (_, i) => (Math.imul(i, 2654435761) >>> 24) & 0xff);

for (const preferWasm of [false, true]) {
  test(`xxh3-128 (${preferWasm ? 'hash-wasm' : 'default'}) streamed in pieces equals the one-shot reference`, async (t) => {
    const h = await createStreamingHash('xxh3-128', { preferWasm });
    t.log(h.implementation);
    for (const n of LENGTHS) {
      h.init();
      for (let at = 0; at < n; at += 77_777) h.update(data.subarray(at, Math.min(n, at + 77_777)));
      t.is(h.digest(), xxh3.xxh128(data.subarray(0, n)).toString(16).padStart(32, '0'), `${n} bytes`);
    }
  });
}

test('sha256 streamed equals node:crypto one-shot, and init starts over', async (t) => {
  const h = await createStreamingHash('sha256');
  h.init();
  h.update(data.subarray(0, 10));
  h.init();
  h.update(data.subarray(0, 5000));
  h.update(data.subarray(5000, 9000));
  t.is(h.digest(), createHash('sha256').update(data.subarray(0, 9000)).digest('hex'));
});
