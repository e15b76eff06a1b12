/** A tensor placed above 4 GiB in a sparse shard is read, compared and hashed correctly. */
import test from 'ava';
import { closeSync, ftruncateSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { compareWeights } from '../core/src/compare/weights.ts';
import { referenceStats, close, decodeBytes } from './helpers/reference.ts';
import { bf16Bytes, writeSafetensorsFile } from './helpers/safetensors-file.ts';
import { tempDir } from './helpers/tmpdir.ts';

const { xxh3 } = createRequire(import.meta.url)('@node-rs/xxhash') as { xxh3: { xxh128(b: Uint8Array): bigint } };
const GAP = 4 * 1024 ** 3 + 12_345; // the padding tensor's size: the weight starts past 4 GiB, unaligned

test('a tensor above 4 GiB in a sparse shard: same statistics and hash as a small copy', async (t) => {
  const root = tempDir();
  const values = Array.from({ length: 50_000 }, (_, i) => Math.sin(i * 0.37) * 0.03);
  const other = values.map((x, i) => x + 0.001 * Math.cos(i * 1.3));
  const weight = bf16Bytes(values);
  const name = 'model.layers.7.self_attn.o_proj.weight';

  // A: [padding of GAP bytes][weight], written sparse: header, then the weight at its offset.
  const a = join(root, 'a');
  mkdirSync(a);
  const header = { __metadata__: { format: 'pt' }, 'model.padding.weight': { dtype: 'U8', shape: [GAP], data_offsets: [0, GAP] }, [name]: { dtype: 'BF16', shape: [250, 200], data_offsets: [GAP, GAP + weight.length] } };
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  const fd = openSync(join(a, 'model.safetensors'), 'w');
  writeSync(fd, Buffer.concat([length, json]), 0, 8 + json.length, 0);
  ftruncateSync(fd, 8 + json.length + GAP + weight.length);
  writeSync(fd, weight, 0, weight.length, 8 + json.length + GAP);
  closeSync(fd);

  const b = join(root, 'b');
  mkdirSync(b);
  writeSafetensorsFile(join(b, 'model.safetensors'), [{ name, dtype: 'BF16', shape: [250, 200], data: bf16Bytes(other) }]);

  const w = await compareWeights(a, b);
  const r = w.tensors.find((x) => x.name === name)!;
  t.true(8 + json.length + GAP > 2 ** 32);
  t.is(r.hashA, xxh3.xxh128(weight).toString(16).padStart(32, '0'));
  const ref = referenceStats(decodeBytes('BF16', weight), decodeBytes('BF16', bf16Bytes(other)));
  t.true(close(r.cosine, ref.cosine, 1e-6), `${r.cosine} vs ${ref.cosine}`);
  t.true(close(r.centeredCosine, ref.centeredCosine, 1e-6));
  const padding = w.tensors.find((x) => x.name === 'model.padding.weight')!;
  t.regex(padding.note!, /only in A/);
  t.regex(padding.hashA!, /^[0-9a-f]{32}$/, 'tensors without a counterpart are hashed too');
});
