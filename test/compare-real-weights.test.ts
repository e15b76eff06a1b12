/** Statistics on real trained weights (../shared/data/models) against an independent float64 computation. */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { openCheckpoint } from '../core/src/checkpoint/folder.ts';
import { compareWeights } from '../core/src/compare/weights.ts';
import { close, decodeBytes, referenceStats } from './helpers/reference.ts';
import { sharedDataPresent, sharedPath, SKIP_REASON } from './helpers/shared-data.ts';
import { unless } from './helpers/skip.ts';

const { xxh3 } = createRequire(import.meta.url)('@node-rs/xxhash') as { xxh3: { xxh128(b: Uint8Array): bigint } };
const maybe = unless(sharedDataPresent ? null : SKIP_REASON);

function tensorBytes(folder: string, name: string): { dtype: string; bytes: Uint8Array } {
  const entry = openCheckpoint(folder).tensors.find((x) => x.name === name)!;
  const file = readFileSync(entry.file);
  return { dtype: entry.dtype, bytes: file.subarray(entry.offset, entry.offset + entry.byteLength) };
}

for (const kernel of ['wasm-simd', 'js'] as const) {
  maybe(`${kernel}: stories260k (F32) vs its BF16 cast, every tensor within 1e-6 of float64`, async (t) => {
    const a = sharedPath('models/stories260k');
    const b = sharedPath('models/stories260k-bf16');
    const w = await compareWeights(a, b, { kernel, threads: 1 });
    t.is(w.summary.compared, 47);
    for (const r of w.tensors) {
      const x = tensorBytes(a, r.name!);
      const y = tensorBytes(b, r.nameB!);
      const ref = referenceStats(decodeBytes(x.dtype, x.bytes), decodeBytes(y.dtype, y.bytes));
      t.true(close(r.cosine, ref.cosine, 1e-6), `${r.name} cosine ${r.cosine} vs ${ref.cosine}`);
      t.true(close(r.centeredCosine, ref.centeredCosine, 1e-6), `${r.name} centered ${r.centeredCosine} vs ${ref.centeredCosine}`);
      t.true(close(r.relL2! / ref.relL2!, 1, 1e-6), `${r.name} relL2 ${r.relL2} vs ${ref.relL2}`);
      t.true(close(r.mse! / ref.mse!, 1, 1e-6), `${r.name} mse`);
      t.true(r.cosine! > 0.9999, 'the same model: cosine 1.0000');
      t.is(r.identical, false, 'F32 and BF16 bytes differ');
      t.is(r.hashA, xxh3.xxh128(x.bytes).toString(16).padStart(32, '0'));
      t.is(r.hashB, xxh3.xxh128(y.bytes).toString(16).padStart(32, '0'));
    }
  });
}

maybe('babyllama-105 vs babyllama-361: independent, the norm trap shows in raw cosine only', async (t) => {
  const w = await compareWeights(sharedPath('models/babyllama-105'), sharedPath('models/babyllama-361'), { threads: 2 });
  const embed = w.tensors.find((x) => x.role === 'embedding')!;
  t.is(embed.cosine, null);
  t.regex(embed.note!, /shapes differ: \[105,128\] vs \[361,128\]/);
  for (const r of w.tensors.filter((x) => x.group === 'attention' || x.group === 'mlp')) {
    t.true(Math.abs(r.cosine!) < 0.03, `${r.name}: ${r.cosine}`);
  }
  for (const r of w.tensors.filter((x) => x.group === 'norm')) {
    t.true(r.cosine! > 0.99, `${r.name} raw cosine ${r.cosine} (norms sit near 1)`);
    t.true(r.centeredCosine! < 0.3, `${r.name} centered ${r.centeredCosine}`);
  }
});

maybe('a model against itself: every tensor byte-identical, cosine 1, SHA-256 on request', async (t) => {
  const path = sharedPath('models/stories260k-bf16');
  const w = await compareWeights(path, path, { hash: 'sha256' });
  t.is(w.hashAlgorithm, 'sha256');
  t.is(w.summary.identical, 47);
  const embed = w.tensors[0]!;
  t.is(embed.cosine, 1);
  t.is(embed.relL2, 0);
  t.is(embed.hashA, createHash('sha256').update(tensorBytes(path, embed.name!).bytes).digest('hex'));
});
